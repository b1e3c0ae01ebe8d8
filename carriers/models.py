"""The carrier edge's own records: raw payloads, dedupe keys, pending events, PoD results, polling.

The canonical timeline (ShipmentEvent) belongs to `orders`; what lives here is what it takes to
accept carrier traffic safely: the exact bytes received, which events were already seen, events
waiting for their shipment, and the proof-of-delivery verdict that gates the customer message.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from oms_notify.rotating_secrets import RotatingSecrets
from orders.models import Brand, Shipment


class CarrierAccount(RotatingSecrets):
    """A brand's webhook endpoint at one carrier, with up to two active secrets (rotation)."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="carrier_accounts")
    carrier = models.SlugField(max_length=40)
    slug = models.SlugField(max_length=60, help_text="The <account> part of /webhooks/carriers/<carrier>/<account>/.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["carrier", "slug"], name="carrier_account_unique_slug")]
        ordering = ["carrier", "slug"]

    def __str__(self) -> str:
        return f"{self.carrier}/{self.slug}"


class RawWebhook(models.Model):
    """One verified request (or one polling response), stored before anything can fail."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received (not processed yet)"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate delivery"
        PENDING = "pending", "Waiting for a shipment"
        FAILED = "failed", "Failed (dead letter)"

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        POLL = "poll", "Polling"

    carrier = models.SlugField(max_length=40)
    account = models.ForeignKey(CarrierAccount, on_delete=models.SET_NULL, null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEBHOOK)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    source_address = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    events_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"]), models.Index(fields=["carrier", "received_at"])]
        permissions = [("replay_rawwebhook", "Can replay stored carrier webhooks")]

    def __str__(self) -> str:
        return f"{self.carrier} #{self.pk} ({self.status})"

    @property
    def is_dead_letter(self) -> bool:
        return self.status in (self.Status.FAILED, self.Status.PENDING)


class EventKey(models.Model):
    """Seen (carrier, key): a delivery id (`d:`) or a tracking event key (`e:`). Kept >= 7 days."""

    carrier = models.SlugField(max_length=40)
    key = models.CharField(max_length=160)
    raw = models.ForeignKey(RawWebhook, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["carrier", "key"], name="carrier_event_key_unique")]

    def __str__(self) -> str:
        return f"{self.carrier}:{self.key}"


class PendingEvent(models.Model):
    """An event for a tracking number we do not know yet; applied when the shipment appears."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        EXPIRED = "expired", "Expired"

    carrier = models.SlugField(max_length=40)
    dedupe_key = models.CharField(max_length=160)
    tracking_number = models.CharField(max_length=100, db_index=True)
    underlying_carrier = models.SlugField(max_length=40, blank=True)
    status_reported = models.CharField(max_length=32)
    occurred_at = models.DateTimeField()
    raw = models.ForeignKey(RawWebhook, on_delete=models.CASCADE, related_name="pending_events")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [models.UniqueConstraint(fields=["carrier", "dedupe_key"], name="pending_event_unique_key")]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number} {self.status_reported} ({self.status})"


class UnmappedCode(models.Model):
    """A carrier code no mapping knows: kept as `unknown`, counted, shown to staff."""

    carrier = models.SlugField(max_length=40)
    code = models.CharField(max_length=200)
    example = models.CharField(max_length=500, blank=True)
    count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-count"]
        constraints = [models.UniqueConstraint(fields=["carrier", "code"], name="unmapped_code_unique")]

    def __str__(self) -> str:
        return f"{self.carrier} {self.code} × {self.count}"


class DeliveryPolicy(models.Model):
    """Per brand: what a delivered scan must prove before the customer hears "delivered"."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="delivery_policy")
    signature_required = models.BooleanField(default=False)
    signature_threshold = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Require a signature only for orders worth at least this much (blank: every order).",
    )
    gps_radius_m = models.PositiveIntegerField(default=250)
    gps_required_carriers = models.JSONField(
        default=list, blank=True, help_text='Carriers whose delivered scans must carry a position, e.g. ["ups"].'
    )
    future_skew_seconds = models.PositiveIntegerField(default=300)
    max_receipt_lag_hours = models.PositiveIntegerField(
        default=72, help_text="A delivered scan reported this long after it happened is suspect."
    )

    class Meta:
        verbose_name_plural = "delivery policies"

    def __str__(self) -> str:
        return f"Delivery policy of {self.brand}"

    def signature_needed_for(self, order_total: Decimal) -> bool:
        if not self.signature_required:
            return False
        return self.signature_threshold is None or order_total >= self.signature_threshold


class DeliveryVerification(models.Model):
    """The proof-of-delivery verdict for one shipment; gates the customer's confirmation."""

    class Result(models.TextChoices):
        PENDING = "pending", "Pending"
        VERIFIED = "verified", "Verified"
        UNVERIFIED = "unverified", "Unverified (needs review)"

    class Decision(models.TextChoices):
        NONE = "", "No decision"
        ACCEPTED = "accepted", "Accepted by staff"
        REJECTED = "rejected", "Rejected by staff"

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="delivery_verification")
    shipment_event = models.ForeignKey("orders.ShipmentEvent", on_delete=models.SET_NULL, null=True, blank=True)
    result = models.CharField(max_length=12, choices=Result.choices, default=Result.PENDING, db_index=True)
    failed_checks = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="Checks that could not run (not failures).")
    distance_m = models.DecimalField(max_digits=12, decimal_places=1, null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at"]
        permissions = [("decide_deliveryverification", "Can accept or reject an unverified delivery")]

    def __str__(self) -> str:
        return f"{self.shipment}: {self.result}"

    @property
    def needs_review(self) -> bool:
        return self.result == self.Result.UNVERIFIED and not self.decision


class TrackerPoll(models.Model):
    """Polling state for one shipment whose carrier cannot push."""

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="tracker_poll")
    client = models.SlugField(max_length=40, help_text="Polling client name, e.g. easypost.")
    external_id = models.CharField(max_length=100, blank=True, help_text="The client's tracker id, once known.")
    active = models.BooleanField(default=True)
    next_poll_at = models.DateTimeField(db_index=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])
    last_error = models.TextField(blank=True)
    stopped_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["active", "next_poll_at"])]

    def __str__(self) -> str:
        return f"{self.client} poll of {self.shipment}"


class DelayFlag(models.Model):
    """Remembers a delay we inferred (stalled/late) so one silence or one ETA is flagged once."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="delay_flags")
    kind = models.CharField(max_length=10)  # stalled | late
    basis = models.CharField(max_length=64)  # the last scan time or the ETA that caused it
    flagged_at = models.DateTimeField(auto_now_add=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shipment", "kind", "basis"], name="delay_flag_unique")]

    def __str__(self) -> str:
        return f"{self.shipment} {self.kind} ({self.basis})"


class ReconciliationRun(models.Model):
    """One pass comparing in-flight shipments with what their carrier says now (data sync accuracy)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule (beat)"
        MANUAL = "manual", "Manual (admin or command)"

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the run is going.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    checked = models.PositiveIntegerField(default=0, help_text="Shipments whose carrier answered.")
    mismatched = models.PositiveIntegerField(default=0, help_text="Checked shipments that disagree with the carrier.")
    unreachable = models.PositiveIntegerField(default=0, help_text="The carrier's API failed for these shipments.")
    not_checkable = models.PositiveIntegerField(default=0, help_text="No polling client for their carrier.")
    no_data = models.PositiveIntegerField(
        default=0, help_text="The carrier answered without a usable scan (counted apart, not as a mismatch)."
    )
    per_carrier = models.JSONField(
        default=dict, blank=True, help_text='{"<client>": {"checked": n, "mismatched": n, "unreachable": n, ...}}'
    )
    note = models.TextField(blank=True, help_text="Why the run stopped early, or what went wrong.")
    # Progress, so one run spans several short tasks (the task time limit is minutes).
    running = models.BooleanField(default=True, editable=False)
    cursor = models.BigIntegerField(default=0, editable=False, help_text="The last shipment id done.")
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [("run_reconciliation", "Can start a carrier reconciliation run")]
        constraints = [
            # One run at a time: a second start (beat and a button at once) meets this index.
            models.UniqueConstraint(
                fields=["running"], condition=models.Q(running=True), name="reconciliation_one_running"
            )
        ]

    def __str__(self) -> str:
        return f"Reconciliation {self.started_at:%Y-%m-%d %H:%M} ({self.trigger})"

    @property
    def accuracy(self) -> float | None:
        """Share of checked shipments in sync with their carrier (None when nothing was checked)."""
        return None if not self.checked else (self.checked - self.mismatched) / self.checked


class SyncMismatch(models.Model):
    """A shipment whose status differs from its carrier's latest; one open row per shipment."""

    class Kind(models.TextChoices):
        MISSED_EVENT = "missed_event", "Carrier has a newer event"
        STATUS_DIFFERS = "status_differs", "Status differs (ours is as new or newer)"

    class Resolution(models.TextChoices):
        OPEN = "", "Open"
        APPLIED_CARRIER = "applied_carrier", "Applied the carrier's status"
        KEPT_OURS = "kept_ours", "Kept ours"
        CARRIER_WRONG = "carrier_wrong", "The carrier is wrong"
        IN_SYNC = "in_sync", "In sync again (a later run or event)"

    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="mismatches", help_text="The last run that saw it."
    )
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="sync_mismatches")
    client = models.SlugField(max_length=40, help_text="The polling client that answered.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ours = models.CharField(max_length=32, help_text="Our shipment status when checked.")
    our_event_at = models.DateTimeField(null=True, blank=True, help_text="Our newest carrier event then.")
    carrier_status = models.CharField(max_length=32, help_text="The carrier's latest status, normalised.")
    carrier_event_at = models.DateTimeField()
    carrier_event = models.JSONField(
        default=dict, help_text="The carrier's latest event, normalised: what 'apply carrier status' applies."
    )
    detected_at = models.DateTimeField(db_index=True)
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True, default="")
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name_plural = "sync mismatches"
        constraints = [
            # Partial unique index (PostgreSQL and SQLite): a later run updates the open row.
            models.UniqueConstraint(
                fields=["shipment"], condition=models.Q(resolved_at__isnull=True), name="sync_mismatch_one_open"
            )
        ]
        indexes = [models.Index(fields=["resolved_at", "detected_at"])]
        permissions = [("resolve_syncmismatch", "Can resolve carrier sync mismatches")]

    def __str__(self) -> str:
        return f"{self.shipment}: ours {self.ours}, carrier {self.carrier_status}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
