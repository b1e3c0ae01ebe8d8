"""Helpers for the order-source tests: vendor fixtures byte for byte, signed requests per source.

The published vectors pin the secrets: Shopify test_secret_key (shopify-app-js tests), WooCommerce
wc_test_secret (the .wire.txt note), Standard Webhooks whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import pytest

from oms_notify.signing import standard_sign

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHOPIFY_SECRET = "test_secret_key"
WC_SECRET = "wc_test_secret"
GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SHOP = "jsmith.myshopify.com"
WC_SITE = "https://example.com/"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def shopify_order(**changes) -> dict:
    payload = json.loads(fixture_bytes("shopify_orders_updated.json"))
    payload = copy.deepcopy(payload)
    payload.update(changes)
    return payload


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture(autouse=True)
def _source_secrets(settings):
    settings.SOURCE_WEBHOOK_SECRETS = {"shopify": SHOPIFY_SECRET, "woocommerce": WC_SECRET, "generic": GENERIC_SECRET}


def post_shopify(
    client,
    body: bytes | dict,
    *,
    topic: str = "orders/updated",
    webhook_id: str | None = None,
    shop: str = SHOP,
    secret: str = SHOPIFY_SECRET,
    signature: str | None = None,
    triggered_at: str = "",
):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    headers = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_HMAC_SHA256": signature if signature is not None else b64_hmac(secret, body),
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": shop,
        "HTTP_X_SHOPIFY_API_VERSION": "2026-07",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
    }
    if triggered_at:
        headers["HTTP_X_SHOPIFY_TRIGGERED_AT"] = triggered_at
    return client.post("/webhooks/sources/shopify/", data=body, content_type="application/json", **headers)


def post_woocommerce(
    client,
    body: bytes | dict,
    *,
    topic: str = "order.updated",
    delivery_id: str | None = None,
    secret: str = WC_SECRET,
    signature: str | None = None,
    site: str = WC_SITE,
):
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "HTTP_X_WC_WEBHOOK_TOPIC": topic,
        "HTTP_X_WC_WEBHOOK_RESOURCE": topic.split(".")[0],
        "HTTP_X_WC_WEBHOOK_EVENT": topic.split(".")[-1],
        "HTTP_X_WC_WEBHOOK_SIGNATURE": signature if signature is not None else b64_hmac(secret, body),
        "HTTP_X_WC_WEBHOOK_SOURCE": site,
        "HTTP_X_WC_WEBHOOK_ID": "42",
        "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id or uuid.uuid4().hex,
        "HTTP_USER_AGENT": "WooCommerce/9.0 Hookshot (WordPress/6.6)",
    }
    return client.post("/webhooks/sources/woocommerce/", data=body, content_type="application/json", **headers)


def post_generic(
    client,
    payload: dict | bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    secret: str = GENERIC_SECRET,
):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": standard_sign(secret, msg_id, timestamp, body),
    }
    return client.post("/webhooks/sources/generic/", data=body, content_type="application/json", **headers)


def generic_order(external_id: str = "SO-1", **changes) -> dict:
    order = {
        "external_id": external_id,
        "customer": {"name": "Grace Hopper", "email": "grace@example.com", "phone": "+14155550123"},
        "shipping_address": {"line1": "1 Navy Way", "city": "Arlington", "postcode": "22201", "country": "US"},
        "lines": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "9.99"}],
        "currency": "USD",
    }
    order.update(changes)
    return order
