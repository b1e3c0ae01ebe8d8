"""EasyPost `tracker.updated` Events (and Tracker objects, as the poller fetches them).

Signature (official SDK `validate_webhook`): X-Hmac-Signature = "hmac-sha256-hex=" +
hex(HMAC-SHA256(NFKD(secret), raw body)). No timestamp: retries are caught by the Event id.
A Tracker carries its whole history on every update, so each TrackingDetail is deduped on a hash.
"""

from __future__ import annotations

import unicodedata

from carriers.adapters.base import (
    Adapter,
    ParseError,
    VerificationError,
    aware,
    carrier_slug,
    content_id,
    date_only,
    equal,
    hmac_sha256,
    load_json,
    make_event,
    need,
    require_secrets,
)
from orders.tracking import TrackingEvent

PREFIX = "hmac-sha256-hex="

STATUS_MAP = {
    "pre_transit": "info_received",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "available_for_pickup": "available_for_pickup",
    "return_to_sender": "returned_to_sender",
    "failure": "exception",
    "error": "exception",
    "cancelled": "cancelled",
}
# status_detail sharpens a few statuses (EasyPost's own sub-vocabulary).
DETAIL_MAP = {
    "delivery_attempted": "attempt_failed",
    "attempted_delivery": "attempt_failed",
    "weather_delay": "delayed",
    "delayed": "delayed",
    "return_to_sender": "returned_to_sender",
}


class EasyPostAdapter(Adapter):
    name = "easypost"
    aggregator = True

    def verify(self, request, secrets: list[str]) -> None:
        require_secrets(secrets)
        header = request.headers.get("X-Hmac-Signature")
        if not header:
            raise VerificationError("missing_signature")
        if not header.startswith(PREFIX):
            raise VerificationError("malformed_signature")
        given = header[len(PREFIX) :].strip().lower()
        body = request.body
        for secret in secrets:
            key = unicodedata.normalize("NFKD", secret).encode()
            if equal(hmac_sha256(key, body).hex(), given):
                return
        raise VerificationError("invalid_signature")

    def delivery_id(self, headers: dict, body: bytes) -> str:
        # Only an Event id names a delivery; a polled Tracker keeps its id across every poll.
        try:
            doc = load_json(body)
            event_id = doc.get("id") if doc.get("object") == "Event" else None
        except (ParseError, AttributeError):
            event_id = None
        return f"evt:{event_id}" if isinstance(event_id, str) and event_id else super().delivery_id(headers, body)

    def parse(self, body: bytes) -> list[TrackingEvent]:
        doc = load_json(body)
        if not isinstance(doc, dict):
            raise ParseError("expected a JSON object")
        if doc.get("object") == "Event":
            if not str(doc.get("description", "")).startswith("tracker."):
                return []  # another EasyPost event type (batch, refund...): nothing to track
            tracker = need(doc, "result")
        elif doc.get("object") == "Tracker":
            tracker = doc
        else:
            raise ParseError("neither an EasyPost Event nor a Tracker")
        return parse_tracker(tracker)


def parse_tracker(tracker: dict) -> list[TrackingEvent]:
    tracking_number = str(need(tracker, "tracking_code"))
    underlying = carrier_slug(tracker.get("carrier"))
    details = tracker.get("tracking_details") or []
    if not isinstance(details, list):
        raise ParseError("tracking_details is not a list")
    carrier_detail = tracker.get("carrier_detail") or {}
    eta = date_only(carrier_detail.get("est_delivery_date_local")) or date_only(tracker.get("est_delivery_date"))
    events = []
    for index, detail in enumerate(details):
        if not isinstance(detail, dict):
            raise ParseError("a tracking detail is not an object")
        status_code = str(detail.get("status") or "unknown")
        status_detail = str(detail.get("status_detail") or "")
        status = DETAIL_MAP.get(status_detail) or STATUS_MAP.get(status_code, "unknown")
        location = detail.get("tracking_location") or {}
        latest = index == len(details) - 1
        events.append(
            make_event(
                carrier=carrier_slug(detail.get("source")) or underlying or "easypost",
                tracking_number=tracking_number,
                status=status,
                source_code=status_code,
                event_id=content_id(
                    tracking_number,
                    detail.get("datetime"),
                    status_code,
                    status_detail,
                    detail.get("carrier_code"),
                    detail.get("message"),
                    location.get("city"),
                    location.get("zip"),
                ),
                occurred_at=aware(need(detail, "datetime")),
                carrier_code=detail.get("carrier_code") or status_code,
                reason=status_detail,
                description=detail.get("message") or detail.get("description"),
                city=location.get("city"),
                region=location.get("state"),
                postcode=location.get("zip"),
                country=location.get("country"),
                # The estimate belongs to the newest scan; older scans did not know it.
                estimated_delivery=eta if latest else None,
                signed_by=tracker.get("signed_by") if status == "delivered" else "",
                extra={"underlying_carrier": underlying, "tracker_id": tracker.get("id", "")},
            )
        )
    return events
