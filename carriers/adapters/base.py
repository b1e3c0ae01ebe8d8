"""What every carrier adapter shares: errors, constant-time checks, time and carrier helpers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import zoneinfo
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.dateparse import parse_date, parse_datetime

from orders.statuses import UNKNOWN_EVENT_STATUS
from orders.tracking import TrackingEvent


class VerificationError(Exception):
    """The request does not prove who sent it. `reason` is machine-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ParseError(Exception):
    """The body is not a payload this adapter understands."""


class Adapter:
    """One carrier: `verify(request, secrets)` raises VerificationError; `parse(body)` -> events."""

    name: str = ""
    # Aggregators report for many carriers; their events name the underlying one.
    aggregator: bool = False

    def verify(self, request, secrets: list[str]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, body: bytes) -> list[TrackingEvent]:  # pragma: no cover - abstract
        raise NotImplementedError

    def delivery_id(self, headers: dict, body: bytes) -> str:
        """Identifies one delivery of a webhook (retries share it); a body hash by default."""
        return "sha256:" + hashlib.sha256(body).hexdigest()


# --- verification helpers -------------------------------------------------------------------


def now() -> float:
    """Seconds since the epoch; tests pin it to check published vectors with old timestamps."""
    return time.time()


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def require_secrets(secrets: list[str]) -> None:
    if not secrets:
        raise VerificationError("no_secret_configured")


def check_base64_hmac(header_value: str | None, body: bytes, secrets: list[str]) -> None:
    """The common scheme: header = base64(HMAC-SHA256(secret, raw body)). Any secret may match."""
    require_secrets(secrets)
    if not header_value:
        raise VerificationError("missing_signature")
    try:
        given = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("malformed_signature") from None
    if not any(equal(hmac_sha256(s.encode(), body), given) for s in secrets):
        raise VerificationError("invalid_signature")


def check_timestamp(timestamp: str | None, tolerance: int | None = None) -> int:
    if not timestamp:
        raise VerificationError("missing_timestamp")
    try:
        value = int(timestamp)
    except ValueError:
        raise VerificationError("malformed_timestamp") from None
    tolerance = settings.CARRIER_SIGNATURE_TOLERANCE_SECONDS if tolerance is None else tolerance
    if abs(now() - value) > tolerance:
        raise VerificationError("stale_timestamp")
    return value


# --- parsing helpers ------------------------------------------------------------------------


def load_json(body: bytes):
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"body is not JSON: {exc}") from None


def need(mapping, *path: str):
    """mapping[path...] or ParseError naming the missing field."""
    node = mapping
    for part in path:
        if not isinstance(node, dict) or node.get(part) in (None, ""):
            raise ParseError(f"missing field {'.'.join(path)}")
        node = node[part]
    return node


def aware(value: str, *, local_zone: str | None = None) -> datetime:
    """An ISO 8601 timestamp as an aware datetime; a naive one is read in `local_zone`."""
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible ("2026-02-30T10:00:00Z"): Django raises, not None
        parsed = None
    if parsed is None:
        raise ParseError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        if local_zone is None:
            raise ParseError(f"timestamp without offset: {value!r}")
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(local_zone))
    return parsed


def date_only(value) -> date | None:
    """An ETA as a date. A datetime ETA keeps its own calendar day (never shifted to UTC)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_date(value[:10])
    except ValueError:  # "2026-02-30": an impossible ETA is no ETA, not a crash
        return None


def decimal_or_none(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.000001"))
    except (InvalidOperation, ValueError):
        return None


# Carrier names as aggregators spell them -> our slugs.
_CARRIER_ALIASES = {
    "fdx": "fedex",
    "fedexground": "fedex",
    "federalexpress": "fedex",
    "unitedparcelservice": "ups",
    "unitedstatespostalservice": "usps",
    "dhlexpress": "dhl",
    "canadapost": "canadapost",
}


def carrier_slug(name: str | None) -> str:
    if not name:
        return ""
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    return _CARRIER_ALIASES.get(compact, compact)[:40]


def content_id(*parts) -> str:
    """A stable id for a scan that has no vendor id, from the vendor's own fields for that scan.

    Hashing the normalised TrackingEvent instead would make the key move whenever something
    outside the scan changes (the ETA is only given to the newest scan of a tracker).
    """
    text = json.dumps([str(p) if p is not None else "" for p in parts], separators=(",", ":"))
    return "sha:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def make_event(*, status: str, source_code: str, event_id: str = "", **fields) -> TrackingEvent:
    """Build a TrackingEvent, remembering which code was mapped (for the unmapped-code counter).

    An unmapped event keeps a distinct vendor id, so that a replay after a mapping fix is news
    rather than a duplicate of the `unknown` row it left in the history.
    """
    if status == UNKNOWN_EVENT_STATUS and event_id:
        event_id = f"{event_id}:unknown"
    extra = dict(fields.pop("extra", {}) or {})
    extra["source_code"] = source_code
    for key in ("description", "reason", "city", "region", "postcode", "signed_by", "carrier_code"):
        fields[key] = str(fields.get(key) or "")
    country = str(fields.get("country") or "").strip().upper()
    # Only ISO alpha-2 fits the timeline; an alpha-3 code is dropped rather than truncated wrongly.
    fields["country"] = country if len(country) == 2 else ""
    return TrackingEvent(status=status, event_id=event_id, extra=extra, **fields)


def store_inline_file(content: bytes, *, carrier: str, kind: str, extension: str = "jpg") -> str:
    """Save an inline proof image under its content hash (idempotent) and return its name."""
    digest = hashlib.sha256(content).hexdigest()
    name = f"carriers/pod/{carrier}/{kind}-{digest[:32]}.{extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(content))
    return name


def decode_inline_image(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise ParseError("inline image is not base64") from None


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
