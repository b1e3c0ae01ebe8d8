"""Admin: the privacy audit log (read only), and the customer actions: download the export, erase.

The actions are attached to the Customer admin in orders/admin.py; they check the privacy
permissions themselves, so a user without them gets a message instead of the data.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from privacy import services
from privacy.models import ERASE_PERMISSION, EXPORT_PERMISSION, PrivacyRequest


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "outcome", "via", "customer_id", "brand", "actor", "forced", "reason")
    list_filter = ("kind", "outcome", "via", "forced")
    list_select_related = ("brand", "actor")
    search_fields = ("=customer_id",)
    readonly_fields = [f.name for f in PrivacyRequest._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.action(description="Download all data held about the selected customers (JSON)")
def export_customers(modeladmin, request: HttpRequest, queryset: QuerySet):
    if not request.user.has_perm(EXPORT_PERMISSION):
        modeladmin.message_user(request, f"This needs the permission {EXPORT_PERMISSION}.", messages.ERROR)
        return None
    exports = [
        services.customer_export(customer=c, actor=request.user, via=PrivacyRequest.Via.ADMIN)
        for c in queryset.select_related("brand").order_by("pk")
    ]
    body = json.dumps(exports[0] if len(exports) == 1 else {"customers": exports}, cls=DjangoJSONEncoder, indent=2)
    name = f"customer-{exports[0]['customer_id']}.json" if len(exports) == 1 else "customers.json"
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@admin.action(description="Erase the personal data of the selected customers…")
def erase_customers(modeladmin, request: HttpRequest, queryset: QuerySet):
    if not request.user.has_perm(ERASE_PERMISSION):
        modeladmin.message_user(request, f"This needs the permission {ERASE_PERMISSION}.", messages.ERROR)
        return None
    customers = list(queryset.select_related("brand").order_by("pk"))
    if request.POST.get("confirm") == "yes":
        force = request.POST.get("force") == "on"
        done = refused = 0
        for customer in customers:
            try:
                services.customer_erase(
                    customer_id=customer.pk, actor=request.user, via=PrivacyRequest.Via.ADMIN, force=force
                )
                done += 1
            except services.ErasureRefused:
                refused += 1
        if done:
            modeladmin.message_user(request, f"Erased the personal data of {done} customer(s).", messages.SUCCESS)
        if refused:
            modeladmin.message_user(
                request,
                f"{refused} customer(s) not erased: orders still in flight (tick “erase anyway” to go ahead).",
                messages.WARNING,
            )
        return None
    rows = [
        {
            "customer": c,
            "erased": services.customer_is_erased(c),
            "in_flight": services.customer_orders_in_flight(customer=c),
        }
        for c in customers
    ]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Erase customer data",
        "opts": modeladmin.model._meta,
        "rows": rows,
        "any_in_flight": any(r["in_flight"] for r in rows),
        "action": "erase_customers",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/privacy/erase_confirm.html", context)
