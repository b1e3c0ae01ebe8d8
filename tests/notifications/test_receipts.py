"""Provider receipts with real signatures (the fixtures' exact bytes), and inbound STOP/START."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from notifications import services
from notifications.models import Notification, ProviderReceipt
from notifications.preferences import preferences_for
from orders.models import Customer
from tests.factories import make_order

pytestmark = pytest.mark.django_db
S = Notification.Status
FIXTURES = Path(__file__).parent / "fixtures"
TWILIO_TOKEN = "twilio-test-token"
STATUS_URL = "/webhooks/providers/twilio/status/"
INBOUND_URL = "/webhooks/providers/twilio/inbound/"
# The SendGrid SDK's own test vector for sendgrid_event_dropped_signed.json.
SG_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3G"
    "Rqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_TIMESTAMP = "1600112502"
SG_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="


@pytest.fixture(autouse=True)
def _keys(settings):
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = SG_PUBLIC_KEY


def sent_notification(provider: str, message_id: str, channel: str = "whatsapp") -> Notification:
    order = make_order()
    return Notification.objects.create(
        idempotency_key=f"test:{message_id}",
        order=order,
        customer=order.customer,
        event="order_dispatched",
        audience="customer",
        channel=channel,
        provider=provider,
        recipient="+31612345678",
        status=S.SENT,
        provider_message_id=message_id,
    )


def twilio_post(client, body: bytes, *, url: str = STATUS_URL, signature: str | None = None):
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    if signature is None:
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"https://track.example.test{url}", params)
    form = "application/x-www-form-urlencoded"
    return client.post(url, data=body, content_type=form, HTTP_X_TWILIO_SIGNATURE=signature)


def twilio_fixture(**changes) -> bytes:
    body = (FIXTURES / "twilio_status_callback_whatsapp_sent.txt").read_bytes()
    if not changes:
        return body
    params = dict(parse_qsl(body.decode()))
    params.update(changes)
    return urlencode(params).encode()


SID = "SM0cec4ed334e74bcbb64eb8b6684e9654"


def test_a_signed_twilio_status_callback_is_accepted_from_the_fixtures_exact_bytes(client):
    n = sent_notification("twilio", SID)
    response = twilio_post(client, twilio_fixture())
    assert response.status_code == 200
    assert ProviderReceipt.objects.get(provider="twilio").notification == n
    n.refresh_from_db()
    assert n.status == S.SENT  # "sent" confirms what we knew


def test_a_delivered_callback_marks_the_message_delivered(client):
    n = sent_notification("twilio", SID)
    twilio_post(client, twilio_fixture(MessageStatus="delivered", SmsStatus="delivered"))
    n.refresh_from_db()
    assert n.status == S.DELIVERED and n.delivered_at is not None


def test_an_undelivered_callback_records_the_error(client):
    n = sent_notification("twilio", SID)
    twilio_post(client, twilio_fixture(MessageStatus="undelivered", ErrorCode="30003"))
    n.refresh_from_db()
    assert (n.status, n.status_reason) == (S.UNDELIVERED, "Twilio error 30003")


def test_a_late_sent_callback_never_moves_a_delivered_message_back(client):
    n = sent_notification("twilio", SID)
    twilio_post(client, twilio_fixture(MessageStatus="delivered"))
    twilio_post(client, twilio_fixture(MessageStatus="failed"))
    n.refresh_from_db()
    assert n.status == S.DELIVERED


def test_the_same_callback_twice_is_applied_once(client):
    sent_notification("twilio", SID)
    twilio_post(client, twilio_fixture(MessageStatus="delivered"))
    second = twilio_post(client, twilio_fixture(MessageStatus="delivered"))
    assert second.json() == {"result": "duplicate"}
    assert ProviderReceipt.objects.count() == 1


def test_a_bad_twilio_signature_is_refused_and_changes_nothing(client):
    n = sent_notification("twilio", SID)
    response = twilio_post(client, twilio_fixture(MessageStatus="delivered"), signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 401
    n.refresh_from_db()
    assert n.status == S.SENT and not ProviderReceipt.objects.exists()


def test_a_receipt_that_beats_our_sent_record_is_applied_when_the_id_lands(client):
    twilio_post(client, twilio_fixture(MessageStatus="delivered"))  # no notification knows this id yet
    n = sent_notification("twilio", "")
    Notification.objects.filter(pk=n.pk).update(status=S.SENDING, provider_message_id=SID)
    assert services.notifications_sweep()["late_receipts"] == 1
    n.refresh_from_db()
    assert n.status == S.DELIVERED


def sendgrid_post(client, body: bytes, *, signature: str = SG_SIGNATURE, timestamp: str = SG_TIMESTAMP):
    return client.post(
        "/webhooks/providers/sendgrid/events/",
        data=body,
        content_type="application/json",
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=signature,
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=timestamp,
    )


def test_the_sendgrid_sdks_signed_test_vector_is_accepted_and_applied(client):
    n = sent_notification("sendgrid", "LRzXl_NHStOGhQ4kofSm_A", channel="email")
    response = sendgrid_post(client, (FIXTURES / "sendgrid_event_dropped_signed.json").read_bytes())
    assert response.status_code == 200 and response.json()["applied"] == 1
    n.refresh_from_db()
    assert (n.status, n.status_reason) == (S.BOUNCED, "Bounced Address")


def test_sendgrid_events_are_deduplicated_on_sg_event_id(client):
    body = (FIXTURES / "sendgrid_event_dropped_signed.json").read_bytes()
    sendgrid_post(client, body)
    assert sendgrid_post(client, body).json() == {"applied": 0, "duplicate": 1, "ignored": 0}


def test_a_tampered_sendgrid_batch_is_refused(client):
    n = sent_notification("sendgrid", "LRzXl_NHStOGhQ4kofSm_A", channel="email")
    body = (FIXTURES / "sendgrid_event_dropped_signed.json").read_bytes().replace(b"dropped", b"delivered")
    assert sendgrid_post(client, body).status_code == 401
    n.refresh_from_db()
    assert n.status == S.SENT and not ProviderReceipt.objects.exists()


def test_an_old_batch_is_refused_when_an_age_limit_is_set(client, settings):
    settings.SENDGRID_EVENT_WEBHOOK_MAX_AGE = 600
    assert sendgrid_post(client, (FIXTURES / "sendgrid_event_dropped_signed.json").read_bytes()).status_code == 401


def _sign_with_new_key(settings, body: bytes) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = base64.b64encode(der).decode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode(), timestamp


def test_the_documented_event_batch_maps_each_event(client, settings):
    events = json.loads((FIXTURES / "sendgrid_event_batch.json").read_text())
    # Each event its own id and message, as SendGrid sends them in a real batch.
    for i, event in enumerate(events):
        event["sg_event_id"] = f"evt-{i}"
        event["sg_message_id"] = f"msg{i}.filterdrecv-1"
    by_kind = {e["event"]: sent_notification("sendgrid", f"msg{i}", channel="email") for i, e in enumerate(events)}
    Customer.objects.filter(pk=by_kind["unsubscribe"].customer_id).update(email="example@test.com")
    body = json.dumps(events).encode()
    signature, timestamp = _sign_with_new_key(settings, body)
    assert sendgrid_post(client, body, signature=signature, timestamp=timestamp).status_code == 200
    status = {kind: Notification.objects.get(pk=n.pk).status for kind, n in by_kind.items()}
    assert status["delivered"] == S.DELIVERED
    assert status["bounce"] == S.BOUNCED
    assert status["processed"] == status["deferred"] == status["open"] == S.SENT
    assert preferences_for(by_kind["unsubscribe"].order.customer).email_opted_out is True


def test_inbound_stop_opts_the_sender_out_and_start_opts_them_back_in(client):
    order = make_order()
    Customer.objects.filter(pk=order.customer_id).update(consent_sms=True)
    stop = urlencode({"From": "+14155550123", "To": "+15017122661", "Body": "Stop", "MessageSid": "SMx"}).encode()
    response = twilio_post(client, stop, url=INBOUND_URL)
    assert response.status_code == 200 and b"<Response>" in response.content
    assert preferences_for(order.customer).sms_opted_out is True
    start = urlencode({"From": "+14155550123", "To": "+15017122661", "Body": "START", "MessageSid": "SMy"}).encode()
    twilio_post(client, start, url=INBOUND_URL)
    assert Customer.objects.get(pk=order.customer_id).notification_preferences.sms_opted_out is False


def test_inbound_stop_on_whatsapp_opts_out_of_whatsapp_only(client):
    order = make_order()
    body = urlencode({"From": "whatsapp:+14155550123", "Body": "STOP"}).encode()
    twilio_post(client, body, url=INBOUND_URL)
    prefs = preferences_for(order.customer)
    assert prefs.whatsapp_opted_out is True and prefs.sms_opted_out is False


def test_an_unsigned_inbound_message_is_refused(client):
    order = make_order()
    body = urlencode({"From": "+14155550123", "Body": "STOP"}).encode()
    assert twilio_post(client, body, url=INBOUND_URL, signature="x").status_code == 401
    assert preferences_for(order.customer).sms_opted_out is False


def test_the_sweeper_reports_what_it_enqueued():
    assert services.notifications_sweep() == {"enqueued": 0, "pod_timeouts": 0, "late_receipts": 0}
