"""Staff views of order intake: accounts and secrets, payloads and dead letters, rules, health."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from oms_notify.rotating_secrets import RotatingSecretsAdminMixin, RotatingSecretsForm
from orders.sources import services
from orders.sources.models import RawIntake, SourceAccount, ValidationRule


class SourceAccountForm(RotatingSecretsForm):
    class Meta:
        model = SourceAccount
        fields = ["source", "identifier", "brand", "is_active"]


@admin.register(SourceAccount)
class SourceAccountAdmin(RotatingSecretsAdminMixin, admin.ModelAdmin):
    form = SourceAccountForm
    list_display = ["__str__", "brand", "is_active", "has_secret", "has_previous_secret", "secrets_rotated_at"]
    list_filter = ["source", "is_active"]
    search_fields = ["identifier"]
    readonly_fields = ["secrets_rotated_at"]


class DeadLetterFilter(admin.SimpleListFilter):
    title = "dead letters"
    parameter_name = "dead"

    def lookups(self, request, model_admin):
        return [("yes", "Open dead letters (most impact first)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status__in=RawIntake.DEAD)
        return queryset


class RawIntakeForm(forms.ModelForm):
    edited_payload = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 20, "cols": 100}),
        help_text="Edit and retry: a corrected copy of the payload (the received bytes are kept). Saving retries it.",
    )

    class Meta:
        model = RawIntake
        fields = ["edited_payload"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.edited_payload is None:
            # Start the edit from what was received.
            with contextlib.suppress(ValueError):
                self.initial["edited_payload"] = json.loads(bytes(self.instance.body))


@admin.register(RawIntake)
class RawIntakeAdmin(admin.ModelAdmin):
    form = RawIntakeForm
    list_display = [
        "id",
        "source",
        "account",
        "topic",
        "status",
        "external_id",
        "order_value",
        "currency",
        "customer_tier",
        "received_at",
        "attempts",
        "redeliveries",
        "short_error",
    ]
    list_filter = [DeadLetterFilter, "status", "source", "customer_tier"]
    search_fields = ["external_id", "customer_email", "error"]
    date_hierarchy = "received_at"
    actions = ["retry", "discard"]
    readonly_fields = [
        "source",
        "account",
        "topic",
        "delivery_id",
        "status",
        "error",
        "findings",
        "order",
        "external_id",
        "order_value",
        "currency",
        "customer_email",
        "customer_tier",
        "impact",
        "received_at",
        "source_updated_at",
        "processed_at",
        "attempts",
        "redeliveries",
        "alerted_at",
        "resolved_by",
        "source_address",
        "headers",
        "body_text",
    ]

    def get_ordering(self, request):
        if request.GET.get("dead") == "yes":
            return ["-impact", "received_at", "id"]  # most impact, then the oldest
        return ["-received_at", "-id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Only a dead letter can be edited (edit and retry); the rest is the record.
        allowed = request.user.has_perm("orders.retry_rawintake")
        return allowed and (obj is None or obj.status in RawIntake.DEAD)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("orders.retry_rawintake")

    @admin.display(description="error")
    def short_error(self, obj: RawIntake) -> str:
        return (obj.error or "")[:120]

    @admin.display(description="body (as received)")
    def body_text(self, obj: RawIntake) -> str:
        text = bytes(obj.body).decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text[:20000])

    def save_model(self, request, obj, form, change):
        payload = form.cleaned_data.get("edited_payload")
        if payload is None:
            return
        outcome = services.intake_edit_and_retry(intake=obj, payload=payload, actor=request.user)
        level = messages.ERROR if outcome.status in RawIntake.DEAD else messages.SUCCESS
        self.message_user(request, f"Retried with the edited payload: {outcome.status}. {outcome.detail}", level)

    @admin.action(description="Retry selected dead letters", permissions=["retry"])
    def retry(self, request, queryset: QuerySet[RawIntake]) -> None:
        counts: dict[str, int] = {}
        for intake in queryset.filter(status__in=RawIntake.DEAD).order_by("received_at"):
            status = services.intake_retry(intake=intake, actor=request.user).status
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to retry"
        self.message_user(request, f"Retried: {summary}.", messages.SUCCESS)

    @admin.action(description="Discard selected dead letters", permissions=["retry"])
    def discard(self, request, queryset: QuerySet[RawIntake]) -> None:
        n = 0
        for intake in queryset.filter(status__in=RawIntake.DEAD):
            services.intake_discard(intake=intake, actor=request.user)
            n += 1
        self.message_user(request, f"Discarded {n} dead letters.", messages.WARNING)

    def get_urls(self):
        urls = super().get_urls()
        health = path("health/", self.admin_site.admin_view(self.health_view), name="orders_rawintake_health")
        return [health, *urls]

    def health_view(self, request):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Order source health",
            "rows": services.sources_health(),
            "hours": 24,
        }
        return TemplateResponse(request, "admin/orders/rawintake/health.html", context)


@admin.register(ValidationRule)
class ValidationRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "account", "kind", "dry_run", "enabled"]
    list_filter = ["source", "kind", "dry_run", "enabled"]
    list_editable = ["dry_run", "enabled"]
    actions = ["dry_run_last_week"]

    @admin.action(description="Dry run: what would these rules have rejected in the last 7 days?")
    def dry_run_last_week(self, request, queryset: QuerySet[ValidationRule]) -> None:
        report = services.rules_dry_run(rules=list(queryset), since=timezone.now() - timedelta(days=7))
        examples = "; ".join(
            f"#{e['intake']} {e['external_id']}: " + ", ".join(f"{f['field']} {f['message']}" for f in e["findings"])
            for e in report["examples"][:5]
        )
        self.message_user(
            request,
            f"{report['would_reject']} of {report['checked']} orders would be rejected. {examples}",
            messages.WARNING if report["would_reject"] else messages.SUCCESS,
        )
