"""The notifications outbox: what we tell whom, over which channel, and every attempt to do it.

A Notification row is written in the transaction of the change that caused it (see handlers.py)
and only then dispatched, so a crash between the two loses nothing and a rollback sends nothing.
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models

from orders.models import Brand, Customer, DomainEvent, Order, Shipment, StatusChange


class Event(models.TextChoices):
    """What a message is about (our vocabulary, derived from the orders domain events)."""

    ORDER_CONFIRMED = "order_confirmed", "Order confirmed"
    ORDER_DISPATCHED = "order_dispatched", "Order dispatched"
    SPLIT_SHIPMENT = "split_shipment", "Order ships in several parcels"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELAYED = "delayed", "Delay alert"
    DELIVERY_FAILED = "delivery_failed", "Delivery attempt failed"
    DELIVERED = "delivered", "Delivered"
    FEEDBACK_REQUEST = "feedback_request", "Feedback request"
    CANCELLED = "cancelled", "Cancelled"
    ON_HOLD = "on_hold", "On hold"
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"
    DELIVERY_UNVERIFIED = "delivery_unverified", "Delivery proof needs checking (staff)"
    # Staff-only alerts about the messaging itself (issue 6: channels and failover).
    NOTIFICATION_DEAD_LETTERED = "notification_dead_lettered", "A message was dead-lettered (staff)"
    DESTINATION_DISABLED = "destination_disabled", "A staff destination was disabled (staff)"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    PUSH = "push", "Push"
    INAPP = "inapp", "In-app feed"
    # Staff chat: every enabled StaffDestination of the brand (Slack, Teams, Google Chat).
    CHAT = "chat", "Staff chat (Slack / Teams / Google Chat)"


class Audience(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    STAFF = "staff", "Staff"


class NotificationRule(models.Model):
    """A brand's (or, with no brand, everyone's) override of the default rule for one event and audience."""

    brand = models.ForeignKey(
        Brand,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_rules",
        help_text="Blank: applies to every brand without its own rule.",
    )
    event = models.CharField(max_length=32, choices=Event.choices)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.CUSTOMER)
    channels = models.JSONField(default=list, blank=True, help_text='e.g. ["email", "sms", "push", "inapp"]')
    enabled = models.BooleanField(default=True)
    urgent = models.BooleanField(
        default=False, help_text="Urgent messages ignore quiet hours and use the critical queue."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "event", "audience"], name="notification_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.brand or 'all brands'}: {self.event} → {self.audience} {','.join(self.channels)}"


class BrandNotificationSettings(models.Model):
    """Per brand: voice of the messages and what to do when a delivery's proof does not check out."""

    class UnverifiedDelivery(models.TextChoices):
        SEND_CHECKING = "send_checking", "Send the confirmation with “we are checking” wording"
        HOLD = "hold", "Hold the confirmation until staff decide"

    class Tone(models.TextChoices):
        FRIENDLY = "friendly", "Friendly"
        FORMAL = "formal", "Formal"

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="notification_settings")
    unverified_delivery = models.CharField(
        max_length=16, choices=UnverifiedDelivery.choices, default=UnverifiedDelivery.SEND_CHECKING
    )
    tone = models.CharField(max_length=16, choices=Tone.choices, default=Tone.FRIENDLY)
    email_footer = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "brand notification settings"

    def __str__(self) -> str:
        return f"Notification settings of {self.brand}"


class TemplateOverride(models.Model):
    """A brand's own text for one part of one message (Django template syntax, same context)."""

    class Part(models.TextChoices):
        SUBJECT = "subject", "Email subject"
        EMAIL = "email", "Email body (plain text; HTML is built from it)"
        SMS = "sms", "SMS / WhatsApp text"
        PUSH_TITLE = "push_title", "Push title"
        PUSH_BODY = "push_body", "Push body"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="notification_templates")
    event = models.CharField(max_length=32, choices=Event.choices)
    locale = models.CharField(max_length=10, default="en")
    part = models.CharField(max_length=16, choices=Part.choices)
    content = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "event", "locale", "part"], name="template_override_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.brand}: {self.event}/{self.part} ({self.locale})"


def new_preferences_token() -> str:
    return secrets.token_urlsafe(24)


class CustomerPreferences(models.Model):
    """Per customer: explicit opt-outs, quiet hours and the unsubscribe token (consent lives on Customer)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="notification_preferences")
    token = models.CharField(max_length=64, unique=True, default=new_preferences_token, editable=False)
    email_opted_out = models.BooleanField(default=False)
    sms_opted_out = models.BooleanField(default=False)
    whatsapp_opted_out = models.BooleanField(default=False)
    push_opted_out = models.BooleanField(default=False)
    quiet_hours_enabled = models.BooleanField(default=True)
    quiet_start = models.TimeField(default="21:00")
    quiet_end = models.TimeField(default="08:00")
    # Things worth saying in a message, e.g. {"eco_packaging": true}.
    attributes = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "customer preferences"

    def __str__(self) -> str:
        return f"Preferences of {self.customer}"

    def opted_out(self, channel: str) -> bool:
        return bool(getattr(self, f"{channel}_opted_out", False))


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Scheduled"
        HELD = "held", "Held"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        UNDELIVERED = "undelivered", "Undelivered"
        SUPPRESSED = "suppressed", "Suppressed"
        EXPIRED = "expired", "Expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    idempotency_key = models.CharField(max_length=200)  # unique: Meta.constraints
    # Null only for staff alerts about the system itself (an intake that never became an order, a
    # disabled webhook endpoint): they go to the staff chat with their facts in `data`.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notifications", null=True, blank=True)
    shipment = models.ForeignKey(Shipment, on_delete=models.SET_NULL, null=True, blank=True)
    # Indexed by (customer, channel, created_at) below, which serves lookups by customer too.
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, db_index=False)
    domain_event = models.ForeignKey(DomainEvent, on_delete=models.SET_NULL, null=True, blank=True)
    status_change = models.ForeignKey(StatusChange, on_delete=models.SET_NULL, null=True, blank=True)
    resend_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True)

    event = models.CharField(max_length=32, choices=Event.choices)
    audience = models.CharField(max_length=16, choices=Audience.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    provider = models.CharField(max_length=32)
    recipient = models.CharField(max_length=320, blank=True)
    locale = models.CharField(max_length=10, default="en")
    variant = models.CharField(max_length=32, blank=True, help_text="e.g. checking: delivery proof not verified")
    urgent = models.BooleanField(default=False)
    queue = models.CharField(max_length=16, default="default")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="Not sent before this time.")

    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    sms_segments = models.PositiveSmallIntegerField(null=True, blank=True)
    sms_encoding = models.CharField(max_length=8, blank=True)
    # Provider extras (headers, WhatsApp content variables, push data) and the proof of delivery it shows.
    data = models.JSONField(default=dict, blank=True)
    proof = models.JSONField(default=dict, blank=True)

    provider_message_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    dead_lettered_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Last handed to the broker: the sweeper re-enqueues only what has waited too long since.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True, help_text="In-app feed: when the customer read it.")

    class Meta:
        ordering = ["created_at", "id"]
        # Every status change rewrites each of these (a status move is never a HOT update), twice
        # per message sent: so no index another one already serves (status alone, due_at alone,
        # customer alone) and none of the `varchar_pattern_ops` copies that `db_index` / `unique`
        # add on PostgreSQL for LIKE queries nobody makes.
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["customer", "channel", "created_at"]),
            models.Index(fields=["event"], name="notification_event_idx"),
            models.Index(fields=["provider_message_id"], name="notification_provider_msg_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="notification_idempotency_key_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel} ({self.status})"

    @property
    def masked_recipient(self) -> str:
        return mask_recipient(self.recipient)


def mask_recipient(value: str) -> str:
    """Enough to recognise, not enough to reuse: a•••@example.com, +1•••••••23."""
    if not value:
        return ""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}•••@{domain}"
    if len(value) <= 4:
        return "•" * len(value)
    return value[:2] + "•" * (len(value) - 4) + value[-2:]


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", "Accepted by the provider"
        TRANSIENT = "transient", "Transient failure (retried)"
        PERMANENT = "permanent", "Permanent failure"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    provider = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"


class ProviderReceipt(models.Model):
    """A provider's report about a message (status callback, event webhook), deduplicated on its id."""

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=200)
    notification = models.ForeignKey(
        Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="receipts"
    )
    # The provider's message id: a receipt that beats our own "sent" record is applied when it lands.
    message_id = models.CharField(max_length=200, blank=True, db_index=True)
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    applied = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="provider_receipt_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.event_id}"


class DeviceToken(models.Model):
    """A customer's mobile device as registered by the shop's app (FCM token or OneSignal external id)."""

    class Provider(models.TextChoices):
        FCM = "fcm", "Firebase Cloud Messaging"
        ONESIGNAL = "onesignal", "OneSignal"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="device_tokens")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    token = models.CharField(max_length=500)
    platform = models.CharField(max_length=16, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "token"], name="device_token_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} device of {self.customer_id}"


# --- Channels and failover (issue 6) ----------------------------------------------------------


class StaffDestination(models.Model):
    """Where a brand's staff hear about exceptions: a Slack, Teams or Google Chat destination.

    The webhook URL or bot token is a secret: stored encrypted (oms_notify.crypto, key from the
    environment), never shown back in the admin. A permanent error from the platform (revoked
    token, deleted channel, invalid webhook) disables the destination with the reason.
    """

    class Kind(models.TextChoices):
        SLACK_WEBHOOK = "slack_webhook", "Slack incoming webhook"
        SLACK = "slack", "Slack channel (bot token, chat.postMessage)"
        TEAMS = "teams", "Microsoft Teams (Workflows webhook, Adaptive Card)"
        GOOGLE_CHAT = "google_chat", "Google Chat space webhook"

    brand = models.ForeignKey(
        Brand,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff_destinations",
        help_text="Blank: receives the alerts of every brand.",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    secret_encrypted = models.TextField(blank=True, editable=False)
    channel = models.CharField(
        max_length=100, blank=True, help_text="Slack bot only: the channel id (C0123...) to post in."
    )
    events = models.JSONField(default=list, blank=True, help_text="Staff events to receive; empty: all of them.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["brand_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class ProviderRoute(models.Model):
    """A brand's (or, with no brand, everyone's) providers for one channel, in the order to try them."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, null=True, blank=True, related_name="provider_routes")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    providers = models.JSONField(default=list, help_text='In order, e.g. ["sendgrid", "mailgun"].')

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "channel"], name="provider_route_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.brand or 'all brands'}: {self.channel} → {' → '.join(self.providers)}"


class ProviderHealth(models.Model):
    """The circuit of one provider, shared by every worker: open after repeated failures."""

    provider = models.CharField(max_length=32, unique=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    # Open until then; past it one probe is let through (half open), whose outcome closes or re-opens it.
    open_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "provider health"

    def __str__(self) -> str:
        return f"{self.provider}: {'open' if self.open_until else 'closed'}"


class ReceiptToken(models.Model):
    """Signature tokens already used (Mailgun webhooks): a replayed request is refused."""

    provider = models.CharField(max_length=32)
    token = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "token"], name="receipt_token_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} token at {self.received_at}"


# Signed outbound webhooks live in notifications/outbound_models.py; importing them registers them.
from notifications.outbound_models import WebhookAttempt, WebhookEndpoint, WebhookMessage  # noqa: E402,F401
