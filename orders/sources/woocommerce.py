"""WooCommerce: order.created, order.updated (and order.deleted/restored, ignored).

X-WC-Webhook-Signature = base64(HMAC-SHA256(secret, body)) over the exact bytes WordPress sent:
wp_json_encode escapes "/" as "\\/" and non-ASCII as \\uXXXX, so the body is never re-serialised
before checking. No timestamp: deliveries are deduplicated on X-WC-Webhook-Delivery-ID and a
payload older than what we hold (date_modified_gmt) never overwrites it. When a webhook is
created WooCommerce pings the URL with an unsigned form body `webhook_id=<id>`: answered 200.
"""

from __future__ import annotations

import re
from decimal import Decimal

from orders.sources.base import (
    Adapter,
    Intake,
    ParseError,
    aware,
    header,
    merge_lines,
    money,
    phone_e164,
    text,
)

_PING = re.compile(rb"^webhook_id=\d+$")
# WooCommerce order status -> our moves. pending/on-hold wait for payment: nothing to do.
STATUS_MOVES = {
    "processing": ["confirm"],
    "completed": ["confirm"],
    "cancelled": ["cancel"],
    "refunded": ["cancel"],
    "failed": ["cancel"],
}


def _sku(item: dict) -> str:
    sku = text(item.get("sku"), 100)
    if sku:
        return sku
    variation = item.get("variation_id") or 0
    return (f"WC-{item.get('product_id')}-{variation}" if variation else f"WC-{item.get('product_id')}")[:100]


class WooCommerceAdapter(Adapter):
    name = "woocommerce"
    signature_header = "X-WC-Webhook-Signature"

    def topic(self, headers: dict, payload) -> str:
        return header(headers, "X-WC-Webhook-Topic")

    def account_identifier(self, headers: dict, body: bytes) -> str:
        return header(headers, "X-WC-Webhook-Source").strip().rstrip("/").lower()[:200]

    def delivery_id(self, headers: dict, body: bytes) -> str:
        delivery = header(headers, "X-WC-Webhook-Delivery-ID")
        return f"dl:{delivery}"[:200] if delivery else super().delivery_id(headers, body)

    def is_ping(self, headers: dict, body: bytes) -> bool:
        return not header(headers, "X-WC-Webhook-Signature") and bool(_PING.match(body.strip()))

    def parse(self, topic: str, payload, headers: dict) -> Intake:
        if topic not in ("order.created", "order.updated"):
            return Intake(kind="ignore", notes=[f"topic {topic or '(none)'} is not handled"])
        if not isinstance(payload, dict) or payload.get("id") in (None, ""):
            raise ParseError("expected an order object with an id")
        account = self.account_identifier(headers, b"")
        status = str(payload.get("status") or "")
        return Intake(
            kind="order",
            external_id=str(payload["id"]),
            source_account=account,
            order_source=self.name,
            order=_order_body(payload, account),
            transitions=list(STATUS_MOVES.get(status, [])),
            reason=f"woocommerce {topic}: status {status}",
            source_updated_at=aware(payload.get("date_modified_gmt"), naive_is_utc=True)
            or aware(payload.get("date_modified")),
        )


def _unit_price(item: dict) -> Decimal:
    quantity = int(item.get("quantity") or 0)
    subtotal = money(item.get("subtotal"))
    if subtotal is not None and quantity:
        return (subtotal / quantity).quantize(Decimal("0.01"))
    return money(item.get("price")) or Decimal("0.00")


def _order_body(payload: dict, account: str) -> dict:
    billing = payload.get("billing") if isinstance(payload.get("billing"), dict) else {}
    shipping = payload.get("shipping") if isinstance(payload.get("shipping"), dict) else {}
    # Virtual goods have no shipping address: the billing address is where the customer is.
    address = shipping if shipping.get("address_1") else billing
    country = str(address.get("country") or "")
    name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p)
    ship_name = " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p)
    lines = [
        {
            "sku": _sku(item),
            "name": text(item.get("name"), 300) or _sku(item),
            "quantity": int(item.get("quantity") or 0),
            "unit_price": _unit_price(item),
        }
        for item in payload.get("line_items") or []
        if isinstance(item, dict) and int(item.get("quantity") or 0) > 0
    ]
    placed = aware(payload.get("date_created_gmt"), naive_is_utc=True)
    body = {
        "source": "woocommerce",
        "source_account": account,
        "external_id": str(payload["id"]),
        "source_number": text(payload.get("number"), 100),
        "customer": {
            "name": text(name, 200) or str(billing.get("email") or ""),
            "email": str(billing.get("email") or ""),
            "phone": phone_e164(billing.get("phone"), str(billing.get("country") or country)),
        },
        "shipping_address": {
            "name": text(ship_name, 200),
            "line1": text(address.get("address_1"), 200),
            "line2": text(address.get("address_2"), 200),
            "city": text(address.get("city"), 100),
            "region": text(address.get("state"), 100),
            "postcode": text(address.get("postcode"), 20),
            "country": country,
        },
        "lines": [{**line, "unit_price": str(line["unit_price"])} for line in merge_lines(lines)],
        "currency": str(payload.get("currency") or ""),
    }
    total = money(payload.get("total"))
    if total is not None:
        body["total"] = str(total)
    if placed is not None:
        body["placed_at"] = placed.isoformat()
    return body
