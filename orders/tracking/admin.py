"""Staff views of what customers did on the tracking page (registered from orders/admin.py)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from orders.tracking import services
from orders.tracking.models import (
    DeliveryFeedback,
    DeliveryPreference,
    DeliveryRequest,
    TrackingSettings,
    TrackingVisit,
)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DeliveryFeedback)
class DeliveryFeedbackAdmin(admin.ModelAdmin):
    list_display = ["order", "received", "score", "needs_support", "carrier", "service_level", "route", "created_at"]
    list_filter = ["needs_support", "received", "score", "carrier"]
    search_fields = ["order__number", "comment"]
    list_select_related = ["order"]
    readonly_fields = [
        "order",
        "shipment",
        "received",
        "score",
        "comment",
        "carrier",
        "service_level",
        "route",
        "driver",
        "language",
        "created_at",
        "updated_at",
        "support_resolved_at",
        "delivery_evidence",
    ]
    fields = [*readonly_fields, "needs_support", "support_note"]
    actions = ["mark_resolved"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Delivery evidence")
    def delivery_evidence(self, obj: DeliveryFeedback) -> str:
        shipment = obj.shipment
        if shipment is None:
            return "No delivered parcel on record."
        verification = getattr(shipment, "delivery_verification", None)
        rows = [
            ("Carrier", f"{shipment.carrier} {shipment.tracking_number}"),
            ("Delivered at", str(shipment.delivered_at or "")),
            ("Signed by", shipment.pod_signed_by or "—"),
            ("Check", f"{verification.result} {verification.decision}".strip() if verification else "not checked"),
            ("Failed checks", ", ".join(verification.failed_checks) if verification else ""),
        ]
        table = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        base = f"/t/{obj.order.tracking_token}/proof/{shipment.tracking_id}/"
        links = format_html_join(
            " ",
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            [
                (base + kind + "/", kind)
                for kind, ref in (("photo", shipment.pod_photo_ref), ("signature", shipment.pod_signature_ref))
                if ref
            ],
        )
        return format_html("<table>{}</table>{}", table, links)

    @admin.action(description="Mark as handled by support")
    def mark_resolved(self, request, queryset) -> None:
        for feedback in queryset:
            services.feedback_resolve(feedback=feedback, note=f"resolved by {request.user.get_username()}")
        messages.success(request, f"{queryset.count()} marked as handled.")


@admin.register(DeliveryPreference)
class DeliveryPreferenceAdmin(ReadOnly):
    list_display = ["order", "safe_place", "instructions", "reschedule_date", "reschedule_window", "updated_at"]
    search_fields = ["order__number"]
    list_select_related = ["order"]


@admin.register(DeliveryRequest)
class DeliveryRequestAdmin(ReadOnly):
    list_display = ["order", "kind", "order_status", "created_at"]
    list_filter = ["kind"]
    search_fields = ["order__number"]
    list_select_related = ["order"]


@admin.register(TrackingVisit)
class TrackingVisitAdmin(ReadOnly):
    list_display = ["order", "visited_at", "order_status", "exception", "via", "language"]
    list_filter = ["exception", "via", "order_status"]
    search_fields = ["order__number"]
    list_select_related = ["order"]


@admin.register(TrackingSettings)
class TrackingSettingsAdmin(admin.ModelAdmin):
    list_display = ["brand", "self_service_enabled", "reschedule_days_ahead", "reschedule_weekends"]
