"""The operational model: brands, customers, orders, shipments, their timeline and audit log.

Status fields are django-fsm-2 machines with `protected=True`: nothing assigns a status directly.
Transition methods here only say which moves are allowed; `orders/services/` performs them
(row lock, audit row, domain event).
"""

from __future__ import annotations

import functools
import secrets
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from orders.statuses import (
    HOLDABLE,
    IN_FLIGHT,
    POST_DISPATCH,
    PRE_DISPATCH,
    SHIPMENT_EXCEPTIONS,
    OrderStatus,
    ShipmentStatus,
)
from orders.validators import validate_e164

TRANSITION_PERMISSION = "orders.transition_order"
OVERRIDE_PERMISSION = "orders.override_status"

hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex colour such as #1a2b3c.")
currency_code = RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 code such as USD.")
country_code = RegexValidator(r"^[A-Z]{2}$", "Use an ISO 3166-1 alpha-2 code such as US.")


@functools.cache
def _time_zones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk at every call (~13 ms): once per process.
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone.")


def new_tracking_token() -> str:
    # 192 random bits, URL-safe; never derived from the primary key.
    return secrets.token_urlsafe(24)


_TRACKING_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud on the phone


def new_tracking_id() -> str:
    # 16 symbols of 32 = 80 random bits.
    return "OMS" + "".join(secrets.choice(_TRACKING_ID_ALPHABET) for _ in range(16))


class Brand(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    order_prefix = models.CharField(
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9]{2,8}$", "2–8 capital letters or digits.")],
        help_text="Starts every order number of this brand, e.g. ACME-000123.",
    )
    order_sequence = models.PositiveBigIntegerField(default=0, editable=False)
    logo = models.FileField(upload_to="brands/logos/", blank=True)
    primary_colour = models.CharField(max_length=7, default="#1f2937", validators=[hex_colour])
    accent_colour = models.CharField(max_length=7, default="#2563eb", validators=[hex_colour])
    support_email = models.EmailField(blank=True)
    support_phone = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    support_url = models.URLField(blank=True)
    email_from_name = models.CharField(max_length=120, blank=True)
    email_from_address = models.EmailField(blank=True)
    sms_sender = models.CharField(max_length=20, blank=True, help_text="E.164 number or alphanumeric id")
    whatsapp_sender = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    default_locale = models.CharField(max_length=10, default="en")
    default_time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    banner_text = models.CharField(max_length=280, blank=True)
    banner_url = models.URLField(blank=True)
    banner_starts_at = models.DateTimeField(null=True, blank=True)
    banner_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="customers")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    locale = models.CharField(max_length=10, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    consent_email = models.BooleanField(default=True)
    consent_sms = models.BooleanField(default=False)
    consent_whatsapp = models.BooleanField(default=False)
    consent_push = models.BooleanField(default=False)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    orders_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "email"], name="customer_unique_email_per_brand"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def is_repeat_buyer(self) -> bool:
        return self.orders_count > 1


class Order(FSMModelMixin, models.Model):
    number = models.CharField(max_length=32, unique=True, editable=False)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    source = models.SlugField(max_length=40, help_text="api, shopify, woocommerce, crm, ...")
    source_account = models.CharField(max_length=200, blank=True, default="")
    external_id = models.CharField(max_length=200)
    source_number = models.CharField(max_length=100, blank=True)
    intake_fingerprint = models.CharField(max_length=64, editable=False)

    ship_name = models.CharField(max_length=200, blank=True)
    ship_line1 = models.CharField(max_length=200)
    ship_line2 = models.CharField(max_length=200, blank=True)
    ship_city = models.CharField(max_length=100)
    ship_region = models.CharField(max_length=100, blank=True)
    ship_postcode = models.CharField(max_length=20, blank=True)
    ship_country = models.CharField(max_length=2, validators=[country_code])
    ship_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    ship_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)

    currency = models.CharField(max_length=3, validators=[currency_code])
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    promised_from = models.DateField(null=True, blank=True)
    promised_to = models.DateField(null=True, blank=True)

    inventory_allocated = models.BooleanField(default=False)
    regulatory_hold = models.BooleanField(default=False)
    regulatory_hold_reason = models.CharField(max_length=500, blank=True)

    status = FSMField(default=OrderStatus.PENDING, choices=OrderStatus.choices, protected=True, db_index=True)
    # Where a held order resumes when the hold clears.
    status_before_hold = models.CharField(max_length=32, blank=True, choices=OrderStatus.choices)
    tracking_token = models.CharField(max_length=64, unique=True, default=new_tracking_token, editable=False)

    placed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_account", "external_id"], name="order_unique_source_external_id"
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]
        permissions = [
            ("transition_order", "Can move an order through its lifecycle"),
            ("override_status", "Can force any order status (with a reason)"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def tracking_url(self) -> str:
        return f"{settings.SITE_URL}/t/{self.tracking_token}/"

    # --- conditions --------------------------------------------------------------------
    def not_on_hold(self) -> bool:
        return not self.regulatory_hold

    def inventory_is_allocated(self) -> bool:
        return self.inventory_allocated

    def has_shipment_to_dispatch(self) -> bool:
        open_shipments = self.shipments.exclude(status=ShipmentStatus.CANCELLED)
        if self.status in PRE_DISPATCH:
            return open_shipments.exists()
        return open_shipments.filter(dispatched_at__isnull=True).exists()

    def nothing_open(self) -> bool:
        return not self.regulatory_hold and not self.shipments.filter(status__in=IN_FLIGHT).exists()

    # --- the lifecycle: every allowed move, in one place --------------------------------
    @transition(
        field=status,
        source=OrderStatus.PENDING,
        target=OrderStatus.CONFIRMED,
        conditions=[not_on_hold],
        permission=TRANSITION_PERMISSION,
    )
    def confirm(self) -> None:
        """Accept the order."""

    @transition(
        field=status,
        source=OrderStatus.CONFIRMED,
        target=OrderStatus.PROCESSING,
        conditions=[not_on_hold],
        permission=TRANSITION_PERMISSION,
    )
    def start_processing(self) -> None:
        """Picking and packing have begun."""

    @transition(
        field=status,
        source=[OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED],
        target=RETURN_VALUE(*POST_DISPATCH),
        conditions=[not_on_hold, inventory_is_allocated, has_shipment_to_dispatch],
        permission=TRANSITION_PERMISSION,
    )
    def dispatch(self, follow: str = OrderStatus.DISPATCHED) -> str:
        """Parcels handed to the carrier; the service computes `follow` from the shipments."""
        return follow

    @transition(
        field=status,
        source=[*PRE_DISPATCH, OrderStatus.ON_HOLD],
        target=OrderStatus.CANCELLED,
        permission=TRANSITION_PERMISSION,
    )
    def cancel(self) -> None:
        """Cancel before anything has left the warehouse."""

    @transition(
        field=status,
        source=OrderStatus.DELIVERED,
        target=OrderStatus.COMPLETED,
        conditions=[nothing_open],
        permission=TRANSITION_PERMISSION,
    )
    def complete(self) -> None:
        """Close a delivered order (staff, or the scheduled task after ORDER_COMPLETE_AFTER_DAYS)."""

    # System moves: driven by flags and carriers, never offered as buttons.
    @transition(field=status, source=HOLDABLE, target=OrderStatus.ON_HOLD, custom={"system": True})
    def hold(self) -> None:
        """A regulatory hold was set."""

    @transition(
        field=status,
        source=OrderStatus.ON_HOLD,
        target=RETURN_VALUE(*HOLDABLE),
        conditions=[not_on_hold],
        custom={"system": True},
    )
    def release(self) -> str:
        """The hold cleared: resume where the order was."""
        return self.status_before_hold or OrderStatus.PENDING

    @transition(field=status, source=POST_DISPATCH, target=RETURN_VALUE(*POST_DISPATCH), custom={"system": True})
    def follow_shipments(self, follow: str) -> str:
        """After dispatch the order's status is what its shipments say."""
        return follow


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class Shipment(FSMModelMixin, models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.SlugField(max_length=40)
    service_level = models.CharField(max_length=100, blank=True)
    tracking_number = models.CharField(max_length=100, db_index=True)
    tracking_id = models.CharField(max_length=24, unique=True, default=new_tracking_id, editable=False)
    status = FSMField(default=ShipmentStatus.INFO_RECEIVED, choices=ShipmentStatus.choices, protected=True)
    # The last progress status before an exception: where the parcel is, when it moves again.
    last_progress_status = models.CharField(max_length=32, blank=True, choices=ShipmentStatus.choices)
    status_reason = models.CharField(max_length=200, blank=True)
    eta = models.DateField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    pod_signed_by = models.CharField(max_length=200, blank=True)
    pod_signature_ref = models.CharField(max_length=500, blank=True)
    pod_photo_ref = models.CharField(max_length=500, blank=True)
    pod_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    pod_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["carrier", "tracking_number"])]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"

    # Carrier events record physical reality: any in-flight status may follow any other, and a
    # delivered scan is accepted even when earlier scans were skipped.
    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.IN_TRANSIT)
    def mark_in_transit(self) -> None: ...

    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.OUT_FOR_DELIVERY)
    def mark_out_for_delivery(self) -> None: ...

    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.AVAILABLE_FOR_PICKUP)
    def mark_available_for_pickup(self) -> None: ...

    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.ATTEMPT_FAILED)
    def mark_attempt_failed(self) -> None: ...

    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.DELAYED)
    def mark_delayed(self) -> None: ...

    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.EXCEPTION)
    def mark_exception(self) -> None: ...

    @transition(field=status, source=IN_FLIGHT, target=ShipmentStatus.DELIVERED)
    def mark_delivered(self) -> None: ...

    @transition(field=status, source=[*IN_FLIGHT, ShipmentStatus.DELIVERED], target=ShipmentStatus.RETURNED_TO_SENDER)
    def mark_returned_to_sender(self) -> None: ...

    @transition(field=status, source=ShipmentStatus.INFO_RECEIVED, target=ShipmentStatus.CANCELLED)
    def mark_cancelled(self) -> None: ...

    @transition(field=status, source=SHIPMENT_EXCEPTIONS, target=RETURN_VALUE(*IN_FLIGHT))
    def clear_exception(self) -> str:
        """A delay we inferred ourselves cleared: back to where the parcel was."""
        return self.last_progress_status or ShipmentStatus.IN_TRANSIT


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="shipment_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipment_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.order_line_id}"


class ShipmentEvent(models.Model):
    """One normalised carrier event: the canonical timeline. Raw payloads live in `carriers`."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    carrier = models.SlugField(max_length=40)
    status = models.CharField(max_length=32)
    carrier_code = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    estimated_delivery = models.DateField(null=True, blank=True)
    signed_by = models.CharField(max_length=200, blank=True)
    signature_ref = models.CharField(max_length=500, blank=True)
    photo_ref = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(max_length=128)
    # False when the event only joined the history (older than what we knew, or unknown code).
    applied = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "dedupe_key"], name="shipment_event_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.occurred_at:%Y-%m-%d %H:%M}"


class StatusChange(models.Model):
    """Append-only audit row for every order and shipment move."""

    class Source(models.TextChoices):
        CARRIER = "carrier", "Carrier"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        SYSTEM = "system", "System"

    # PROTECT: deleting an order or shipment must never erase its audit trail silently.
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="history")
    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, null=True, blank=True, related_name="history")
    from_status = models.CharField(max_length=32)
    to_status = models.CharField(max_length=32)
    transition = models.CharField(max_length=64)
    # carrier, api, admin, system, or an order source such as shopify.
    source = models.CharField(max_length=40)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    notify_customer = models.BooleanField(default=True)
    shipment_event = models.ForeignKey(ShipmentEvent, on_delete=models.SET_NULL, null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        subject = f"shipment {self.shipment_id}" if self.shipment_id else "order"
        return f"{subject}: {self.from_status} → {self.to_status} ({self.transition})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Status changes are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Status changes are append-only.")


class DomainEvent(models.Model):
    """What happened, written in the same transaction as the change (the outbox's source)."""

    name = models.CharField(max_length=64, db_index=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="domain_events")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, null=True, blank=True)
    status_change = models.ForeignKey(StatusChange, on_delete=models.CASCADE, null=True, blank=True)
    payload = models.JSONField(default=dict)
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


# Order-intake records live in orders/sources/models.py; importing them here registers them with the app.
from orders.sources.models import RawIntake, SourceAccount, SourceOrderState, ValidationRule  # noqa: E402,F401

# Tracking-page records live in orders/tracking/models.py; importing them here registers them with the app.
from orders.tracking.models import (  # noqa: E402,F401
    DeliveryFeedback,
    DeliveryPreference,
    DeliveryRequest,
    TrackingSettings,
    TrackingVisit,
)
