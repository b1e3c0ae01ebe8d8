"""Taking personal data out of free text, JSON and raw payload bytes.

Payloads are scrubbed by an allow-list, not a deny-list: a vendor adds fields faster than we can
name the personal ones, so only values under keys known to be operational (ids, statuses, codes,
timestamps, tracking numbers) survive; every other value becomes null while the structure stays,
so a purged payload still shows what kind of message it was.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from privacy.registry import ERASED

EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# Only numbers written with a leading + (E.164): bare digit runs are order numbers and ids.
PHONE_RE = re.compile(r"\+\d[\d ().-]{2,}\d")

_KEEP_KEYS = frozenset(
    k.replace("-", "_").lower()
    for k in [
        # ids and references
        *["id", "object", "event", "event_id", "event_type", "type", "kind", "topic", "msg_id", "message_id"],
        *["sg_event_id", "sg_message_id", "smtp_id", "MessageSid", "SmsSid", "AccountSid", "ApiVersion"],
        *["shipment_id", "tracker_id", "webhook_id", "delivery_id", "order_number", "number", "order_id"],
        *["external_id", "public_id", "notification", "tracking_id"],
        # statuses and codes
        *["status", "status_detail", "substatus", "code", "carrier", "carrier_code", "slug", "tag", "subtag"],
        *["mode", "service", "servicelevel", "MessageStatus", "SmsStatus", "ErrorCode", "error_code"],
        *["financial_status", "fulfillment_status", "attempt", "attempt_no", "log_level", "severity"],
        *["is_return", "finalized", "test"],
        # tracking numbers and parcels (not personal on their own)
        *["tracking_code", "tracking_number", "trackingNumber", "sku", "quantity", "currency", "country"],
        "country_code",
        # times
        *["created_at", "updated_at", "datetime", "timestamp", "ts", "occurred_at", "checkpoint_time"],
        *["status_date", "eta", "est_delivery_date", "original_eta", "localActivityDate", "localActivityTime"],
        *["object_created", "object_updated"],
    ]
)

# Headers worth keeping after a purge: how it was signed and what it said it was, never who sent it.
_KEEP_HEADER_PARTS = ("signature", "hmac", "topic", "webhook-id", "webhook-timestamp", "delivery", "event", "content-")
_DROP_HEADER_PARTS = ("forwarded", "real-ip", "client-ip", "cookie", "authorization", "email", "phone", "user")

PURGED_HEADER = "X-Oms-Purged"


def _key(k: object) -> str:
    return str(k).replace("-", "_").lower()


def scrub_json(value: Any, *, keep: bool = False, also: frozenset[str] = frozenset()) -> Any:
    """Structure kept, values removed unless their key is known not to be personal (or in `also`)."""
    if isinstance(value, dict):
        return {k: scrub_json(v, keep=_key(k) in _KEEP_KEYS or k in also, also=also) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v, keep=keep, also=also) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if keep and isinstance(value, (int, float)):
        return value
    if keep and isinstance(value, str):
        # A kept key still gets no e-mail or phone (a "reason" can quote the address).
        return redact_text(value)
    return None


def scrub_bytes(body: bytes) -> bytes:
    """A raw payload, scrubbed: JSON keeps its structure inside a `_purged` wrapper, anything else is dropped.

    The wrapper is deliberate: a scrubbed payload must never parse as the original did, or a replay
    of a purged carrier webhook would record a second, emptied event (the carriers' event ids hash
    the description and place) and a retried intake would overwrite an order with blanks.
    """
    if not body:
        return b""
    try:
        doc = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return b""
    if isinstance(doc, dict) and set(doc) == {"_purged", "payload"}:
        return bytes(body)  # scrubbed already
    return json.dumps({"_purged": True, "payload": scrub_json(doc)}, separators=(",", ":")).encode()


def scrub_headers(headers: dict) -> dict:
    kept = {}
    for name, value in (headers or {}).items():
        low = str(name).lower()
        if name == PURGED_HEADER:
            kept[name] = value
            continue
        if any(part in low for part in _DROP_HEADER_PARTS):
            continue
        if any(part in low for part in _KEEP_HEADER_PARTS) or low in ("user-agent", "host"):
            kept[name] = redact_text(value) if isinstance(value, str) else value
    return kept


def purge_marker(body: bytes, *, at: str) -> str:
    """What the purge leaves about the original bytes: when, their size and their hash."""
    return f"at={at}; bytes={len(body)}; sha256={hashlib.sha256(bytes(body)).hexdigest()}"


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """The given personal values (name, e-mail, phone, street...) and anything like an e-mail or phone, removed."""
    if not text:
        return text
    for value in sorted({v for v in known if v and len(v) >= 3}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", ERASED, text, flags=re.IGNORECASE)
    text = EMAIL_RE.sub(ERASED, text)
    return PHONE_RE.sub(ERASED, text)
