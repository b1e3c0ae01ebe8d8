"""AfterShip `tracking_update`.

Signature: `aftership-hmac-sha256` = base64(HMAC-SHA256(secret, raw body)); no signed timestamp,
retries (~68 h) share `event_id`. Checkpoint times are the checkpoint's local time and often carry
no offset: read them in the zone of the checkpoint's country/state when we can tell it.
"""

from __future__ import annotations

from carriers.adapters.base import (
    Adapter,
    ParseError,
    aware,
    carrier_slug,
    check_base64_hmac,
    content_id,
    date_only,
    decimal_or_none,
    load_json,
    make_event,
    need,
)
from carriers.adapters.zones import local_zone
from orders.tracking import TrackingEvent

TAG_MAP = {
    "Pending": "info_received",
    "InfoReceived": "info_received",
    "InTransit": "in_transit",
    "OutForDelivery": "out_for_delivery",
    "AttemptFail": "attempt_failed",
    "Delivered": "delivered",
    "AvailableForPickup": "available_for_pickup",
    "Exception": "exception",
}
# Sub-tags that say more than their tag (AfterShip's published sub-status list).
SUBTAG_MAP = {
    "Exception_004": "delayed",  # delivery schedule changed / delayed
    "Exception_011": "returned_to_sender",
    "Exception_012": "delayed",
    "Exception_013": "delayed",
}


class AfterShipAdapter(Adapter):
    name = "aftership"
    aggregator = True

    def verify(self, request, secrets: list[str]) -> None:
        check_base64_hmac(request.headers.get("aftership-hmac-sha256"), request.body, secrets)

    def delivery_id(self, headers: dict, body: bytes) -> str:
        try:
            event_id = load_json(body).get("event_id")
        except (ParseError, AttributeError):
            event_id = None
        return f"evt:{event_id}" if isinstance(event_id, str) and event_id else super().delivery_id(headers, body)

    def parse(self, body: bytes) -> list[TrackingEvent]:
        doc = load_json(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("msg"), dict):
            raise ParseError("expected {event, msg}")
        if doc.get("event") not in ("tracking_update", None):
            return []
        msg = doc["msg"]
        tracking_number = str(need(msg, "tracking_number"))
        underlying = carrier_slug(msg.get("slug"))
        eta = date_only(msg.get("expected_delivery")) or date_only(
            (msg.get("courier_estimated_delivery_date") or {}).get("estimated_delivery_date")
            if isinstance(msg.get("courier_estimated_delivery_date"), dict)
            else None
        )
        checkpoints = msg.get("checkpoints") or []
        if not isinstance(checkpoints, list):
            raise ParseError("checkpoints is not a list")
        events = []
        for index, point in enumerate(checkpoints):
            if not isinstance(point, dict):
                raise ParseError("a checkpoint is not an object")
            tag = str(point.get("tag") or "")
            subtag = str(point.get("subtag") or "")
            status = SUBTAG_MAP.get(subtag) or TAG_MAP.get(tag, "unknown")
            country = point.get("country_region") or point.get("country_iso3") or ""
            zone = local_zone(country=country, region=point.get("state") or "")
            coordinates = point.get("coordinates") if isinstance(point.get("coordinates"), list) else []
            latest = index == len(checkpoints) - 1
            events.append(
                make_event(
                    carrier=carrier_slug(point.get("slug")) or underlying or "aftership",
                    tracking_number=tracking_number,
                    status=status,
                    source_code=tag or "(none)",
                    event_id=content_id(
                        tracking_number,
                        point.get("checkpoint_time"),
                        tag,
                        subtag,
                        point.get("message"),
                        point.get("location"),
                        point.get("city"),
                    ),
                    occurred_at=aware(need(point, "checkpoint_time"), local_zone=zone),
                    carrier_code=subtag or tag,
                    reason=point.get("subtag_message") or "",
                    description=point.get("message"),
                    city=point.get("city"),
                    region=point.get("state"),
                    postcode=point.get("zip"),
                    country=country,
                    latitude=decimal_or_none(coordinates[0]) if len(coordinates) == 2 else None,
                    longitude=decimal_or_none(coordinates[1]) if len(coordinates) == 2 else None,
                    estimated_delivery=eta if latest else None,
                    signed_by=msg.get("signed_by") if status == "delivered" else "",
                    extra={"underlying_carrier": underlying, "local_zone": zone},
                )
            )
        return events
