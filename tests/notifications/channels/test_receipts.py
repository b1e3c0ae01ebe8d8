"""Receipt webhooks of WhatsApp Cloud API, Mailgun and MessageBird: signatures accepted and refused.

Formats: Mailgun uses the fixture ../shared/fixtures/mailgun_delivered.json (exact bytes, signed
with "TEST_WEBHOOK_SIGNING_KEY" per its source note). The fixtures have no WhatsApp status or
MessageBird report sample, so those are built from the vendors' documented formats:
- WhatsApp: Meta, "Webhooks / messages: statuses" — POST {"object": "whatsapp_business_account",
  "entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"id": "wamid…", "status",
  "timestamp", "recipient_id", "errors": [{"code", "title"}]}]}}]}]}, signed X-Hub-Signature-256 =
  "sha256=" + hex HMAC-SHA256(app secret, raw body); GET hub.mode=subscribe&hub.verify_token&hub.challenge.
- MessageBird: "SMS API / Handle a status report" (docs.bird.com, "Receiving Delivery Reports"): a GET
  to the reportUrl with id, reference, recipient, status, statusDatetime, statusReason, statusErrorCode;
  signed with the MessageBird-Signature-JWT header (messagebird/python-rest-api RequestValidator: HS256
  JWT, iss "MessageBird", nbf, exp, url_hash = sha256(url), payload_hash = sha256(body) when a body is sent).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from notifications.models import Notification, ProviderReceipt
from tests.factories import make_order

pytestmark = pytest.mark.django_db
S = Notification.Status
FIXTURES = Path(__file__).resolve().parent / "fixtures"  # exact copies of ../shared/fixtures files
APP_SECRET = "whatsapp-app-secret"
MB_KEY = "messagebird-signing-key"


def sent(provider: str, message_id: str, channel: str = "email") -> Notification:
    order = make_order()
    return Notification.objects.create(
        idempotency_key=f"t:{provider}:{message_id}",
        order=order,
        customer=order.customer,
        event="delayed",
        audience="customer",
        channel=channel,
        provider=provider,
        recipient="ada@example.com",
        status=S.SENT,
        provider_message_id=message_id,
    )


# --- WhatsApp ---------------------------------------------------------------------------------


def whatsapp_status(wamid: str, status: str, **extra) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [
            {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": "14155550123", **extra}
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


def hub_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def whatsapp_secret(settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "verify-me"


def test_the_whatsapp_handshake_echoes_the_challenge_for_our_verify_token(client, whatsapp_secret):
    ok = client.get(
        "/webhooks/providers/whatsapp/",
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    bad = client.get(
        "/webhooks/providers/whatsapp/", {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    )
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    assert bad.status_code == 403


def test_a_signed_whatsapp_delivered_status_marks_the_message_delivered(client, whatsapp_secret):
    n = sent("whatsapp_cloud", "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", channel="whatsapp")
    body = whatsapp_status(n.provider_message_id, "delivered")
    response = client.post(
        "/webhooks/providers/whatsapp/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=hub_signature(body),
    )
    n.refresh_from_db()
    assert response.status_code == 200 and n.status == S.DELIVERED and n.delivered_at


def test_a_failed_whatsapp_status_records_metas_error(client, whatsapp_secret):
    n = sent("whatsapp_cloud", "wamid.failed1", channel="whatsapp")
    body = whatsapp_status(n.provider_message_id, "failed", errors=[{"code": 131026, "title": "Message undeliverable"}])
    client.post(
        "/webhooks/providers/whatsapp/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=hub_signature(body),
    )
    n.refresh_from_db()
    assert n.status == S.FAILED and "131026" in n.status_reason


def test_a_forged_whatsapp_status_is_refused_and_changes_nothing(client, whatsapp_secret):
    n = sent("whatsapp_cloud", "wamid.forged", channel="whatsapp")
    body = whatsapp_status(n.provider_message_id, "delivered")
    response = client.post(
        "/webhooks/providers/whatsapp/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=hub_signature(body, "guess"),
    )
    n.refresh_from_db()
    assert response.status_code == 401 and n.status == S.SENT and not ProviderReceipt.objects.exists()


# --- Mailgun ----------------------------------------------------------------------------------


@pytest.fixture
def mailgun_key(settings):
    settings.MAILGUN_WEBHOOK_SIGNING_KEY = "TEST_WEBHOOK_SIGNING_KEY"


def mailgun_signed(
    event: dict, key: str = "TEST_WEBHOOK_SIGNING_KEY", timestamp: int | None = None, token: str = ""
) -> dict:
    timestamp = timestamp or int(time.time())
    token = token or base64.b16encode(hashlib.sha256(json.dumps(event).encode()).digest()).decode().lower()[:50]
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": str(timestamp), "token": token, "signature": signature}, "event-data": event}


def test_the_mailgun_fixture_is_accepted_when_no_age_limit_applies_and_marks_the_email_delivered(
    client, mailgun_key, settings
):
    settings.MAILGUN_WEBHOOK_MAX_AGE = 0
    n = sent("mailgun", "20180812211713.1.DF5966851B4BAA99@example.org")
    body = (FIXTURES / "mailgun_delivered.json").read_bytes()
    response = client.post("/webhooks/providers/mailgun/events/", body, content_type="application/json")
    n.refresh_from_db()
    assert response.status_code == 200 and n.status == S.DELIVERED


def test_a_stale_mailgun_signature_is_refused(client, mailgun_key):
    n = sent("mailgun", "20180812211713.1.DF5966851B4BAA99@example.org")
    body = (FIXTURES / "mailgun_delivered.json").read_bytes()  # signed in 2018
    response = client.post("/webhooks/providers/mailgun/events/", body, content_type="application/json")
    n.refresh_from_db()
    assert response.status_code == 403 and n.status == S.SENT


def test_a_forged_mailgun_event_is_refused_and_changes_nothing(client, mailgun_key):
    n = sent("mailgun", "m1@mg.brand.example")
    event = {"id": "ev1", "event": "delivered", "message": {"headers": {"message-id": n.provider_message_id}}}
    response = client.post(
        "/webhooks/providers/mailgun/events/", mailgun_signed(event, key="guess"), content_type="application/json"
    )
    n.refresh_from_db()
    assert response.status_code == 401 and n.status == S.SENT and not ProviderReceipt.objects.exists()


def test_a_replayed_mailgun_token_is_refused(client, mailgun_key):
    n = sent("mailgun", "m2@mg.brand.example")
    event = {
        "id": "ev2",
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "message": {"headers": {"message-id": n.provider_message_id}},
    }
    payload = mailgun_signed(event)
    first = client.post("/webhooks/providers/mailgun/events/", payload, content_type="application/json")
    again = client.post("/webhooks/providers/mailgun/events/", payload, content_type="application/json")
    n.refresh_from_db()
    assert first.status_code == 200 and n.status == S.BOUNCED
    assert again.status_code == 403 and ProviderReceipt.objects.count() == 1


def test_a_temporary_mailgun_failure_leaves_the_email_sent(client, mailgun_key):
    n = sent("mailgun", "m3@mg.brand.example")
    event = {
        "id": "ev3",
        "event": "failed",
        "severity": "temporary",
        "message": {"headers": {"message-id": n.provider_message_id}},
    }
    client.post("/webhooks/providers/mailgun/events/", mailgun_signed(event), content_type="application/json")
    n.refresh_from_db()
    assert n.status == S.SENT and ProviderReceipt.objects.get().applied


# --- MessageBird ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def messagebird_jwt(url: str, body: bytes = b"", key: str = MB_KEY, *, exp_in: int = 60) -> str:
    now = int(time.time())
    claims = {
        "iss": "MessageBird",
        "nbf": now,
        "exp": now + exp_in,
        "jti": "x",
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def report(n: Notification, status: str) -> tuple[str, str]:
    query = urlencode(
        {
            "id": n.provider_message_id,
            "reference": str(n.public_id),
            "recipient": "14155550123",
            "status": status,
            "statusDatetime": "2026-11-22T15:00:00+00:00",
            "statusReason": "successfully delivered" if status == "delivered" else "unknown subscriber",
            "statusErrorCode": "" if status == "delivered" else "1",
        }
    )
    path = f"/webhooks/providers/messagebird/status/?{query}"
    return path, f"https://track.example.test{path}"


@pytest.fixture
def messagebird_key(settings):
    settings.MESSAGEBIRD_SIGNING_KEY = MB_KEY


def test_a_signed_messagebird_report_marks_the_sms_delivered(client, messagebird_key):
    n = sent("messagebird", "e8077d803532c0b5937c639b60216938", channel="sms")
    path, url = report(n, "delivered")
    response = client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt(url))
    n.refresh_from_db()
    assert response.status_code == 200 and n.status == S.DELIVERED


def test_a_messagebird_delivery_failure_marks_the_sms_undelivered(client, messagebird_key):
    n = sent("messagebird", "f8077d803532c0b5937c639b60216938", channel="sms")
    path, url = report(n, "delivery_failed")
    client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt(url))
    n.refresh_from_db()
    assert n.status == S.UNDELIVERED and "unknown subscriber" in n.status_reason


def test_a_messagebird_report_signed_for_another_url_is_refused(client, messagebird_key):
    n = sent("messagebird", "a8077d803532c0b5937c639b60216938", channel="sms")
    path, _ = report(n, "delivered")
    response = client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt("https://track.example.test/other/"))
    n.refresh_from_db()
    assert response.status_code == 401 and n.status == S.SENT


def test_an_expired_messagebird_signature_is_refused(client, messagebird_key):
    n = sent("messagebird", "b8077d803532c0b5937c639b60216938", channel="sms")
    path, url = report(n, "delivered")
    response = client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt(url, exp_in=-30))
    n.refresh_from_db()
    assert response.status_code == 403 and n.status == S.SENT and not ProviderReceipt.objects.exists()


def test_a_messagebird_report_with_a_forged_key_is_refused(client, messagebird_key):
    n = sent("messagebird", "c8077d803532c0b5937c639b60216938", channel="sms")
    path, url = report(n, "delivered")
    response = client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt(url, key="guess"))
    assert response.status_code == 401


def test_a_messagebird_report_arriving_before_our_sent_record_is_applied_later(client, messagebird_key):
    from notifications.receipts import receipts_apply_unmatched

    n = sent("messagebird", "d8077d803532c0b5937c639b60216938", channel="sms")
    Notification.objects.filter(pk=n.pk).update(provider_message_id="", status=S.SENDING)
    path, url = report(n, "delivered")
    client.get(path, HTTP_MESSAGEBIRD_SIGNATURE_JWT=messagebird_jwt(url))
    Notification.objects.filter(pk=n.pk).update(provider_message_id=n.provider_message_id, status=S.SENT)
    assert receipts_apply_unmatched() == 1
    n.refresh_from_db()
    assert n.status == S.DELIVERED
