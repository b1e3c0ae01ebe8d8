"""Tracking-page records: visits, the customer's delivery wishes and their feedback.

They belong to `orders` (imported at the end of orders/models.py so Django sees them) because
they describe the order; `notifications` reads them (a survey is skipped once answered).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from orders.models import Brand, Order, Shipment

DEFAULT_SAFE_PLACES = ["porch", "neighbour", "locker", "garage", "reception"]
DEFAULT_WINDOWS = ["08:00-12:00", "12:00-17:00", "17:00-21:00"]


class TrackingSettings(models.Model):
    """What a brand lets its customers change on the tracking page (defaults when no row exists)."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="tracking_settings")
    self_service_enabled = models.BooleanField(default=True)
    safe_places = models.JSONField(default=list, blank=True, help_text=f"Subset of {DEFAULT_SAFE_PLACES}.")
    reschedule_windows = models.JSONField(default=list, blank=True, help_text='e.g. ["08:00-12:00", "12:00-17:00"]')
    reschedule_days_ahead = models.PositiveSmallIntegerField(default=5, validators=[MaxValueValidator(30)])
    reschedule_weekends = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "tracking settings"

    def __str__(self) -> str:
        return f"Tracking settings of {self.brand}"

    @property
    def allowed_safe_places(self) -> list[str]:
        return [p for p in (self.safe_places or DEFAULT_SAFE_PLACES) if p in DEFAULT_SAFE_PLACES]

    @property
    def allowed_windows(self) -> list[str]:
        return list(self.reschedule_windows or DEFAULT_WINDOWS)


class TrackingVisit(models.Model):
    """One view of the tracking page, with the order's state at that moment ("where is my order")."""

    class Via(models.TextChoices):
        LINK = "link", "Tracking link"
        LOOKUP = "lookup", "Order lookup"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tracking_visits")
    visited_at = models.DateTimeField(auto_now_add=True)
    order_status = models.CharField(max_length=32)
    exception = models.BooleanField(default=False)
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.LINK)
    language = models.CharField(max_length=5, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["order", "visited_at"], name="tracking_visit_order_at"),
            models.Index(fields=["visited_at", "exception"], name="tracking_visit_at_exc"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} seen {self.visited_at:%Y-%m-%d %H:%M} ({self.order_status})"


class DeliveryPreference(models.Model):
    """The customer's current delivery wishes for an order (history in DeliveryRequest)."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="delivery_preference")
    safe_place = models.CharField(max_length=20, blank=True)
    instructions = models.CharField(max_length=300, blank=True)
    reschedule_date = models.DateField(null=True, blank=True)
    reschedule_window = models.CharField(max_length=20, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Delivery wishes for order {self.order_id}"


class DeliveryRequest(models.Model):
    """Append-only audit of each change a customer made from the tracking page."""

    class Kind(models.TextChoices):
        INSTRUCTIONS = "instructions", "Delivery instructions"
        RESCHEDULE = "reschedule", "Reschedule"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="delivery_requests")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    order_status = models.CharField(max_length=32)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for order {self.order_id}"


class DeliveryFeedback(models.Model):
    """One response per order: received?, a 1–5 score, a comment; linked to who delivered it."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="delivery_feedback")
    shipment = models.ForeignKey(Shipment, on_delete=models.SET_NULL, null=True, blank=True)
    received = models.BooleanField()
    score = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(blank=True, max_length=2000)
    carrier = models.SlugField(max_length=40, blank=True)
    service_level = models.CharField(max_length=100, blank=True)
    route = models.CharField(max_length=200, blank=True)
    driver = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=5, blank=True)
    needs_support = models.BooleanField(default=False, db_index=True)
    support_resolved_at = models.DateTimeField(null=True, blank=True)
    support_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "delivery feedback"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=1, score__lte=5),
                name="delivery_feedback_score_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"Feedback on order {self.order_id}: {self.score or '-'}"
