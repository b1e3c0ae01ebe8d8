"""`generic`: our documented JSON for CRMs, ERPs and in-house tools, signed with Standard Webhooks.

Headers webhook-id (the dedupe key), webhook-timestamp (unix seconds, 5-minute tolerance) and
webhook-signature (`v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`, space-separated; the key is
the base64 part of a `whsec_` secret). Bodies (see orders/sources/schema.py and docs/sources.md):

  {"type": "order.created" | "order.updated", "account": "...", "occurred_at": "...",
   "order": <the POST /api/v1/orders/ body>}
  {"type": "order.status_changed", "account": "...", "occurred_at": "...",
   "external_id": "...", "transition": "confirm|start_processing|cancel|...", "reason": "..."}
"""

from __future__ import annotations

import time

from django.conf import settings

from oms_notify.signing import standard_signature_matches
from orders.sources.base import Adapter, Intake, ParseError, VerificationError, aware, header, load_json

TOPICS = ("order.created", "order.updated", "order.status_changed")
# Sources that have their own signed endpoint: the generic one may not file orders under them.
RESERVED_SOURCES = {"shopify", "woocommerce", "api"}


class GenericAdapter(Adapter):
    name = "generic"

    def topic(self, headers: dict, payload) -> str:
        return str(payload.get("type") or "") if isinstance(payload, dict) else ""

    def account_identifier(self, headers: dict, body: bytes) -> str:
        try:
            payload = load_json(body)
        except ParseError:
            return ""
        return str(payload.get("account") or "").strip()[:200] if isinstance(payload, dict) else ""

    def delivery_id(self, headers: dict, body: bytes) -> str:
        msg_id = header(headers, "webhook-id")
        return f"msg:{msg_id}"[:200] if msg_id else super().delivery_id(headers, body)

    def verify(self, headers: dict, body: bytes, secrets: list[str]) -> None:
        if not secrets:
            raise VerificationError("no_secret_configured")
        msg_id, timestamp = header(headers, "webhook-id"), header(headers, "webhook-timestamp")
        signature = header(headers, "webhook-signature")
        if not msg_id or not signature:
            raise VerificationError("missing_signature")
        if not timestamp:
            raise VerificationError("missing_timestamp")
        try:
            sent = int(timestamp)
        except ValueError:
            raise VerificationError("malformed_timestamp") from None
        if abs(time.time() - sent) > settings.SOURCE_SIGNATURE_TOLERANCE_SECONDS:
            raise VerificationError("stale_timestamp")
        if not standard_signature_matches(
            msg_id=msg_id, timestamp=timestamp, signature_header=signature, body=body, secrets=secrets
        ):
            raise VerificationError("invalid_signature")

    def parse(self, topic: str, payload, headers: dict) -> Intake:
        if not isinstance(payload, dict):
            raise ParseError("expected a JSON object")
        if topic not in TOPICS:
            raise ParseError(f"type must be one of {', '.join(TOPICS)}")
        account = str(payload.get("account") or "").strip()[:200]
        occurred_at = aware(payload.get("occurred_at"))
        if topic == "order.status_changed":
            source = str(payload.get("source") or self.name)
            if source in RESERVED_SOURCES:
                raise ParseError(f"source {source!r} has its own endpoint")
            if not payload.get("external_id") or not payload.get("transition"):
                raise ParseError("order.status_changed needs external_id and transition")
            return Intake(
                kind="order",
                external_id=str(payload["external_id"])[:200],
                source_account=account,
                order_source=source,
                transitions=[str(payload["transition"])],
                reason=str(payload.get("reason") or "")[:500],
                source_updated_at=occurred_at,
                strict=True,
            )
        order = payload.get("order")
        if not isinstance(order, dict) or not order.get("external_id"):
            raise ParseError("order.created/order.updated need an order with an external_id")
        order = {**order, "source": str(order.get("source") or self.name), "source_account": account}
        if order["source"] in RESERVED_SOURCES:
            raise ParseError(f"source {order['source']!r} has its own endpoint")
        return Intake(
            kind="order",
            external_id=str(order["external_id"])[:200],
            source_account=account,
            order_source=order["source"],
            order=order,
            transitions=[str(t) for t in payload.get("transitions") or []][:5],
            reason=str(payload.get("reason") or f"generic {topic}")[:500],
            source_updated_at=occurred_at,
        )
