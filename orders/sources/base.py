"""What every order-source adapter shares: errors, the intake record it produces, parsing helpers.

An adapter proves who sent a request (`verify`) and turns the channel's payload into one `Intake`:
an order in the REST API's body shape (validated by the same serializer as POST /api/v1/orders/),
the lifecycle moves the channel asks for, and the source's own "last changed" time for staleness.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import phonenumbers
from django.utils.dateparse import parse_datetime

from oms_notify.signing import base64_hmac_matches


class VerificationError(Exception):
    """The request does not prove who sent it. `reason` is machine-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ParseError(Exception):
    """The body is not a payload this adapter understands."""


@dataclass
class Fulfillment:
    """A parcel the channel reports (Shopify fulfillments)."""

    order_external_id: str
    fulfillment_id: str
    carrier: str
    tracking_numbers: list[str]
    lines: list[tuple[str, int]]
    status: str = ""  # the channel's fulfillment status (success, cancelled, ...)
    shipment_status: str = ""  # the channel's parcel status (in_transit, delivered, ...)
    occurred_at: datetime | None = None


@dataclass
class Intake:
    kind: str  # "order", "fulfillment" or "ignore"
    external_id: str = ""
    source_account: str = ""
    order_source: str = ""  # the Order.source the order is (or will be) filed under
    order: dict | None = None  # POST /api/v1/orders/ body
    transitions: list[str] = field(default_factory=list)
    reason: str = ""
    source_updated_at: datetime | None = None
    fulfillment: Fulfillment | None = None
    notes: list[str] = field(default_factory=list)
    # An explicit status change (generic order.status_changed): a refused move is a rejection.
    strict: bool = False

    @property
    def order_value(self) -> Decimal:
        if not self.order:
            return Decimal("0")
        total = money(self.order.get("total"))
        if total is not None:
            return total
        return sum(
            (
                (money(line.get("unit_price")) or Decimal("0")) * int(line.get("quantity") or 0)
                for line in self.order.get("lines", [])
                if isinstance(line, dict)
            ),
            Decimal("0"),
        )


class Adapter:
    """One source: `verify(headers, body, secrets)`, `parse(topic, payload, headers)` -> Intake."""

    name: str = ""

    def topic(self, headers: dict, payload) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def account_identifier(self, headers: dict, body: bytes) -> str:
        return ""

    def delivery_id(self, headers: dict, body: bytes) -> str:
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def is_ping(self, headers: dict, body: bytes) -> bool:
        return False

    # Shops that sign the exact body with a base64 HMAC-SHA256 in one header (Shopify, WooCommerce)
    # name the header; others override `verify`.
    signature_header: str = ""

    def verify(self, headers: dict, body: bytes, secrets: list[str]) -> None:
        if not self.signature_header:  # pragma: no cover - a subclass without a scheme
            raise NotImplementedError
        if not secrets:
            raise VerificationError("no_secret_configured")
        signature = header(headers, self.signature_header)
        if not signature:
            raise VerificationError("missing_signature")
        if not base64_hmac_matches(signature, body, secrets):
            raise VerificationError("invalid_signature")

    def parse(self, topic: str, payload, headers: dict) -> Intake:  # pragma: no cover - abstract
        raise NotImplementedError


# --- parsing helpers ------------------------------------------------------------------------


def load_json(body: bytes):
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"body is not JSON: {exc}") from None


def header(headers: dict, name: str) -> str:
    """Case-insensitive header lookup (stored headers keep the sender's spelling)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return ""


def aware(value, *, naive_is_utc: bool = False) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    parsed = parse_datetime(value.strip())
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def money(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    except (InvalidOperation, ValueError):
        return None


def text(value, limit: int) -> str:
    """A display string from a channel: HTML entities decoded (WooCommerce sends &ndash;), trimmed."""
    if value is None:
        return ""
    return html.unescape(str(value)).strip()[:limit]


def phone_e164(value, country: str = "") -> str:
    """The channel's phone as E.164 when it is a valid number, else "" (never a reject by itself).

    Shops accept free text ("555-555-SHIP", "(555) 555-5555"); refusing the order for it would be
    a false-positive reject. A `phone` validation rule can demand a valid number where it matters.
    """
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(str(value), (country or "").upper() or None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def merge_lines(lines: list[dict]) -> list[dict]:
    """One line per SKU (the API's rule): same SKU and price add up; a different price gets its own SKU."""
    merged: dict[str, dict] = {}
    for line in lines:
        sku = line["sku"]
        existing = merged.get(sku)
        if existing is None:
            merged[sku] = dict(line)
        elif existing["unit_price"] == line["unit_price"]:
            existing["quantity"] += line["quantity"]
        else:
            n = 2
            while f"{sku}#{n}" in merged:
                n += 1
            merged[f"{sku}#{n}"] = {**line, "sku": f"{sku}#{n}"[:100]}
    return list(merged.values())
