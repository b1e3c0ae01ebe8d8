"""Staff views of the carrier edge: dead letters and replay, unmapped codes, PoD review, accounts."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html

from carriers import pod, services
from carriers.models import (
    CarrierAccount,
    DelayFlag,
    DeliveryPolicy,
    DeliveryVerification,
    PendingEvent,
    RawWebhook,
    TrackerPoll,
    UnmappedCode,
)
from oms_notify.rotating_secrets import RotatingSecretsAdminMixin, RotatingSecretsForm


class CarrierAccountForm(RotatingSecretsForm):
    class Meta:
        model = CarrierAccount
        fields = ["brand", "carrier", "slug", "is_active"]


@admin.register(CarrierAccount)
class CarrierAccountAdmin(RotatingSecretsAdminMixin, admin.ModelAdmin):
    form = CarrierAccountForm
    list_display = ["__str__", "brand", "is_active", "has_secret", "has_previous_secret", "secrets_rotated_at"]
    list_filter = ["carrier", "is_active"]
    readonly_fields = ["secrets_rotated_at"]

    def rotate_secret(self, obj: CarrierAccount, secret: str) -> None:
        services.carrier_account_set_secrets(account=obj, secret=secret)

    def drop_previous_secret(self, obj: CarrierAccount) -> None:
        services.carrier_account_drop_previous_secret(account=obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.secrets_cache_clear()  # brand, slug or is_active may have changed too


@admin.register(RawWebhook)
class RawWebhookAdmin(admin.ModelAdmin):
    list_display = ["id", "carrier", "source", "status", "received_at", "events_count", "attempts", "short_error"]
    list_filter = ["status", "carrier", "source"]
    search_fields = ["error"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    readonly_fields = [
        "carrier",
        "account",
        "source",
        "status",
        "received_at",
        "processed_at",
        "attempts",
        "events_count",
        "source_address",
        "headers",
        "body_text",
        "error",
    ]
    exclude = ["body"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, obj: RawWebhook) -> str:
        return (obj.error or "")[:120]

    @admin.display(description="body")
    def body_text(self, obj: RawWebhook) -> str:
        text = bytes(obj.body).decode("utf-8", errors="replace")
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text[:20000])

    @admin.action(description="Replay selected webhooks (keeps their received_at)", permissions=["replay"])
    def replay(self, request, queryset: QuerySet[RawWebhook]) -> None:
        counts = services.raw_webhook_replay(
            raw_ids=list(queryset.order_by("received_at").values_list("pk", flat=True))
        )
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        self.message_user(request, f"Replayed: {summary}.", messages.SUCCESS)

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("carriers.replay_rawwebhook")


@admin.register(UnmappedCode)
class UnmappedCodeAdmin(admin.ModelAdmin):
    list_display = ["carrier", "code", "count", "example", "first_seen_at", "last_seen_at"]
    list_filter = ["carrier"]
    readonly_fields = ["carrier", "code", "count", "example", "first_seen_at", "last_seen_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PendingEvent)
class PendingEventAdmin(admin.ModelAdmin):
    list_display = ["tracking_number", "carrier", "underlying_carrier", "status_reported", "occurred_at", "status"]
    list_filter = ["status", "carrier"]
    search_fields = ["tracking_number"]
    readonly_fields = [f.name for f in PendingEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "needs review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("yes", "Needs review")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(result=DeliveryVerification.Result.UNVERIFIED, decision="")
        return queryset


@admin.register(DeliveryVerification)
class DeliveryVerificationAdmin(admin.ModelAdmin):
    list_display = ["shipment", "result", "failed_checks", "notes", "distance_m", "checked_at", "decision"]
    list_filter = [NeedsReviewFilter, "result", "decision"]
    search_fields = ["shipment__tracking_number", "shipment__order__number"]
    readonly_fields = [
        "shipment",
        "shipment_event",
        "result",
        "failed_checks",
        "notes",
        "distance_m",
        "checked_at",
        "decision",
        "decided_by",
        "decided_at",
        "decision_note",
    ]
    actions = ["accept", "reject"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("carriers.decide_deliveryverification")

    @admin.action(description="Accept the delivery (release the confirmation)", permissions=["decide"])
    def accept(self, request, queryset) -> None:
        for verification in queryset:
            pod.delivery_verification_decide(verification=verification, accept=True, actor=request.user)
        self.message_user(request, f"Accepted {queryset.count()} deliveries.", messages.SUCCESS)

    @admin.action(description="Reject the delivery (keep the confirmation held)", permissions=["decide"])
    def reject(self, request, queryset) -> None:
        for verification in queryset:
            pod.delivery_verification_decide(verification=verification, accept=False, actor=request.user)
        self.message_user(request, f"Rejected {queryset.count()} deliveries.", messages.WARNING)


@admin.register(DeliveryPolicy)
class DeliveryPolicyAdmin(admin.ModelAdmin):
    list_display = ["brand", "signature_required", "signature_threshold", "gps_radius_m", "gps_required_carriers"]


@admin.register(TrackerPoll)
class TrackerPollAdmin(admin.ModelAdmin):
    list_display = ["shipment", "client", "active", "next_poll_at", "last_polled_at", "failures", "stopped_reason"]
    list_filter = ["client", "active"]
    readonly_fields = ["last_polled_at", "failures", "last_error"]


@admin.register(DelayFlag)
class DelayFlagAdmin(admin.ModelAdmin):
    list_display = ["shipment", "kind", "basis", "flagged_at", "cleared_at"]
    list_filter = ["kind"]
