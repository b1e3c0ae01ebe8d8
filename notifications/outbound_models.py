"""Signed outbound webhooks: subscribed endpoints, one message per (event, endpoint), every attempt.

Imported at the end of notifications/models.py so Django sees them. A message is written in the
transaction of the change that caused it and delivered afterwards; its `next_attempt_at` (a
database column, not a broker countdown) drives retries hours apart through the beat sweeper.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from orders.models import Brand, DomainEvent, Order


class EventType(models.TextChoices):
    ORDER_CREATED = "order.created", "Order created"
    ORDER_STATUS_CHANGED = "order.status_changed", "Order status changed"
    ORDER_DELIVERED = "order.delivered", "Order delivered"
    ORDER_FEEDBACK_RECEIVED = "order.feedback_received", "Delivery feedback received"
    SHIPMENT_CREATED = "shipment.created", "Shipment created"
    SHIPMENT_STATUS_CHANGED = "shipment.status_changed", "Shipment status changed"
    SHIPMENT_EVENT_RECORDED = "shipment.event_recorded", "Carrier event recorded"
    DELIVERY_PREFERENCES_CHANGED = "delivery_preferences.changed", "Delivery preferences changed"
    NOTIFICATION_DELIVERED = "notification.delivered", "Notification delivered"
    NOTIFICATION_FAILED = "notification.failed", "Notification failed"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """A system (WMS, CRM, ERP, data warehouse) that receives our events, signed per Standard Webhooks."""

    url = models.URLField(max_length=500, help_text="https only in production; checked against SSRF on every send.")
    description = models.CharField(max_length=200, blank=True)
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, null=True, blank=True, help_text="Blank: events of every brand."
    )
    event_types = models.JSONField(default=list, blank=True, help_text="Event types to receive; empty: all of them.")
    enabled = models.BooleanField(default=True)
    # whsec_ secrets, Fernet-encrypted (oms_notify.crypto). During a rotation both sign every message.
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        permissions = [("replay_webhookendpoint", "Can replay outbound webhook messages")]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (retries exhausted, gone, or endpoint disabled)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    # The webhook-id header: the same on every attempt, the receiver's idempotency key.
    msg_id = models.CharField(max_length=64, default=new_message_id, editable=False)
    event_type = models.CharField(max_length=40, choices=EventType.choices, db_index=True)
    # Exact bytes sent (signed as they are): written once, so every retry sends the same body.
    body = models.TextField()
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True)
    domain_event = models.ForeignKey(DomainEvent, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Attempts made before the current round (a replay starts the schedule again).
    round_start = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "msg_id"], name="webhook_message_unique_id")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", "Delivered (2xx)"
        FAILURE = "failure", "Failed (retried)"
        GONE = "gone", "410 Gone (stopped)"
        REFUSED = "refused", "Refused: unsafe destination (SSRF guard)"

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome} {self.status_code or ''}"
