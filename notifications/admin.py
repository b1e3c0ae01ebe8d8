"""Admin: the notification log (overall and per order), resend and release, rules, templates, preferences."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from notifications import destinations, netguard, services
from notifications.models import (
    BrandNotificationSettings,
    CustomerPreferences,
    DeliveryAttempt,
    DeviceToken,
    Notification,
    NotificationRule,
    ProviderHealth,
    ProviderReceipt,
    ProviderRoute,
    StaffDestination,
    TemplateOverride,
)
from orders.models import Order

CONTENT_FIELDS = ("subject", "body_text", "rendered_html", "sms_segments", "sms_encoding", "data", "proof")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "provider",
        "started_at",
        "latency_ms",
        "outcome",
        "http_status",
        "error_code",
        "error_message",
        "provider_message_id",
        "retry_at",
    )

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DeadLetterFilter(admin.SimpleListFilter):
    title = "dead-lettered"
    parameter_name = "dead"

    def lookups(self, request, model_admin):
        return [("yes", "Dead-lettered")]

    def queryset(self, request, queryset):
        return queryset.filter(dead_lettered_at__isnull=False) if self.value() == "yes" else queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "order", "event", "audience", "channel", "provider", "status", "attempts", "masked")
    list_filter = ("status", DeadLetterFilter, "channel", "provider", "event", "audience", "order__brand")
    search_fields = ("order__number", "provider_message_id", "=public_id")
    date_hierarchy = "created_at"
    list_select_related = ("order",)
    inlines = (DeliveryAttemptInline,)
    actions = ("resend", "release_held")
    readonly_fields = tuple(f.name for f in Notification._meta.fields if f.name not in ("id",)) + ("rendered_html",)
    exclude = ("body_html",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="recipient")
    def masked(self, obj: Notification) -> str:
        return obj.masked_recipient

    @admin.display(description="HTML")
    def rendered_html(self, obj: Notification) -> str:
        if not obj.body_html:
            return "-"
        # Sandboxed: the message is shown as the customer sees it, without running anything.
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:640px;height:480px;border:1px solid #ddd;"></iframe>',
            obj.body_html,
        )

    @admin.action(description="Resend the selected messages", permissions=["change"])
    def resend(self, request, queryset) -> None:
        for n in queryset:
            services.notification_resend(notification=n, actor=request.user)
        self.message_user(request, f"{queryset.count()} message(s) queued again.", messages.SUCCESS)

    @admin.action(description="Release the selected held messages", permissions=["change"])
    def release_held(self, request, queryset) -> None:
        released = 0
        for n in queryset.filter(status=Notification.Status.HELD):
            services.notification_release(notification=n, actor=request.user)
            released += 1
        self.message_user(request, f"{released} held message(s) released.", messages.SUCCESS)


class NotificationInline(admin.TabularInline):
    """The notification log on the order page."""

    model = Notification
    extra = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = (
        "created_at",
        "event",
        "audience",
        "channel",
        "provider",
        "status",
        "attempts",
        "subject",
    )
    ordering = ("created_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


# The orders admin does not know about notifications (dependencies point inward): add the log here.
_order_admin = admin.site._registry.get(Order)
if _order_admin is not None and NotificationInline not in _order_admin.inlines:
    _order_admin.inlines = (*_order_admin.inlines, NotificationInline)


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = ("event", "audience", "brand", "channels", "urgent", "enabled")
    list_filter = ("brand", "event", "audience", "enabled")


@admin.register(TemplateOverride)
class TemplateOverrideAdmin(admin.ModelAdmin):
    list_display = ("brand", "event", "locale", "part")
    list_filter = ("brand", "event", "locale", "part")


@admin.register(BrandNotificationSettings)
class BrandNotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ("brand", "tone", "unverified_delivery")


@admin.register(CustomerPreferences)
class CustomerPreferencesAdmin(admin.ModelAdmin):
    list_display = ("customer", "email_opted_out", "sms_opted_out", "whatsapp_opted_out", "push_opted_out")
    search_fields = ("customer__email",)
    readonly_fields = ("token", "updated_at")


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    list_display = ("customer", "provider", "platform", "active", "created_at")
    list_filter = ("provider", "active")


@admin.register(ProviderReceipt)
class ProviderReceiptAdmin(admin.ModelAdmin):
    list_display = ("received_at", "provider", "kind", "notification", "applied")
    list_filter = ("provider", "kind", "applied")
    readonly_fields = (
        "provider",
        "event_id",
        "message_id",
        "notification",
        "kind",
        "payload",
        "applied",
        "received_at",
    )


# --- Channels and failover (issue 6) ----------------------------------------------------------


class StaffDestinationForm(forms.ModelForm):
    """The webhook URL or bot token is write-only: stored encrypted, never shown back."""

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook URL (Slack incoming webhook, Teams Workflows, Google Chat) or Slack bot token. "
        "Leave blank to keep the stored one.",
    )

    class Meta:
        model = StaffDestination
        fields = ("brand", "name", "kind", "secret", "channel", "events", "enabled")

    def clean(self):
        cleaned = super().clean()
        secret = (cleaned.get("secret") or "").strip()
        if not secret and not (self.instance.pk and self.instance.secret_encrypted):
            self.add_error("secret", "A webhook URL or token is required.")
        if secret and cleaned.get("kind") in destinations.WEBHOOK_KINDS:
            try:
                netguard.check_url(secret)
            except netguard.UnsafeDestination as exc:
                self.add_error("secret", f"This URL is refused: {exc.reason}.")
        return cleaned


@admin.register(StaffDestination)
class StaffDestinationAdmin(admin.ModelAdmin):
    form = StaffDestinationForm
    list_display = ("name", "kind", "brand", "enabled", "disabled_reason", "disabled_at")
    list_filter = ("kind", "enabled", "brand")
    readonly_fields = ("disabled_reason", "disabled_at", "created_at", "updated_at")

    def save_model(self, request, obj, form, change) -> None:
        secret = (form.cleaned_data.get("secret") or "").strip()
        if secret:
            destinations.destination_set_secret(destination=obj, secret=secret)
        else:
            obj.save()


@admin.register(ProviderRoute)
class ProviderRouteAdmin(admin.ModelAdmin):
    list_display = ("channel", "brand", "providers")
    list_filter = ("channel", "brand")


@admin.register(ProviderHealth)
class ProviderHealthAdmin(admin.ModelAdmin):
    list_display = ("provider", "consecutive_failures", "opened_at", "open_until", "last_error", "last_success_at")
    readonly_fields = tuple(f.name for f in ProviderHealth._meta.fields if f.name != "id")

    def has_add_permission(self, request) -> bool:
        return False


# Signed outbound webhooks: endpoints, messages and attempts.
from notifications import outbound_admin as _outbound_admin  # noqa: E402,F401
