"""Shopify: orders/create, orders/updated, orders/cancelled, fulfillments/create, fulfillments/update.

X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(app client secret, raw body)); no signed timestamp, so
no replay window: deliveries are deduplicated on X-Shopify-Webhook-Id and a payload older than
the one we hold (updated_at, then X-Shopify-Triggered-At) never overwrites it. The topic comes
from X-Shopify-Topic, the account from X-Shopify-Shop-Domain.
"""

from __future__ import annotations

from orders.sources.base import (
    Adapter,
    Fulfillment,
    Intake,
    ParseError,
    aware,
    header,
    merge_lines,
    money,
    phone_e164,
    text,
)

ORDER_TOPICS = {"orders/create", "orders/updated", "orders/cancelled", "orders/paid", "orders/edited"}
FULFILLMENT_TOPICS = {"fulfillments/create", "fulfillments/update"}
# Financial statuses that mean the order was accepted: our "confirm".
_CONFIRMING = {"paid", "partially_paid", "authorized"}
# Shopify's parcel status (fulfillment.shipment_status) -> our tracking vocabulary.
SHIPMENT_STATUS = {
    "confirmed": "info_received",
    "label_printed": "info_received",
    "label_purchased": "info_received",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "available_for_pickup",
    "attempted_delivery": "attempt_failed",
    "delayed": "delayed",
    "failure": "exception",
    "delivered": "delivered",
}


def _sku(item: dict) -> str:
    sku = text(item.get("sku"), 100)
    if sku:
        return sku
    # Custom items and products without a SKU: the variant (or line) id keeps the line addressable.
    return f"SHOPIFY-{item.get('variant_id') or item.get('id')}"[:100]


class ShopifyAdapter(Adapter):
    name = "shopify"
    signature_header = "X-Shopify-Hmac-Sha256"

    def topic(self, headers: dict, payload) -> str:
        return header(headers, "X-Shopify-Topic")

    def account_identifier(self, headers: dict, body: bytes) -> str:
        return header(headers, "X-Shopify-Shop-Domain").strip().lower()[:200]

    def delivery_id(self, headers: dict, body: bytes) -> str:
        webhook_id = header(headers, "X-Shopify-Webhook-Id")
        return f"wh:{webhook_id}"[:200] if webhook_id else super().delivery_id(headers, body)

    def parse(self, topic: str, payload, headers: dict) -> Intake:
        if not isinstance(payload, dict):
            raise ParseError("expected a JSON object")
        account = self.account_identifier(headers, b"")
        triggered_at = aware(header(headers, "X-Shopify-Triggered-At"))
        if topic in FULFILLMENT_TOPICS:
            return self._fulfillment(payload, account, triggered_at)
        if topic not in ORDER_TOPICS:
            return Intake(kind="ignore", notes=[f"topic {topic or '(none)'} is not an order topic"])
        if payload.get("id") in (None, ""):
            raise ParseError("missing field id")
        transitions: list[str] = []
        if topic == "orders/cancelled" or payload.get("cancelled_at"):
            transitions.append("cancel")
        elif payload.get("financial_status") in _CONFIRMING:
            transitions.append("confirm")
        return Intake(
            kind="order",
            external_id=str(payload["id"]),
            source_account=account,
            order_source=self.name,
            order=_order_body(payload, account),
            transitions=transitions,
            reason=f"shopify {topic}" + (f": {payload['cancel_reason']}" if payload.get("cancel_reason") else ""),
            source_updated_at=aware(payload.get("updated_at")) or triggered_at,
        )

    def _fulfillment(self, payload: dict, account: str, triggered_at) -> Intake:
        if payload.get("order_id") in (None, ""):
            raise ParseError("missing field order_id")
        numbers = [str(n).strip() for n in payload.get("tracking_numbers") or [] if n]
        if not numbers and payload.get("tracking_number"):
            numbers = [str(payload["tracking_number"]).strip()]
        lines = [
            (_sku(item), int(item.get("quantity") or 0))
            for item in payload.get("line_items") or []
            if isinstance(item, dict) and int(item.get("quantity") or 0) > 0
        ]
        return Intake(
            kind="fulfillment",
            external_id=str(payload["order_id"]),
            source_account=account,
            order_source=self.name,
            source_updated_at=aware(payload.get("updated_at")) or triggered_at,
            fulfillment=Fulfillment(
                order_external_id=str(payload["order_id"]),
                fulfillment_id=str(payload.get("id") or ""),
                carrier=text(payload.get("tracking_company"), 40),
                tracking_numbers=numbers,
                lines=lines,
                status=str(payload.get("status") or ""),
                shipment_status=str(payload.get("shipment_status") or ""),
                occurred_at=aware(payload.get("updated_at")) or aware(payload.get("created_at")) or triggered_at,
            ),
        )


def _order_body(payload: dict, account: str) -> dict:
    """The POST /api/v1/orders/ body for a Shopify order (validated by the API's own serializer)."""
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    address = payload.get("shipping_address") or payload.get("billing_address") or {}
    country = str(address.get("country_code") or "")
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or text(
        address.get("name"), 200
    )
    email = payload.get("email") or payload.get("contact_email") or customer.get("email") or ""
    phone = phone_e164(payload.get("phone") or customer.get("phone") or address.get("phone"), country)
    lines = [
        {
            "sku": _sku(item),
            "name": text(item.get("name") or item.get("title"), 300) or _sku(item),
            "quantity": int(item.get("quantity") or 0),
            "unit_price": money(item.get("price")) or "0.00",
        }
        for item in payload.get("line_items") or []
        if isinstance(item, dict) and int(item.get("quantity") or 0) > 0
    ]
    body = {
        "source": "shopify",
        "source_account": account,
        "external_id": str(payload["id"]),
        "source_number": text(payload.get("name") or payload.get("order_number"), 100),
        "customer": {
            "name": text(name, 200) or str(email),
            "email": str(email),
            "phone": phone,
            "locale": text(payload.get("customer_locale"), 10),
        },
        "shipping_address": {
            "name": text(address.get("name"), 200),
            "line1": text(address.get("address1"), 200),
            "line2": text(address.get("address2"), 200),
            "city": text(address.get("city"), 100),
            "region": text(address.get("province_code") or address.get("province"), 100),
            "postcode": text(address.get("zip"), 20),
            "country": country,
        },
        "lines": [{**line, "unit_price": str(line["unit_price"])} for line in merge_lines(lines)],
        "currency": str(payload.get("currency") or ""),
        "placed_at": payload.get("created_at") or payload.get("processed_at"),
    }
    total = money(payload.get("total_price"))
    if total is not None:
        body["total"] = str(total)
    if address.get("latitude") is not None and address.get("longitude") is not None:
        body["shipping_address"]["latitude"] = address["latitude"]
        body["shipping_address"]["longitude"] = address["longitude"]
    if not body["placed_at"]:
        body.pop("placed_at")
    return body
