"""Order intake records: source accounts and their secrets, every raw payload, validation rules.

They belong to `orders` (imported at the end of orders/models.py so Django sees them): intake is
the orders' own entry flow. Raw payloads are stored before anything can fail; a payload that
could not be applied stays here as a dead letter until staff retry, edit and retry, or discard it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from oms_notify.rotating_secrets import RotatingSecrets
from orders.models import Brand, Order


class Source(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    GENERIC = "generic", "Generic (CRM, ERP, in-house)"


# Rules also apply to POST /api/v1/orders/ (source "api"): one validation for every entry.
RULE_SOURCES = [*Source.choices, ("api", "REST API")]


class SourceAccount(RotatingSecrets):
    """One shop or sending system within a source, with up to two active secrets (rotation)."""

    source = models.CharField(max_length=20, choices=Source.choices)
    identifier = models.CharField(
        max_length=200,
        help_text="Shopify: the shop domain (X-Shopify-Shop-Domain). WooCommerce: the site URL "
        "(X-WC-Webhook-Source). Generic: the `account` of the payload.",
    )
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="source_accounts", null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "orders"
        constraints = [
            models.UniqueConstraint(fields=["source", "identifier"], name="source_account_unique_identifier")
        ]
        ordering = ["source", "identifier"]

    def __str__(self) -> str:
        return f"{self.source}/{self.identifier}"


class RawIntake(models.Model):
    """One received payload (exact bytes), stored first; its outcome; a dead letter when not applied."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received (not processed yet)"
        APPLIED = "applied", "Applied"
        DUPLICATE = "duplicate", "Duplicate delivery"
        STALE = "stale", "Stale (older than what we hold)"
        IGNORED = "ignored", "Ignored (nothing to do)"
        REJECTED = "rejected", "Rejected by validation (dead letter)"
        FAILED = "failed", "Failed (dead letter)"
        DISCARDED = "discarded", "Discarded by staff"

    DEAD = (Status.REJECTED, Status.FAILED)

    source = models.CharField(max_length=20, choices=Source.choices)
    account = models.ForeignKey(SourceAccount, on_delete=models.SET_NULL, null=True, blank=True)
    topic = models.CharField(max_length=64, blank=True)
    delivery_id = models.CharField(max_length=200, blank=True, help_text="The sender's id for this delivery.")
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    # Staff's corrected payload (edit-and-retry); the original bytes are never changed.
    edited_payload = models.JSONField(null=True, blank=True)
    source_address = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)
    # When the source says the change happened (updated_at / X-Shopify-Triggered-At): staleness.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    # Validation findings: {"rule": ..., "field": ..., "message": ..., "dry_run": bool}
    findings = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="intakes")
    order_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True)
    customer_email = models.EmailField(blank=True)
    customer_tier = models.CharField(max_length=10, blank=True)
    impact = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"), db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    redeliveries = models.PositiveIntegerField(default=0, help_text="Repeats of this delivery id (sender retries).")
    processed_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        app_label = "orders"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "delivery_id"],
                condition=~models.Q(delivery_id=""),
                name="raw_intake_unique_delivery",
            )
        ]
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["source", "received_at"]),
            models.Index(fields=["source", "external_id", "source_updated_at"]),
        ]
        permissions = [("retry_rawintake", "Can retry, edit and discard dead-lettered intakes")]

    def __str__(self) -> str:
        return f"{self.source} #{self.pk} {self.topic} ({self.status})"

    @property
    def is_dead_letter(self) -> bool:
        return self.status in self.DEAD


class SourceOrderState(models.Model):
    """What we hold of one source order: the newest version applied (stale payloads never win)."""

    source = models.CharField(max_length=20, choices=Source.choices)
    source_account = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=200)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="source_states")
    source_updated_at = models.DateTimeField(null=True, blank=True)
    last_intake = models.ForeignKey(RawIntake, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "orders"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_account", "external_id"], name="source_order_state_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id} @ {self.source_updated_at}"


class ValidationRule(models.Model):
    """A check intake applies on top of the API's own validation, per source and account.

    Dry run reports what the rule would reject (on the intake record and in the admin) without
    rejecting: tune a rule on live traffic before it can cost an order.
    """

    class Kind(models.TextChoices):
        REQUIRED_FIELDS = "required_fields", "Required fields"
        ADDRESS = "address", "Address complete (line 1, city, postcode, country)"
        PHONE = "phone", "Valid phone number"
        CURRENCY = "currency", "Currency allowed"
        SKU_ALLOWLIST = "sku_allowlist", "SKUs on the allow-list"
        COUNTRY = "country", "Shipping country allowed"
        MAX_VALUE = "max_value", "Order value at most"

    name = models.CharField(max_length=120)
    source = models.CharField(
        max_length=20, choices=RULE_SOURCES, blank=True, help_text="Blank: every source, the REST API included."
    )
    account = models.ForeignKey(
        SourceAccount, on_delete=models.CASCADE, null=True, blank=True, help_text="Blank: every account."
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text='required_fields: {"fields": ["customer.phone", "shipping_address.postcode"]}; '
        'currency: {"allowed": ["USD", "EUR"]}; sku_allowlist: {"skus": ["MUG-1"], "prefixes": ["SKU2006-"]}; '
        'country: {"allowed": ["US", "CA"]}; max_value: {"amount": "5000"}.',
    )
    dry_run = models.BooleanField(default=True, help_text="Report only: record what would be rejected.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "orders"
        ordering = ["source", "name"]

    def __str__(self) -> str:
        mode = "dry run" if self.dry_run else "enforced"
        return f"{self.name} ({self.kind}, {mode})"
