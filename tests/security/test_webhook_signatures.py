"""Every inbound webhook refuses a missing, a wrong and (where the scheme signs a time) a stale signature.

One table covers every route under /webhooks/: carriers, order sources and provider receipts. A new
webhook route that is not in the table fails the first test, so none can be added unchecked. Each
row also proves that a correct signature is accepted, so a refusal here is about the signature.
The per-area suites test the details (rotation, accounts, published vectors); this is the roll call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import URLPattern, URLResolver, get_resolver
from twilio.request_validator import RequestValidator

from carriers import services as carrier_services
from carriers.models import RawWebhook
from notifications.models import ProviderReceipt
from oms_notify.signing import standard_sign
from orders.sources.models import RawIntake
from tests.carriers.conftest import SECRETS as CARRIER_SECRETS
from tests.carriers.conftest import signed_headers
from tests.carriers.test_signatures import VENDOR_BODIES
from tests.sources.conftest import GENERIC_SECRET, SHOPIFY_SECRET, WC_SECRET, b64_hmac, generic_order, shopify_order

pytestmark = pytest.mark.django_db

SITE = "https://track.example.test"  # SITE_URL in tests/settings.py: Twilio and MessageBird sign it
TWILIO_TOKEN = "twilio-test-token"
WHATSAPP_SECRET = "whatsapp-app-secret"
MAILGUN_KEY = "mailgun-signing-key"
MESSAGEBIRD_KEY = "messagebird-signing-key"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
HOUR_AGO = lambda: int(time.time()) - 3600  # noqa: E731 - well past every tolerance (5 to 15 minutes)


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes = b""
    headers: dict | None = None
    content_type: str = "application/json"
    method: str = "POST"


@dataclass(frozen=True)
class Hook:
    """One webhook route and how its sender signs: sign(secret, timestamp) -> Request; None drops it."""

    route: str
    sign: Callable[[str | None, int | None], Request]
    secret: str
    stale: bool  # whether the vendor's scheme signs a time at all


# --- how each sender signs ------------------------------------------------------------------------


def carrier(name: str) -> Callable[[str | None, int | None], Request]:
    def sign(secret, timestamp):
        body = VENDOR_BODIES[name]()
        headers = {} if secret is None else signed_headers(name, body, secret=secret, timestamp=timestamp)
        return Request(f"/webhooks/carriers/{name}/", body, headers)

    return sign


def carrier_account(secret, timestamp):
    body = VENDOR_BODIES["generic"]()
    headers = {} if secret is None else signed_headers("generic", body, secret=secret, timestamp=timestamp)
    return Request("/webhooks/carriers/generic/acme/", body, headers)


def shopify(secret, timestamp):
    body = json.dumps(shopify_order()).encode()
    headers = {
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }
    if secret is not None:
        headers["X-Shopify-Hmac-Sha256"] = b64_hmac(secret, body)
    return Request("/webhooks/sources/shopify/", body, headers)


def woocommerce(secret, timestamp):
    body = b'{"id":1,"status":"processing"}'
    headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Source": "https://example.com/"}
    if secret is not None:
        headers["X-WC-Webhook-Signature"] = b64_hmac(secret, body)
    return Request("/webhooks/sources/woocommerce/", body, headers)


def source_generic(secret, timestamp):
    body = json.dumps({"type": "order.created", "order": generic_order()}).encode()
    timestamp = timestamp or int(time.time())
    headers = {"webhook-id": "msg_security", "webhook-timestamp": str(timestamp)}
    if secret is not None:
        headers["webhook-signature"] = standard_sign(secret, "msg_security", timestamp, body)
    return Request("/webhooks/sources/generic/", body, headers)


def twilio(path: str) -> Callable[[str | None, int | None], Request]:
    def sign(secret, timestamp):
        params = {"MessageSid": "SM1", "MessageStatus": "delivered", "From": "+14155550123", "Body": "STOP"}
        headers = {}
        if secret is not None:
            headers["X-Twilio-Signature"] = RequestValidator(secret).compute_signature(f"{SITE}{path}", params)
        return Request(path, urlencode(params).encode(), headers, "application/x-www-form-urlencoded")

    return sign


def sendgrid(secret, timestamp):
    body = json.dumps([{"email": "a@example.com", "event": "delivered", "sg_event_id": "e1", "sg_message_id": "m1"}])
    timestamp = str(timestamp or int(time.time()))
    headers = {"X-Twilio-Email-Event-Webhook-Timestamp": timestamp}
    if secret is not None:
        key = SENDGRID_KEY if secret == "right" else ec.generate_private_key(ec.SECP256R1())
        signature = key.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        headers["X-Twilio-Email-Event-Webhook-Signature"] = base64.b64encode(signature).decode()
    return Request("/webhooks/providers/sendgrid/events/", body.encode(), headers)


def whatsapp(secret, timestamp):
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    headers = {}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Request("/webhooks/providers/whatsapp/", body, headers)


def mailgun(secret, timestamp):
    timestamp = str(timestamp or int(time.time()))
    token = hashlib.sha256(f"{secret}{timestamp}".encode()).hexdigest()[:50]
    payload = {"event-data": {"id": "ev1", "event": "delivered", "message": {"headers": {"message-id": "m@x"}}}}
    if secret is not None:
        signature = hmac.new(secret.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
        payload["signature"] = {"timestamp": timestamp, "token": token, "signature": signature}
    return Request("/webhooks/providers/mailgun/events/", json.dumps(payload).encode())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def messagebird(secret, timestamp):
    path = "/webhooks/providers/messagebird/status/?" + urlencode({"id": "mb1", "status": "delivered"})
    headers = {}
    if secret is not None:
        issued = timestamp or int(time.time())
        claims = {
            "iss": "MessageBird",
            "nbf": issued,
            "exp": issued + 60,
            "jti": "j1",
            "url_hash": hashlib.sha256(f"{SITE}{path}".encode()).hexdigest(),
        }
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        signing_input = f"{head}.{_b64url(json.dumps(claims).encode())}"
        signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        headers["MessageBird-Signature-JWT"] = f"{signing_input}.{_b64url(signature)}"
    return Request(path, headers=headers, method="GET")


# Keyed by the route as Django spells it; `secret` is what the settings below are given.
HOOKS = {
    **{
        f"webhooks/carriers/<slug:carrier>/#{name}": Hook(
            "webhooks/carriers/<slug:carrier>/", carrier(name), CARRIER_SECRETS[name], name in ("shippo", "generic")
        )
        for name in CARRIER_SECRETS
    },
    "webhooks/carriers/<slug:carrier>/<slug:account>/": Hook(
        "webhooks/carriers/<slug:carrier>/<slug:account>/", carrier_account, "acme-account-secret", True
    ),
    # Shopify and WooCommerce sign the body only: a replay is caught by dedupe on the delivery id.
    "webhooks/sources/shopify/": Hook("webhooks/sources/shopify/", shopify, SHOPIFY_SECRET, False),
    "webhooks/sources/woocommerce/": Hook("webhooks/sources/woocommerce/", woocommerce, WC_SECRET, False),
    "webhooks/sources/generic/": Hook("webhooks/sources/generic/", source_generic, GENERIC_SECRET, True),
    # Twilio and Meta sign no time; receipts are idempotent on (provider, message, status).
    "webhooks/providers/twilio/status/": Hook(
        "webhooks/providers/twilio/status/", twilio("/webhooks/providers/twilio/status/"), TWILIO_TOKEN, False
    ),
    "webhooks/providers/twilio/inbound/": Hook(
        "webhooks/providers/twilio/inbound/", twilio("/webhooks/providers/twilio/inbound/"), TWILIO_TOKEN, False
    ),
    "webhooks/providers/sendgrid/events/": Hook("webhooks/providers/sendgrid/events/", sendgrid, "right", True),
    "webhooks/providers/whatsapp/": Hook("webhooks/providers/whatsapp/", whatsapp, WHATSAPP_SECRET, False),
    "webhooks/providers/mailgun/events/": Hook("webhooks/providers/mailgun/events/", mailgun, MAILGUN_KEY, True),
    "webhooks/providers/messagebird/status/": Hook(
        "webhooks/providers/messagebird/status/", messagebird, MESSAGEBIRD_KEY, True
    ),
}
# Not a signed webhook: staff read it with a session or token (tested in tests/sources).
NOT_SIGNED = {"webhooks/sources/health/"}


def _routes(resolver=None, prefix: str = "") -> list[str]:
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            found += _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append(prefix + str(entry.pattern))
    return found


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.CARRIER_WEBHOOK_SECRETS = dict(CARRIER_SECRETS)
    settings.CARRIER_PROCESS_INLINE = True
    settings.SOURCE_WEBHOOK_SECRETS = {"shopify": SHOPIFY_SECRET, "woocommerce": WC_SECRET, "generic": GENERIC_SECRET}
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = SENDGRID_PUBLIC
    settings.SENDGRID_EVENT_WEBHOOK_MAX_AGE = 600  # off by default: see the report on stale SendGrid batches
    settings.WHATSAPP_APP_SECRET = WHATSAPP_SECRET
    settings.MAILGUN_WEBHOOK_SIGNING_KEY = MAILGUN_KEY
    settings.MESSAGEBIRD_SIGNING_KEY = MESSAGEBIRD_KEY
    carrier_services.secrets_cache_clear()
    from carriers.models import CarrierAccount
    from tests.factories import BrandFactory

    account = CarrierAccount.objects.create(brand=BrandFactory(), carrier="generic", slug="acme")
    carrier_services.carrier_account_set_secrets(account=account, secret="acme-account-secret")
    yield
    carrier_services.secrets_cache_clear()


def send(client, request: Request):
    headers = request.headers or {}
    if request.method == "GET":
        return client.get(request.path, headers=headers)
    return client.generic("POST", request.path, data=request.body, content_type=request.content_type, headers=headers)


def stored() -> int:
    return RawWebhook.objects.count() + RawIntake.objects.count() + ProviderReceipt.objects.count()


def assert_refused(response) -> None:
    assert response.status_code in (401, 403), (response.status_code, response.content[:200])
    assert response.json()["error"]  # a machine-readable reason


def test_every_webhook_route_is_in_the_signature_table():
    webhook_routes = {route for route in _routes() if route.startswith("webhooks/")}
    covered = {hook.route for hook in HOOKS.values()} | NOT_SIGNED

    assert webhook_routes - covered == set(), "a webhook route has no signature check here"
    assert covered - webhook_routes == set()


@pytest.mark.parametrize("name", list(HOOKS))
def test_each_webhook_accepts_its_correct_signature(client, name):
    hook = HOOKS[name]
    response = send(client, hook.sign(hook.secret, None))

    assert response.status_code not in (401, 403), response.content[:300]


@pytest.mark.parametrize("name", list(HOOKS))
def test_each_webhook_refuses_a_request_without_a_signature_and_stores_nothing(client, name):
    before = stored()
    assert_refused(send(client, HOOKS[name].sign(None, None)))
    assert stored() == before


@pytest.mark.parametrize("name", list(HOOKS))
def test_each_webhook_refuses_a_signature_made_with_another_secret_and_stores_nothing(client, name):
    before = stored()
    assert_refused(send(client, HOOKS[name].sign("not-the-secret-" + "x" * 24, None)))
    assert stored() == before


@pytest.mark.parametrize("name", [name for name, hook in HOOKS.items() if hook.stale])
def test_each_webhook_whose_scheme_signs_a_time_refuses_a_correct_signature_an_hour_old(client, name):
    hook = HOOKS[name]
    before = stored()
    response = send(client, hook.sign(hook.secret, HOUR_AGO()))

    assert_refused(response)
    assert "stale" in response.json()["error"]
    assert stored() == before
