"""Shared helpers: vendor fixtures (copied byte for byte from ../shared/fixtures), signing, shipments.

The published vectors pin the secrets: EasyPost "sécret" (NFKD), Shippo shippo_test_hmac_secret,
AfterShip aftership_test_webhook_secret, Standard Webhooks whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from carriers import services
from carriers.adapters import generic
from orders import services as order_services
from tests.factories import make_order

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "carriers"

SECRETS = {
    "easypost": "s\u00e9cret",
    "shippo": "shippo_test_hmac_secret",
    "aftership": "aftership_test_webhook_secret",
    "ups": "ups-credential-for-tests",
    "fedex": "fedex-security-token-for-tests",
    "generic": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_headers(carrier: str, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> dict:
    """Headers exactly as each carrier signs (see the fixtures' .source.txt)."""
    secret = SECRETS[carrier] if secret is None else secret
    timestamp = int(time.time()) if timestamp is None else timestamp
    if carrier == "easypost":
        import unicodedata

        key = unicodedata.normalize("NFKD", secret).encode()
        return {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()}
    if carrier == "shippo":
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Shippo-Auth-Signature": f"t={timestamp},v1={digest}"}
    if carrier == "aftership":
        return {"aftership-hmac-sha256": b64_hmac(secret, body), "as-webhook-version": "2026-07"}
    if carrier == "fedex":
        return {"fdx-signature": b64_hmac(secret, body)}
    if carrier == "ups":
        return {"credential": secret}
    if carrier == "generic":
        msg_id = "msg_" + hashlib.sha256(body).hexdigest()[:20]
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": generic.sign(secret, msg_id, timestamp, body),
        }
    raise AssertionError(carrier)


@pytest.fixture(autouse=True)
def carrier_settings(settings, tmp_path):
    settings.CARRIER_WEBHOOK_SECRETS = dict(SECRETS)
    settings.CARRIER_PROCESS_INLINE = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FIELD_ENCRYPTION_KEY = "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c="
    services.secrets_cache_clear()
    yield settings
    services.secrets_cache_clear()


@pytest.fixture
def post(client):
    def _post(carrier: str, body: bytes, headers: dict | None = None, *, account: str = "", query: str = ""):
        path = f"/webhooks/carriers/{carrier}/" + (f"{account}/" if account else "") + query
        return client.generic("POST", path, data=body, content_type="application/json", headers=headers or {})

    return _post


def make_shipment(*, carrier: str, tracking_number: str, dispatched: bool = True, brand=None, **order_kwargs):
    """A shipment on a confirmed, in-process order, handed to the carrier unless told otherwise."""
    order = make_order(inventory_allocated=True, brand=brand, **order_kwargs)
    order_services.order_transition(order=order, transition="confirm", source="api")
    order_services.order_transition(order=order, transition="start_processing", source="api")
    shipment = order_services.shipment_create(
        order=order, carrier=carrier, tracking_number=tracking_number, source="api"
    )
    if dispatched:
        order_services.order_transition(order=order, transition="dispatch", source="api")
    shipment.refresh_from_db()
    return shipment


def generic_body(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()
