"""FedEx Advanced Integrated Visibility webhooks.

Signature: `fdx-signature` = base64(HMAC-SHA256(security token, raw body)); no timestamp.
FedEx published no sample body: its docs say the payload matches the Track API response
(`output.completeTrackResults[].trackResults[]` with `scanEvents[]`), so that is what we parse.
FedEx has no per-delivery id either: deliveries dedupe on the body hash, scans on their content.
"""

from __future__ import annotations

from carriers.adapters.base import (
    Adapter,
    ParseError,
    aware,
    check_base64_hmac,
    content_id,
    date_only,
    load_json,
    make_event,
)
from orders.tracking import TrackingEvent

# scanEvents[].eventType / derivedStatusCode (Track API status codes).
CODE_MAP = {
    "OC": "info_received",
    "IP": "info_received",
    "PU": "in_transit",
    "AR": "in_transit",
    "AF": "in_transit",
    "DP": "in_transit",
    "IT": "in_transit",
    "OF": "in_transit",
    "FD": "in_transit",
    "AA": "in_transit",
    "AD": "in_transit",
    "CC": "in_transit",
    "PM": "in_transit",
    "OD": "out_for_delivery",
    "DL": "delivered",
    "DE": "attempt_failed",
    "DY": "delayed",
    "DD": "delayed",
    "CD": "delayed",
    "SE": "exception",
    "HL": "available_for_pickup",
    "HP": "available_for_pickup",
    "RS": "returned_to_sender",
    "RP": "returned_to_sender",
    "CA": "cancelled",
}


class FedExAdapter(Adapter):
    name = "fedex"

    def verify(self, request, secrets: list[str]) -> None:
        check_base64_hmac(request.headers.get("fdx-signature"), request.body, secrets)

    def parse(self, body: bytes) -> list[TrackingEvent]:
        doc = load_json(body)
        output = doc.get("output") if isinstance(doc, dict) else None
        if not isinstance(output, dict) or not isinstance(output.get("completeTrackResults"), list):
            raise ParseError("expected output.completeTrackResults[] (Track API response)")
        events: list[TrackingEvent] = []
        for complete in output["completeTrackResults"]:
            for result in complete.get("trackResults") or []:
                events.extend(_parse_result(result, complete.get("trackingNumber")))
        return events


def _parse_result(result: dict, fallback_number: str | None) -> list[TrackingEvent]:
    info = result.get("trackingNumberInfo") or {}
    tracking_number = str(info.get("trackingNumber") or fallback_number or "")
    if not tracking_number:
        raise ParseError("missing trackingNumber")
    if result.get("error"):
        return []  # a Track API "not found" result carries no scans
    eta = None
    for item in result.get("dateAndTimes") or []:
        if item.get("type") in ("ESTIMATED_DELIVERY", "APPOINTMENT_DELIVERY"):
            eta = date_only(item.get("dateTime"))  # the local calendar day, not UTC
    window = (result.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
    eta = eta or date_only(window.get("ends"))
    delivery = result.get("deliveryDetails") or {}
    scans = result.get("scanEvents") or []
    if not isinstance(scans, list):
        raise ParseError("scanEvents is not a list")
    ordered = sorted(scans, key=lambda scan: str(scan.get("date") or ""))
    events = []
    for index, scan in enumerate(ordered):
        code = str(scan.get("derivedStatusCode") or scan.get("eventType") or "")
        status = CODE_MAP.get(str(scan.get("eventType") or ""), CODE_MAP.get(code, "unknown"))
        location = scan.get("scanLocation") or {}
        if not scan.get("date"):
            raise ParseError("a scan event has no date")
        events.append(
            make_event(
                carrier="fedex",
                tracking_number=tracking_number,
                status=status,
                source_code=str(scan.get("eventType") or code),
                event_id=content_id(
                    tracking_number,
                    scan.get("date"),
                    scan.get("eventType"),
                    code,
                    scan.get("eventDescription"),
                    location.get("city"),
                    location.get("postalCode"),
                ),
                occurred_at=aware(scan["date"]),
                carrier_code=scan.get("eventType") or code,
                reason=scan.get("exceptionDescription") or "",
                description=scan.get("eventDescription"),
                city=location.get("city"),
                region=location.get("stateOrProvinceCode"),
                postcode=location.get("postalCode"),
                country=location.get("countryCode"),
                estimated_delivery=eta if index == len(ordered) - 1 else None,
                signed_by=(delivery.get("receivedByName") or delivery.get("signedByName"))
                if status == "delivered"
                else "",
            )
        )
    return events
