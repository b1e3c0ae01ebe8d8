"""Staff views of outbound webhooks: endpoints (subscribe, rotate, enable, replay), messages, attempts."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from notifications import netguard, outbound
from notifications.outbound_models import EventType, WebhookAttempt, WebhookEndpoint, WebhookMessage


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="https only in production.")
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "brand", "event_types", "enabled"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            netguard.check_url(url)
        except netguard.UnsafeDestination as exc:
            raise forms.ValidationError(f"Unsafe destination: {exc.reason}.") from None
        return url


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "outcome", "status_code", "latency_ms", "error", "retry_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["__str__", "url", "brand", "enabled", "failing_since", "last_success_at", "disabled_reason"]
    list_filter = ["enabled", "brand"]
    readonly_fields = ["failing_since", "last_success_at", "disabled_at", "disabled_reason", "secret_rotated_at"]
    actions = ["rotate_secret", "enable", "replay_failed_last_day"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        endpoint, secret = outbound.endpoint_create(
            url=obj.url,
            event_types=form.cleaned_data["event_types"],
            description=obj.description,
            brand=obj.brand,
            actor=request.user,
        )
        obj.pk = endpoint.pk
        # Shown once: the receiver needs it to verify webhook-signature; it is stored encrypted.
        self.message_user(request, f"Signing secret (shown once): {secret}", messages.WARNING)

    @admin.action(description="Rotate the signing secret (the old one stays valid 24 h)")
    def rotate_secret(self, request, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            secret = outbound.endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(request, f"{endpoint}: new secret (shown once): {secret}", messages.WARNING)

    @admin.action(description="Enable again (clears the failure record)")
    def enable(self, request, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            outbound.endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"Enabled {queryset.count()} endpoints.", messages.SUCCESS)

    @admin.action(description="Replay everything that failed in the last 24 hours", permissions=["replay"])
    def replay_failed_last_day(self, request, queryset: QuerySet[WebhookEndpoint]) -> None:
        since = timezone.now() - timedelta(hours=24)
        total = 0
        for endpoint in queryset:
            try:
                total += outbound.endpoint_replay_failed_since(endpoint=endpoint, since=since)
            except ValidationError as exc:
                self.message_user(request, f"{endpoint}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, f"Replaying {total} messages.", messages.SUCCESS)

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("notifications.replay_webhookendpoint")


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "endpoint", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["msg_id", "order__number"]
    date_hierarchy = "created_at"
    inlines = [AttemptInline]
    actions = ["replay"]
    readonly_fields = [
        "endpoint",
        "msg_id",
        "event_type",
        "body",
        "order",
        "status",
        "status_reason",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
        "delivered_at",
    ]
    exclude = ["domain_event", "claimed_at", "enqueued_at", "round_start"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Replay selected messages", permissions=["replay"])
    def replay(self, request, queryset: QuerySet[WebhookMessage]) -> None:
        done = 0
        for message in queryset.select_related("endpoint").order_by("created_at"):
            try:
                outbound.message_replay(message=message)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"#{message.pk}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, f"Replaying {done} messages.", messages.SUCCESS)

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("notifications.replay_webhookendpoint")
