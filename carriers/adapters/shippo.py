"""Shippo `track_updated`.

Shippo signs only on request: `Shippo-Auth-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>` with our 5-minute tolerance. Without HMAC, the documented alternative is a
`?token=` in the webhook URL, compared in constant time with the same secret.
"""

from __future__ import annotations

from carriers.adapters.base import (
    Adapter,
    ParseError,
    VerificationError,
    aware,
    carrier_slug,
    check_timestamp,
    date_only,
    equal,
    hmac_sha256,
    load_json,
    make_event,
    need,
    require_secrets,
)
from orders.tracking import TrackingEvent

STATUS_MAP = {
    "PRE_TRANSIT": "info_received",
    "TRANSIT": "in_transit",
    "DELIVERED": "delivered",
    "RETURNED": "returned_to_sender",
    "FAILURE": "exception",
}
# Substatus codes refine only statuses that leave room for it (never a DELIVERED).
SUBSTATUS_MAP = {
    "out_for_delivery": "out_for_delivery",
    "delivery_attempted": "attempt_failed",
    "package_available_for_pickup": "available_for_pickup",
    "pickup_available": "available_for_pickup",
    "package_delayed": "delayed",
    "delayed": "delayed",
    "return_to_sender": "returned_to_sender",
    "package_undeliverable": "exception",
}
REFINABLE = {"TRANSIT", "FAILURE", "UNKNOWN"}


class ShippoAdapter(Adapter):
    name = "shippo"
    aggregator = True

    def verify(self, request, secrets: list[str]) -> None:
        require_secrets(secrets)
        header = request.headers.get("Shippo-Auth-Signature")
        if header:
            items = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
            timestamp = next((value for key, value in items if key == "t"), None)
            signatures = [value for key, value in items if key == "v1"]
            if not signatures:
                raise VerificationError("malformed_signature")
            check_timestamp(timestamp)
            signed = f"{timestamp}.".encode() + request.body
            expected = [hmac_sha256(s.encode(), signed).hex() for s in secrets]
            if any(equal(e, given.strip().lower()) for e in expected for given in signatures):
                return
            raise VerificationError("invalid_signature")
        token = request.GET.get("token")
        if not token:
            raise VerificationError("missing_signature")
        if not any(equal(token, s) for s in secrets):
            raise VerificationError("invalid_token")

    def parse(self, body: bytes) -> list[TrackingEvent]:
        doc = load_json(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            raise ParseError("expected {event, data}")
        if doc.get("event") not in ("track_updated", None):
            return []
        data = doc["data"]
        tracking_number = str(need(data, "tracking_number"))
        underlying = carrier_slug(data.get("carrier"))
        eta = date_only(data.get("eta"))
        history = list(data.get("tracking_history") or [])
        if isinstance(data.get("tracking_status"), dict):
            history.append(data["tracking_status"])  # the newest; a repeat of history dedupes away
        events = []
        for index, item in enumerate(history):
            if not isinstance(item, dict):
                raise ParseError("a tracking history entry is not an object")
            code = str(item.get("status") or "UNKNOWN")
            substatus = item.get("substatus") or {}
            sub_code = str(substatus.get("code") or "") if isinstance(substatus, dict) else ""
            status = STATUS_MAP.get(code, "unknown")
            if code in REFINABLE and sub_code in SUBSTATUS_MAP:
                status = SUBSTATUS_MAP[sub_code]
            location = item.get("location") or {}
            events.append(
                make_event(
                    carrier=underlying or "shippo",
                    tracking_number=tracking_number,
                    status=status,
                    source_code=code,
                    event_id=str(item.get("object_id") or ""),
                    occurred_at=aware(need(item, "status_date")),
                    carrier_code=code,
                    reason=sub_code,
                    description=item.get("status_details"),
                    city=location.get("city"),
                    region=location.get("state"),
                    postcode=location.get("zip"),
                    country=location.get("country"),
                    estimated_delivery=eta if index == len(history) - 1 else None,
                    extra={"underlying_carrier": underlying},
                )
            )
        return events
