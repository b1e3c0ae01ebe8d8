"""Staff views of the carrier edge: dead letters and replay, unmapped codes, PoD review, accounts."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from carriers import pod, reconciliation, services
from carriers.models import (
    CarrierAccount,
    DelayFlag,
    DeliveryPolicy,
    DeliveryVerification,
    PendingEvent,
    RawWebhook,
    ReconciliationRun,
    SyncMismatch,
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


# --- reconciliation (data sync accuracy) ------------------------------------------------------


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/carriers/reconciliationrun/change_list.html"
    list_display = [
        "started_at",
        "trigger",
        "state",
        "checked",
        "mismatched",
        "accuracy_percent",
        "unreachable",
        "not_checkable",
        "no_data",
        "requested_by",
    ]
    list_filter = ["trigger"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "started_at",
        "finished_at",
        "trigger",
        "requested_by",
        "checked",
        "mismatched",
        "unreachable",
        "not_checkable",
        "no_data",
        "per_carrier_table",
        "note",
        "mismatches_link",
    ]
    exclude = ["per_carrier"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("carriers.run_reconciliation")

    @admin.display(description="state")
    def state(self, obj: ReconciliationRun) -> str:
        if obj.running:
            return f"running (at shipment {obj.cursor})"
        return f"finished {obj.finished_at:%Y-%m-%d %H:%M}" if obj.finished_at else "stopped"

    @admin.display(description="in sync")
    def accuracy_percent(self, obj: ReconciliationRun) -> str:
        return "–" if obj.accuracy is None else f"{obj.accuracy:.1%}"

    @admin.display(description="per carrier")
    def per_carrier_table(self, obj: ReconciliationRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.per_carrier, indent=2, sort_keys=True))

    @admin.display(description="mismatches")
    def mismatches_link(self, obj: ReconciliationRun) -> str:
        url = reverse("admin:carriers_syncmismatch_changelist") + f"?run__id__exact={obj.pk}&open=all"
        return format_html('<a href="{}">{} mismatches last seen in this run</a>', url, obj.mismatches.count())

    def get_urls(self):
        return [
            path("run-now/", self.admin_site.admin_view(self.run_now_view), name="carriers_reconciliationrun_run_now"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "can_run_reconciliation": self.has_run_permission(request)}
        return super().changelist_view(request, context)

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_run_permission(request):
            raise PermissionDenied
        run, created = reconciliation.reconciliation_request(requested_by=request.user)
        if created:
            self.message_user(request, f"Reconciliation run {run.pk} queued.", messages.SUCCESS)
        else:
            self.message_user(request, f"Run {run.pk} is still going; it was not started twice.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:carriers_reconciliationrun_changelist"))


class OpenMismatchFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Resolved"), ("all", "All")]

    def choices(self, changelist):
        # Open is the default view: what staff still have to decide.
        value = self.value() or "yes"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "yes"
        if value == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if value == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class ResolutionNoteForm(forms.Form):
    note = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="Why (kept with your name)."
    )


@admin.register(SyncMismatch)
class SyncMismatchAdmin(admin.ModelAdmin):
    list_display = [
        "shipment",
        "order_number",
        "kind",
        "ours",
        "carrier_status",
        "our_event_at",
        "carrier_event_at",
        "client",
        "detected_at",
        "times_seen",
        "resolution",
        "resolved_by",
    ]
    list_filter = [OpenMismatchFilter, "kind", "client", "resolution", "shipment__carrier"]
    list_select_related = ["shipment__order", "resolved_by"]
    search_fields = ["shipment__tracking_number", "shipment__order__number"]
    date_hierarchy = "detected_at"
    readonly_fields = [
        "shipment",
        "run",
        "client",
        "kind",
        "ours",
        "our_event_at",
        "carrier_status",
        "carrier_event_at",
        "carrier_event_pretty",
        "detected_at",
        "last_seen_at",
        "times_seen",
        "resolution",
        "resolved_at",
        "resolved_by",
        "note",
    ]
    exclude = ["carrier_event"]
    actions = ["apply_carrier_status", "keep_ours", "carrier_wrong"]
    note_template = "admin/carriers/syncmismatch/resolve_note.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("carriers.resolve_syncmismatch")

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The run page links here filtered by run, without listing every run as a filter.
        return lookup == "run__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="order", ordering="shipment__order__number")
    def order_number(self, obj: SyncMismatch) -> str:
        return obj.shipment.order.number

    @admin.display(description="carrier event")
    def carrier_event_pretty(self, obj: SyncMismatch) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.carrier_event, indent=2, sort_keys=True))

    def _resolve(self, request, queryset, resolution: str, note: str = "") -> None:
        done, refused = 0, []
        for mismatch in queryset.select_related("shipment"):
            try:
                reconciliation.mismatch_resolve(mismatch=mismatch, resolution=resolution, actor=request.user, note=note)
            except reconciliation.ReconciliationError as exc:
                refused.append(f"{mismatch.shipment}: {exc.detail}")
            else:
                done += 1
        label = SyncMismatch.Resolution(resolution).label
        if done:
            self.message_user(request, f"{label}: {done} mismatch(es).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not resolved: {line}", messages.ERROR)

    @admin.action(description="Apply the carrier's status (as a carrier event)", permissions=["resolve"])
    def apply_carrier_status(self, request, queryset) -> None:
        self._resolve(request, queryset, SyncMismatch.Resolution.APPLIED_CARRIER)

    @admin.action(description="Keep our status… (with a note)", permissions=["resolve"])
    def keep_ours(self, request, queryset):
        return self._with_note(request, queryset, "keep_ours", SyncMismatch.Resolution.KEPT_OURS)

    @admin.action(description="The carrier is wrong… (with a note)", permissions=["resolve"])
    def carrier_wrong(self, request, queryset):
        return self._with_note(request, queryset, "carrier_wrong", SyncMismatch.Resolution.CARRIER_WRONG)

    def _with_note(self, request, queryset, action: str, resolution: str) -> HttpResponse | None:
        """Django's intermediate action page: the first POST shows the form, the second resolves."""
        form = ResolutionNoteForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._resolve(request, queryset, resolution, form.cleaned_data["note"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": SyncMismatch.Resolution(resolution).label,
            "opts": self.opts,
            "form": form,
            "mismatches": queryset.select_related("shipment"),
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, self.note_template, context)
