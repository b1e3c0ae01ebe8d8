"""UPS Track Alert (TrackingEvent push).

No HMAC: UPS presents the opaque `credential` header we set on the subscription (v1) or a bearer
token (v2). Both are compared in constant time with the configured secrets. Times are local with
no offset unless gmtActivityDate/Time + gmtOffset come along; delivery photos arrive inline as
base64 and are stored as files.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, timezone

from carriers.adapters.base import (
    Adapter,
    ParseError,
    VerificationError,
    content_id,
    decode_inline_image,
    equal,
    load_json,
    make_event,
    need,
    require_secrets,
    store_inline_file,
)
from carriers.adapters.zones import local_zone
from orders.tracking import TrackingEvent

# activityStatus.type
TYPE_MAP = {
    "M": "info_received",  # manifest / label created
    "MV": "cancelled",  # manifest voided
    "P": "in_transit",  # picked up
    "I": "in_transit",
    "D": "delivered",
    "X": "exception",
    "RS": "returned_to_sender",
}
# Descriptions that say more than the type (the codes vary by origin system; the text does not).
KEYWORDS = [
    ("out for delivery", "out_for_delivery"),
    ("returned to sender", "returned_to_sender"),
    ("return to sender", "returned_to_sender"),
    ("attempt", "attempt_failed"),
    ("access point", "available_for_pickup"),
    ("ready for pickup", "available_for_pickup"),
    ("delay", "delayed"),
]


class UPSAdapter(Adapter):
    name = "ups"

    def verify(self, request, secrets: list[str]) -> None:
        require_secrets(secrets)
        presented = request.headers.get("credential")
        if not presented:
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                presented = auth[7:].strip()
        if not presented:
            raise VerificationError("missing_credential")
        if not any(equal(presented, s) for s in secrets):
            raise VerificationError("invalid_credential")

    def parse(self, body: bytes) -> list[TrackingEvent]:
        doc = load_json(body)
        if not isinstance(doc, dict):
            raise ParseError("expected a JSON object")
        tracking_number = str(need(doc, "trackingNumber"))
        activity = need(doc, "activityStatus")
        kind = str(activity.get("type") or "")
        description = str(activity.get("description") or "")
        status = TYPE_MAP.get(kind, "unknown")
        if status in ("in_transit", "exception"):
            lowered = description.lower()
            status = next((target for word, target in KEYWORDS if word in lowered), status)
        location = doc.get("activityLocation") or {}
        occurred_at, zone = _occurred_at(doc, location)
        photo_ref = ""
        if doc.get("deliveryPhoto"):
            photo_ref = store_inline_file(decode_inline_image(doc["deliveryPhoto"]), carrier="ups", kind="photo")
        return [
            make_event(
                carrier="ups",
                tracking_number=tracking_number,
                status=status,
                source_code=f"{kind}/{activity.get('code') or ''}",
                event_id=content_id(
                    tracking_number,
                    doc.get("localActivityDate"),
                    doc.get("localActivityTime"),
                    kind,
                    activity.get("code"),
                    description,
                    location.get("city"),
                    location.get("postalCode"),
                ),
                occurred_at=occurred_at,
                carrier_code=activity.get("code") or kind,
                reason=kind,
                description=description,
                city=location.get("city"),
                region=location.get("stateProvince"),
                postcode=location.get("postalCode"),
                country=location.get("country"),
                estimated_delivery=_yyyymmdd(doc.get("scheduledDeliveryDate")),
                signed_by=doc.get("receivedBy") if status == "delivered" else "",
                photo_ref=photo_ref,
                extra={"local_zone": zone, "alternate_tracking_number": doc.get("alternateTrackingNumber", "")},
            )
        ]


def _occurred_at(doc: dict, location: dict) -> tuple[datetime, str]:
    """GMT fields when present; otherwise the local time read in the scan location's zone."""
    gmt_date, gmt_time = doc.get("gmtActivityDate"), doc.get("gmtActivityTime")
    if gmt_date and gmt_time:
        return _compose(gmt_date, gmt_time, UTC), "UTC"
    local_date, local_time = need(doc, "localActivityDate"), doc.get("localActivityTime") or "000000"
    offset = _offset(doc.get("gmtOffset"))
    if offset is not None:
        return _compose(local_date, local_time, offset), str(offset)
    zone = local_zone(country=location.get("country", ""), region=location.get("stateProvince", ""))
    return _compose(local_date, local_time, zoneinfo.ZoneInfo(zone)), zone


def _compose(day: str, clock: str, tz) -> datetime:
    try:
        return datetime.strptime(f"{day}{clock.zfill(6)}", "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        raise ParseError(f"bad UPS date/time {day!r} {clock!r}") from None


def _offset(value) -> timezone | None:
    """'-04:00', '-0400' or '-4' -> a fixed offset."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace(":", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not digits.isdigit():
        return None
    hours, minutes = (int(digits[:-2] or 0), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _yyyymmdd(value):
    if not value or not isinstance(value, str) or len(value) != 8:
        return None
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None
