"""The support staff's home: orders, shipments, customers, brands and the status history.

Nothing here changes a status itself. Transition buttons, flags and overrides all go through
`orders.services` (row lock, audit row, domain event); the admin only shows and asks.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.timesince import timesince
from django_fsm.admin import FSMAdminMixin, FSMObjectTransition, FSMTransitionContext

from orders import services
from orders.exceptions import TransitionRefused
from orders.forms import ADDRESS_FIELDS, FLAG_FIELDS, CancelOrderForm, OrderAdminForm, OverrideStatusForm
from orders.models import (
    OVERRIDE_PERMISSION,
    Brand,
    Customer,
    Order,
    OrderLine,
    Shipment,
    ShipmentEvent,
    StatusChange,
)
from orders.statuses import EXCEPTION_ORDER_STATUSES, OrderStatus
from privacy.admin import erase_customers, export_customers

admin.site.site_header = "oms_notify"
admin.site.site_title = "oms_notify"
admin.site.index_title = "Support"

# The moves staff may ask for by name; system moves (hold, release, follow_shipments) are driven
# by flags and carriers and are refused here before the machine is even asked.
STAFF_TRANSITIONS = frozenset(
    t.name for t in Order._meta.get_field("status").get_all_transitions(Order) if not t.custom.get("system")
)

_CONDITION_TEXT = {
    "not_on_hold": "the order is on regulatory hold",
    "inventory_is_allocated": "inventory is not allocated",
    "has_shipment_to_dispatch": "there is no shipment waiting to be handed over",
    "nothing_open": "a shipment is still with the carrier or a hold is set",
}
_STATUS_LABELS = dict(OrderStatus.choices)
# Buttons in lifecycle order, the destructive one last (the machine lists them alphabetically).
_BUTTON_ORDER = ("confirm", "start_processing", "dispatch", "complete", "cancel")


def transition_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _subject(change: StatusChange) -> str:
    return f"shipment {change.shipment.tracking_id}" if change.shipment_id else "order"


def _button_rank(name: str) -> int:
    return _BUTTON_ORDER.index(name) if name in _BUTTON_ORDER else len(_BUTTON_ORDER)


def target_help_text(target: str) -> str:
    return f"Moves the order to {_STATUS_LABELS.get(target, target).lower()}."


def describe_refusal(exc: TransitionRefused) -> str:
    """Turn the service's machine-readable refusal into a sentence for support staff."""
    reason = exc.reason
    if reason.startswith("condition_failed:"):
        names = reason.split(":", 1)[1].split(",")
        return "; ".join(_CONDITION_TEXT.get(name, name) for name in names)
    if reason.startswith("not_allowed_from_"):
        status = reason.removeprefix("not_allowed_from_")
        return f"not possible while the order is {_STATUS_LABELS.get(status, status).lower()}"
    if reason == "unknown_transition":
        return "this is not a move staff can make"
    return reason.replace("_", " ")


class ReadOnlyInline(admin.TabularInline):
    """A list shown on its parent's page: never added to, edited or deleted from the admin."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Whoever may see the parent may see its parts: the groups grant no per-part view rights.
        opts = self.parent_model._meta
        return any(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        )


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = readonly_fields = ("sku", "name", "quantity", "unit_price")


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = readonly_fields = (
        "carrier",
        "service_level",
        "tracking_number",
        "tracking_id",
        "status",
        "eta",
        "delivered_at",
        "shipment_page",
    )

    @admin.display(description="Page")
    def shipment_page(self, obj: Shipment) -> str:
        return format_html('<a href="{}">Open</a>', reverse("admin:orders_shipment_change", args=[obj.pk]))


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    verbose_name = "status change"
    verbose_name_plural = "status history"
    fields = readonly_fields = (
        "occurred_at",
        "subject",
        "from_status",
        "to_status",
        "transition",
        "source",
        "actor",
        "reason",
        "notify_customer",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatusChange]:
        return super().get_queryset(request).select_related("shipment", "actor")

    @admin.display(description="Subject")
    def subject(self, obj: StatusChange) -> str:
        return _subject(obj)


class ExceptionFilter(admin.SimpleListFilter):
    title = "exception"
    parameter_name = "exception"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("yes", "Any exception"), ("no", "No exception"), ("regulatory_hold", "Regulatory hold")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        exceptional = Q(status__in=EXCEPTION_ORDER_STATUSES) | Q(regulatory_hold=True)
        if self.value() == "yes":
            return queryset.filter(exceptional)
        if self.value() == "no":
            return queryset.exclude(exceptional)
        if self.value() == "regulatory_hold":
            return queryset.filter(regulatory_hold=True)
        return queryset


@admin.register(Order)
class OrderAdmin(FSMAdminMixin, admin.ModelAdmin):
    form = OrderAdminForm
    fsm_fields = ["status"]
    fsm_forms = {"cancel": CancelOrderForm}
    change_form_template = "admin/orders/order/change_form.html"
    fsm_transition_form_template = "admin/orders/order/transition_form.html"
    override_form_template = "admin/orders/order/override_status.html"

    list_display = (
        "number",
        "status_badge",
        "brand",
        "customer",
        "inventory_flag",
        "hold_flag",
        "age",
        "updated_at",
    )
    list_filter = ("status", "brand", ExceptionFilter)
    list_select_related = ("brand", "customer")
    search_fields = (
        "number",
        "customer__email",
        "customer__phone",
        "shipments__tracking_number",
        "shipments__tracking_id",
    )
    search_help_text = "Order number, customer email or phone, carrier tracking number or our tracking id (OMS…)."
    # A COUNT(*) of the whole table on every search page is the slowest query of the list.
    show_full_result_count = False
    ordering = ("-created_at",)
    inlines = (OrderLineInline, ShipmentInline, StatusChangeInline)

    fieldsets = (
        (None, {"fields": ("number", ("status", "status_changed_at"), "status_before_hold", "brand", "customer")}),
        ("Flags", {"fields": FLAG_FIELDS}),
        ("Shipping address", {"fields": ADDRESS_FIELDS}),
        (
            "Details",
            {
                "fields": (
                    ("currency", "total"),
                    ("promised_from", "promised_to"),
                    ("placed_at", "created_at", "updated_at", "delivered_at"),
                    ("source", "source_account"),
                    ("external_id", "source_number"),
                    "tracking_token",
                    "tracking_page",
                )
            },
        ),
    )
    # Everything shown that the form does not edit (status, number, token, source ids, ...).
    readonly_fields = tuple(f for f in flatten_fieldsets(fieldsets) if f not in (*FLAG_FIELDS, *ADDRESS_FIELDS))

    # --- list columns --------------------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Order) -> str:
        label = obj.get_status_display()
        if obj.status in EXCEPTION_ORDER_STATUSES or obj.regulatory_hold:
            return format_html('<strong class="oms-exception" style="color:#ba2121">⚠ {}</strong>', label)
        return label

    @admin.display(description="Inventory", boolean=True, ordering="inventory_allocated")
    def inventory_flag(self, obj: Order) -> bool:
        return obj.inventory_allocated

    @admin.display(description="Hold", boolean=True, ordering="regulatory_hold")
    def hold_flag(self, obj: Order) -> bool:
        return obj.regulatory_hold

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj: Order) -> str:
        return timesince(obj.created_at)

    @admin.display(description="Tracking page")
    def tracking_page(self, obj: Order) -> str:
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', obj.tracking_url)

    # --- permissions: orders come from channels, and deleting one would erase its audit ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def can_override(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OVERRIDE_PERMISSION)

    # --- how the mixin names a move (its reason form page uses these) ---------------------

    def get_fsm_label(self, transition) -> str:
        return transition_label(transition.name)

    def get_help_text(self, transition) -> str | None:
        target = transition.target
        return target_help_text(target) if isinstance(target, str) else None

    # --- the change page --------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        # Before the admin's own "<path:object_id>/" patterns, which would swallow this one.
        return [
            path(
                "<path:object_id>/override-status/",
                self.admin_site.admin_view(self.override_status_view),
                name="{}_{}_override_status".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        order = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            self.fsm_context_key: self.transition_buttons(request, order),
            "can_override_status": order is not None and self.can_override(request),
        }
        # Skips FSMAdminMixin.change_view, which lists moves straight from the machine: the
        # buttons come from the service, the same list the API offers.
        return super(FSMAdminMixin, self).change_view(request, object_id, form_url, context)

    def transition_buttons(self, request: HttpRequest, order: Order | None) -> list[FSMObjectTransition]:
        """The moves this user may make on this order now; none when they may not save the page."""
        if order is None or not self.has_change_permission(request, order):
            return []
        available = services.order_available_transitions(order=order, user=request.user)
        if not available:
            return []
        buttons = [
            FSMTransitionContext(
                name=t["name"],
                label=transition_label(t["name"]),
                help_text=target_help_text(t["target"]),
            )
            for t in sorted(available, key=lambda t: _button_rank(t["name"]))
        ]
        return [FSMObjectTransition(fsm_field="status", block_label="Move the order", available_transitions=buttons)]

    def save_model(self, request: HttpRequest, obj: Order, form: OrderAdminForm, change: bool) -> None:
        address = [name for name in ADDRESS_FIELDS if name in form.changed_data]
        if address:
            # Only the edited columns: a full save would also write back the status as this
            # request loaded it, undoing any move made meanwhile.
            obj.save(update_fields=[*address, "updated_at"])
        flags = {name: form.cleaned_data[name] for name in FLAG_FIELDS if name in form.changed_data}
        if flags:
            try:
                services.order_set_flags(order=obj, source="admin", actor=request.user, **flags)
            except ValidationError as exc:
                # The form checks this too; this is the race where the row changed under it.
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)

    def response_change(self, request: HttpRequest, obj: Order) -> HttpResponse:
        name = request.POST.get(self.fsm_post_param)
        if name and name not in STAFF_TRANSITIONS:
            self.message_user(request, f"“{name}” is not a move staff can make.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def fsm_transition_view(self, request: HttpRequest, object_id: str, transition_name: str, **kwargs) -> HttpResponse:
        """The page that asks for a transition's details (the cancel reason) before the move."""
        if transition_name not in STAFF_TRANSITIONS:
            raise Http404(f"No move called {transition_name!r}.")
        order = self.get_object(request, unquote(object_id))
        if order is not None:
            if not self.has_change_permission(request, order):
                raise PermissionDenied
            available = {t["name"] for t in services.order_available_transitions(order=order, user=request.user)}
            if request.method != "POST" and transition_name not in available:
                self.message_user(
                    request, f"{transition_label(transition_name)} is not possible for {order} now.", messages.ERROR
                )
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        return super().fsm_transition_view(request, object_id, transition_name, **kwargs)

    def _apply_fsm_transition(
        self, *, obj: Order, transition_name: str, request: HttpRequest, kwargs: dict | None = None
    ) -> bool:
        # Replaces the mixin's `transition(); obj.save()`, which would skip the row lock, the
        # audit row and the domain event. Both of the mixin's paths (button, form) land here.
        label = transition_label(transition_name).lower()
        try:
            order = services.order_transition(
                order=obj,
                transition=transition_name,
                source="admin",
                actor=request.user,
                reason=(kwargs or {}).get("reason", ""),
            )
        except TransitionRefused as exc:
            self.message_user(request, f"Could not {label} {obj}: {describe_refusal(exc)}.", messages.ERROR)
            return False
        except PermissionDenied:
            self.message_user(request, f"You may not {label} orders.", messages.ERROR)
            return False
        self.message_user(request, f"{order} is now {order.get_status_display().lower()}.")
        return True

    # --- override -----------------------------------------------------------------------------

    def override_status_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.can_override(request):
            raise PermissionDenied
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = OverrideStatusForm(request.POST or None, current_status=order.status)
        if request.method == "POST" and form.is_valid():
            try:
                order = services.order_override_status(
                    order=order,
                    status=form.cleaned_data["status"],
                    reason=form.cleaned_data["reason"],
                    notify=form.cleaned_data["notify"],
                    actor=request.user,
                    source="admin",
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(
                    request, f"{order}: status overridden to {order.get_status_display().lower()}.", messages.WARNING
                )
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Override the status of {order}",
            "opts": self.opts,
            "original": order,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.override_form_template, context)


class ShipmentEventInline(ReadOnlyInline):
    model = ShipmentEvent
    verbose_name = "carrier event"
    verbose_name_plural = "timeline"
    fields = readonly_fields = (
        "occurred_at",
        "status",
        "carrier_code",
        "description",
        "reason",
        "city",
        "country",
        "estimated_delivery",
        "signed_by",
        "received_at",
        "applied",
    )


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    """Read-only: a shipment moves on carrier events, through the service, never by hand."""

    list_display = ("tracking_id", "carrier", "tracking_number", "order", "status", "eta", "last_event_at")
    list_filter = ("status", "carrier")
    list_select_related = ("order",)
    search_fields = ("tracking_number", "tracking_id", "order__number")
    show_full_result_count = False
    inlines = (ShipmentEventInline,)
    fieldsets = (
        (None, {"fields": ("order", "tracking_id", ("carrier", "service_level"), "tracking_number")}),
        ("Status", {"fields": ("status", "last_progress_status", "status_reason", "eta")}),
        ("Dates", {"fields": ("dispatched_at", "last_event_at", "delivered_at", "created_at", "updated_at")}),
        (
            "Proof of delivery",
            {"fields": ("pod_signed_by", "pod_signature_ref", "pod_photo_ref", ("pod_latitude", "pod_longitude"))},
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "order_prefix", "support_email", "default_locale", "default_time_zone")
    search_fields = ("name", "slug", "order_prefix")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("order_sequence", "created_at")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "phone", "brand", "orders_link", "created_at")
    list_filter = ("brand", "consent_email", "consent_sms", "consent_whatsapp", "consent_push")
    list_select_related = ("brand",)
    search_fields = ("email", "phone", "name")
    show_full_result_count = False
    readonly_fields = ("brand", "orders_link", "created_at")
    # Export and erasure (privacy/admin.py): they check the privacy permissions themselves.
    actions = (export_customers, erase_customers)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Customers arrive with their first order.
        return False

    @admin.display(description="Orders", ordering="orders_count")
    def orders_link(self, obj: Customer) -> str:
        url = reverse("admin:orders_order_changelist")
        return format_html('<a href="{}?customer__id__exact={}">{}</a>', url, obj.pk, obj.orders_count)


@admin.register(StatusChange)
class StatusChangeAdmin(admin.ModelAdmin):
    """The audit log: viewable, never added to, changed or deleted here (it is append-only)."""

    list_display = (
        "occurred_at",
        "order",
        "subject",
        "from_status",
        "to_status",
        "transition",
        "source",
        "actor",
        "notify_customer",
        "reason",
    )
    list_filter = ("source", "transition", "notify_customer")
    list_select_related = ("order", "shipment", "actor")
    search_fields = ("order__number", "shipment__tracking_number", "shipment__tracking_id", "reason")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Subject")
    def subject(self, obj: StatusChange) -> str:
        return _subject(obj)


# Order intake: source accounts, raw payloads and dead letters, validation rules, health.
from orders.sources import admin as _sources_admin  # noqa: E402,F401

# The tracking page's records (feedback flagged for support, delivery wishes, visits).
from orders.tracking import admin as _tracking_admin  # noqa: E402,F401
