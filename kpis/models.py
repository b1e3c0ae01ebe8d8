"""Rollup tables: what the KPI dashboard reads, refreshed by kpis.refresh (never written by hand).

One row per period (day, week or month) and per combination of the dimensions the dashboard
filters on. Counts add up across rows; latencies are kept as fixed-bucket histograms
(kpis.histograms) so that percentiles of any selection can be computed on SQLite as on
PostgreSQL. Week and month rows are sums of their days, so the three grains always agree.
"""

from __future__ import annotations

from django.db import models

from kpis.histograms import hist_empty
from orders.models import Brand


class Grain(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


class Rollup(models.Model):
    grain = models.CharField(max_length=5, choices=Grain.choices)
    period_start = models.DateField()
    # Null: messages about the system itself (no order, so no brand).
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class NotificationRollup(Rollup):
    """Messages created in the period, by channel, provider and the carrier of their shipment."""

    channel = models.CharField(max_length=16)
    provider = models.CharField(max_length=32)
    carrier = models.CharField(max_length=40, blank=True)

    total = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0, help_text="Handed over and accepted by the provider.")
    rejected = models.PositiveIntegerField(default=0, help_text="Refused by the provider (never accepted).")
    eligible = models.PositiveIntegerField(default=0, help_text="Accepted by a provider that reports delivery.")
    delivered = models.PositiveIntegerField(default=0)
    undelivered = models.PositiveIntegerField(default=0, help_text="Accepted, then reported failed or bounced.")
    awaiting = models.PositiveIntegerField(default=0, help_text="Eligible, no receipt yet.")
    not_sent = models.PositiveIntegerField(default=0, help_text="Suppressed or expired: never handed over.")

    latency_hist = models.JSONField(default=hist_empty)
    latency_max_ms = models.PositiveBigIntegerField(default=0)
    confirm_hist = models.JSONField(default=hist_empty)
    confirm_sum_ms = models.PositiveBigIntegerField(default=0)
    confirm_max_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["grain", "period_start"], name="kpis_notif_grain_period")]

    def __str__(self) -> str:
        return f"{self.grain} {self.period_start} {self.channel}/{self.provider}"


class ShipmentRollup(Rollup):
    """Shipments delivered in the period (the brand's local date), by carrier."""

    carrier = models.CharField(max_length=40)
    delivered = models.PositiveIntegerField(default=0)
    with_window = models.PositiveIntegerField(default=0, help_text="The order had a promised delivery window.")
    on_time = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)
    with_eta = models.PositiveIntegerField(default=0, help_text="The carrier gave an ETA before delivery.")
    eta_exact = models.PositiveIntegerField(default=0)
    eta_abs_error_days = models.PositiveIntegerField(default=0)
    # Delivered date minus first ETA in days, clamped to -7..+7: {"-1": 3, "0": 40, ...}.
    eta_error = models.JSONField(default=dict)
    first_attempt_failed = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["grain", "period_start"], name="kpis_ship_grain_period")]

    def __str__(self) -> str:
        return f"{self.grain} {self.period_start} {self.carrier}"


class FeedbackRollup(Rollup):
    """Survey requests made and answers received in the period, by carrier and route."""

    carrier = models.CharField(max_length=40, blank=True)
    route = models.CharField(max_length=200, blank=True)
    requests = models.PositiveIntegerField(default=0, help_text="Orders sent a feedback request.")
    responses = models.PositiveIntegerField(default=0)
    not_received = models.PositiveIntegerField(default=0, help_text="Answered 'I did not receive it'.")
    # Count of each score 1..5.
    scores = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["grain", "period_start"], name="kpis_feedback_grain_period")]

    def __str__(self) -> str:
        return f"{self.grain} {self.period_start} {self.carrier}/{self.route}"


class VisitRollup(Rollup):
    """Tracking-page visits in the period, by the order's status at the visit (the WISMO proxy)."""

    order_status = models.CharField(max_length=32)
    exception = models.BooleanField(default=False)
    visits = models.PositiveIntegerField(default=0)
    # Distinct orders, counted from the visits themselves for each grain (distinct counts do not add).
    orders = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["grain", "period_start"], name="kpis_visit_grain_period")]

    def __str__(self) -> str:
        return f"{self.grain} {self.period_start} {self.order_status}"


class RefreshState(models.Model):
    """One row: how far the rollups are up to date. Its row lock keeps two refreshes apart."""

    watermark = models.DateTimeField(null=True, blank=True, help_text="Source rows changed before this are rolled up.")
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(default=0)
    last_days = models.PositiveIntegerField(default=0, help_text="Days recomputed by the last refresh.")
    last_full = models.BooleanField(default=False)

    class Meta:
        verbose_name = "KPI dashboard"
        verbose_name_plural = "KPI dashboard"

    def __str__(self) -> str:
        return f"KPIs up to {self.watermark}"
