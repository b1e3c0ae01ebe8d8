"""`generic`: our own documented JSON for 3PLs and in-house fleets, signed with Standard Webhooks.

Headers webhook-id, webhook-timestamp (unix seconds, 5-minute tolerance) and webhook-signature
(space-separated `v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`); the key is
the base64 part of a `whsec_...` secret. Body: {"events": [...]} as in carriers.schema.
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
    decimal_or_none,
    decode_inline_image,
    equal,
    load_json,
    make_event,
    need,
    require_secrets,
    store_inline_file,
)
from oms_notify.signing import standard_secret_key, standard_sign
from orders.statuses import EVENT_STATUSES
from orders.tracking import TrackingEvent


def secret_key(secret: str) -> bytes:
    return standard_secret_key(secret)


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value for one secret (used by the docs, tests and the benchmark)."""
    return standard_sign(secret, msg_id, timestamp, body)


class GenericAdapter(Adapter):
    name = "generic"

    def verify(self, request, secrets: list[str]) -> None:
        require_secrets(secrets)
        msg_id = request.headers.get("webhook-id")
        signature = request.headers.get("webhook-signature")
        if not msg_id or not signature:
            raise VerificationError("missing_signature")
        timestamp = request.headers.get("webhook-timestamp")
        check_timestamp(timestamp)
        given = [part.split(",", 1)[1] for part in signature.split() if part.startswith("v1,")]
        if not given:
            raise VerificationError("malformed_signature")
        for secret in secrets:
            expected = sign(secret, msg_id, timestamp, request.body).split(",", 1)[1]
            if any(equal(expected, candidate) for candidate in given):
                return
        raise VerificationError("invalid_signature")

    def delivery_id(self, headers: dict, body: bytes) -> str:
        msg_id = headers.get("webhook-id") or headers.get("Webhook-Id")
        return f"msg:{msg_id}" if msg_id else super().delivery_id(headers, body)

    def parse(self, body: bytes) -> list[TrackingEvent]:
        doc = load_json(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
            raise ParseError('expected {"events": [...]}')
        return [_parse_event(item, index) for index, item in enumerate(doc["events"])]


def _parse_event(item, index: int) -> TrackingEvent:
    if not isinstance(item, dict):
        raise ParseError(f"events[{index}] is not an object")
    status = str(need(item, "status"))
    occurred_at = aware(str(need(item, "occurred_at")))
    location = item.get("location") if isinstance(item.get("location"), dict) else {}
    proof = item.get("proof") if isinstance(item.get("proof"), dict) else {}
    signature_ref = str(proof.get("signature_url") or "")
    photo_ref = str(proof.get("photo_url") or "")
    # Extension: inline images (base64), stored as files like UPS photos.
    if proof.get("signature_base64"):
        signature_ref = store_inline_file(
            decode_inline_image(proof["signature_base64"]), carrier="generic", kind="signature", extension="png"
        )
    if proof.get("photo_base64"):
        photo_ref = store_inline_file(decode_inline_image(proof["photo_base64"]), carrier="generic", kind="photo")
    return make_event(
        carrier=carrier_slug(item.get("carrier")) or "generic",
        tracking_number=str(need(item, "tracking_number")),
        status=status if status in EVENT_STATUSES else "unknown",
        source_code=status,
        event_id=str(item.get("event_id") or ""),
        occurred_at=occurred_at,
        carrier_code=item.get("code") or status,
        reason=item.get("reason"),
        description=item.get("description"),
        city=location.get("city"),
        region=location.get("region"),
        postcode=location.get("postcode"),
        country=location.get("country"),
        latitude=decimal_or_none(item.get("latitude")),
        longitude=decimal_or_none(item.get("longitude")),
        estimated_delivery=date_only(item.get("estimated_delivery")),
        signed_by=proof.get("signed_by"),
        signature_ref=signature_ref,
        photo_ref=photo_ref,
        extra={"underlying_carrier": carrier_slug(item.get("carrier"))},
    )
