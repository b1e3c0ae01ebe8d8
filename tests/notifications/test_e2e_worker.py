"""End to end with a real Celery worker, Redis and PostgreSQL:
carrier webhook in -> messages at the fake providers -> signed receipts -> delivered."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from twilio.request_validator import RequestValidator

from carriers.adapters import generic
from notifications.models import Event, Notification
from orders import services as order_services
from tests.e2e.conftest import celery_worker_process, wait_for  # noqa: F401  (the fixture)
from tests.factories import make_order
from tests.fakes.providers import FakeSendGrid, FakeTwilio
from tests.notifications.helpers import reachable_everywhere

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CARRIER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENCRYPTION_KEY = "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c="
S = Notification.Status


@pytest.fixture
def providers(monkeypatch, settings):
    """Fakes on loopback, configured both here (the web side) and in the worker's environment."""
    twilio, sendgrid = FakeTwilio().start(), FakeSendGrid().start()
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    env = {
        "SENDGRID_API_KEY": sendgrid.api_key,
        "SENDGRID_API_HOST": sendgrid.url,
        "SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY": public,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": "+15017122661",
        "TWILIO_WHATSAPP_FROM": "+14155238886",
        "TWILIO_API_BASE_URL": twilio.url,
        "CARRIER_GENERIC_WEBHOOK_SECRET": CARRIER_SECRET,
        "FIELD_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CARRIER_PROCESS_INLINE": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
        if not name.startswith("CARRIER_"):
            setattr(settings, name, value)
    settings.CARRIER_WEBHOOK_SECRETS = {**settings.CARRIER_WEBHOOK_SECRETS, "generic": CARRIER_SECRET}
    settings.FIELD_ENCRYPTION_KEY = ENCRYPTION_KEY
    settings.CARRIER_PROCESS_INLINE = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from carriers import services as carrier_services

    carrier_services.secrets_cache_clear()
    yield {"twilio": twilio, "sendgrid": sendgrid, "sendgrid_key": key}
    twilio.stop()
    sendgrid.stop()


@pytest.fixture
def worker(providers, request):
    # The worker's environment is read when it starts: the providers come first.
    return request.getfixturevalue("celery_worker_process")


def test_a_carrier_webhook_ends_as_delivered_messages_confirmed_by_receipts(providers, worker, client):
    twilio, sendgrid = providers["twilio"], providers["sendgrid"]
    order = make_order(inventory_allocated=True)
    reachable_everywhere(order.customer)
    order_services.order_transition(order=order, transition="confirm", source="api")
    shipment = order_services.shipment_create(order=order, carrier="ups", tracking_number="1ZE2E0001", source="api")
    order_services.order_transition(order=order, transition="dispatch", source="api")

    body = json.dumps(
        {
            "events": [
                {
                    "event_id": "e2e-delivered-1",
                    "carrier": "ups",
                    "tracking_number": shipment.tracking_number,
                    "status": "delivered",
                    "occurred_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
                    "latitude": "40.700100",
                    "longitude": "-74.000100",
                    "proof": {"signed_by": "A. Lovelace"},
                }
            ]
        }
    ).encode()
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_e2e_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": generic.sign(CARRIER_SECRET, "msg_e2e_1", stamp, body),
    }
    response = client.generic(
        "POST", "/webhooks/carriers/generic/", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code in (200, 202), response.content

    def confirmations():
        rows = Notification.objects.filter(order=order, event=Event.DELIVERED, audience="customer")
        sent = {n.channel: n for n in rows if n.status == S.SENT}
        return sent if {"email", "sms"} <= set(sent) else None

    sent = wait_for(confirmations, timeout=30)
    sms, email = sent["sms"], sent["email"]
    assert any(r.field("Body") == sms.body_text and "delivered" in sms.body_text for r in twilio.requests)
    assert any(r.json["subject"] == email.subject for r in sendgrid.requests)

    # Receipts, signed as each provider signs them.
    params = {"MessageSid": sms.provider_message_id, "MessageStatus": "delivered", "To": "+14155550123"}
    signature = RequestValidator(twilio.auth_token).compute_signature(
        "https://track.example.test/webhooks/providers/twilio/status/", params
    )
    assert (
        client.post(
            "/webhooks/providers/twilio/status/",
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        ).status_code
        == 200
    )
    events = json.dumps(
        [
            {
                "email": "ada@example.com",
                "event": "delivered",
                "sg_event_id": "e2e-evt-1",
                "sg_message_id": f"{email.provider_message_id}.filterdrecv-1",
                "timestamp": int(time.time()),
                "notification": str(email.public_id),
            }
        ]
    ).encode()
    timestamp = str(int(time.time()))
    sig = providers["sendgrid_key"].sign(timestamp.encode() + events, ec.ECDSA(hashes.SHA256()))
    assert (
        client.post(
            "/webhooks/providers/sendgrid/events/",
            data=events,
            content_type="application/json",
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=base64.b64encode(sig).decode(),
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=timestamp,
        ).status_code
        == 200
    )
    sms.refresh_from_db()
    email.refresh_from_db()
    assert (sms.status, email.status) == (S.DELIVERED, S.DELIVERED)
    assert "correlation_id" in worker.read_text()
