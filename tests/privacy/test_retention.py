"""Retention: what is older than RETENTION_DAYS loses its personal data; rows, ids, hashes and the unsent stay."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from carriers.models import EventKey, RawWebhook
from notifications.models import Notification, ProviderReceipt, WebhookAttempt, WebhookEndpoint, WebhookMessage
from orders.models import DeliveryRequest
from orders.sources.models import RawIntake
from privacy import tasks
from privacy.models import PrivacyRequest
from privacy.retention import retention_purge
from privacy.scrub import PURGED_HEADER
from tests.factories import make_order

pytestmark = pytest.mark.django_db

FIXTURES = Path("/work/shared/fixtures")
UPS_BODY = (FIXTURES / "ups_trackalert_tracking_event.json").read_bytes()
SENDGRID_EVENTS = json.loads((FIXTURES / "sendgrid_event_batch.json").read_text())
SHOPIFY_BODY = (FIXTURES / "shopify_orders_updated.json").read_bytes()
OLD = timezone.now() - timedelta(days=settings.RETENTION_DAYS + 1)
RECENT = timezone.now() - timedelta(days=settings.RETENTION_DAYS - 1)


def _message(order, key: str, *, status: str = "delivered", at=OLD) -> Notification:
    n = Notification.objects.create(
        idempotency_key=key,
        order=order,
        customer=order.customer,
        event="delivered",
        audience="customer",
        channel="email",
        provider="sendgrid",
        recipient="ada@example.com",
        status=status,
        subject="Hi Ada",
        body_text="Ada, your parcel is at 1 Main St",
        body_html="<p>Ada</p>",
        data={"headers": {"X": "y"}},
        proof={"signed_by": "NEIGHBOUR"},
        provider_message_id=f"pm-{key}",
        sent_at=at,
    )
    Notification.objects.filter(pk=n.pk).update(created_at=at)
    return n


def _raw_webhook(at=OLD, status: str = "processed") -> RawWebhook:
    return RawWebhook.objects.create(
        carrier="ups",
        body=UPS_BODY,
        received_at=at,
        status=status,
        source_address="203.0.113.5",
        headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.5", "Ups-Signature": "abc="},
    )


@pytest.fixture
def order():
    return make_order()


def test_old_message_bodies_are_blanked_and_the_rows_keep_their_figures(order):
    old = _message(order, "old")

    retention_purge()

    old.refresh_from_db()
    assert (old.subject, old.body_text, old.body_html, old.data, old.proof) == ("", "", "", {}, {})
    assert (old.status, old.channel, old.provider, old.provider_message_id, old.sent_at) == (
        "delivered",
        "email",
        "sendgrid",
        "pm-old",
        OLD,
    )


def test_recent_messages_and_messages_not_sent_yet_keep_their_bodies(order):
    recent = _message(order, "recent", at=RECENT)
    waiting = _message(order, "waiting", status="scheduled")

    retention_purge()

    for n in (recent, waiting):
        n.refresh_from_db()
        assert n.body_text.startswith("Ada")


def test_an_old_raw_webhook_keeps_its_structure_and_hash_but_not_the_address(order):
    raw = _raw_webhook()
    EventKey.objects.create(carrier="ups", key="e:1Z204W4R0308071865:I:OT", raw=raw)

    retention_purge()

    raw.refresh_from_db()
    body = json.loads(bytes(raw.body))["payload"]
    assert body["trackingNumber"] == "1Z204W4R0308071865"
    assert body["activityStatus"] == {"type": "I", "code": "OT", "description": None}
    assert body["activityLocation"] == {"city": None, "stateProvince": None, "postalCode": None, "country": "US"}
    assert raw.source_address is None
    assert "X-Forwarded-For" not in raw.headers
    assert raw.headers["Ups-Signature"] == "abc="
    assert f"sha256={hashlib.sha256(UPS_BODY).hexdigest()}" in raw.headers[PURGED_HEADER]
    assert (raw.status, raw.received_at) == ("processed", OLD)
    assert EventKey.objects.filter(raw=raw).exists()


def test_a_recent_raw_webhook_is_left_exactly_as_received():
    raw = _raw_webhook(at=RECENT)

    retention_purge()

    raw.refresh_from_db()
    assert bytes(raw.body) == UPS_BODY
    assert raw.source_address == "203.0.113.5"


def test_an_old_shop_payload_loses_the_buyer_but_keeps_what_dedupe_needs():
    intake = RawIntake.objects.create(
        source="shopify",
        topic="orders/updated",
        delivery_id="d-1",
        body=SHOPIFY_BODY,
        received_at=OLD,
        status="applied",
        external_id="820982911946154508",
        customer_email="jon@example.com",
        headers={"X-Shopify-Webhook-Id": "d-1", "X-Shopify-Hmac-Sha256": "sig"},
        source_address="203.0.113.6",
    )

    retention_purge()

    intake.refresh_from_db()
    text = bytes(intake.body).decode()
    original = json.loads(SHOPIFY_BODY)
    assert original["email"] not in text and original["shipping_address"]["address1"] not in text
    assert json.loads(text)["payload"]["id"] == original["id"]
    assert (intake.delivery_id, intake.external_id, intake.customer_email) == ("d-1", "820982911946154508", "")
    assert intake.headers["X-Shopify-Webhook-Id"] == "d-1"


def test_old_provider_receipts_and_outbound_webhooks_lose_addresses(order):
    ProviderReceipt.objects.create(provider="sendgrid", event_id="sg-1", kind="delivered", payload=SENDGRID_EVENTS[0])
    ProviderReceipt.objects.filter(event_id="sg-1").update(received_at=OLD)
    endpoint = WebhookEndpoint.objects.create(url="https://wms.example/h", secret_encrypted="x", enabled=False)
    body = json.dumps({"type": "order.delivered", "data": {"number": order.number, "email": "ada@example.com"}})
    done = WebhookMessage.objects.create(endpoint=endpoint, event_type="order.delivered", body=body, status="delivered")
    waiting = WebhookMessage.objects.create(
        endpoint=endpoint, event_type="order.delivered", body=body, status="pending"
    )
    WebhookMessage.objects.filter(pk__in=[done.pk, waiting.pk]).update(created_at=OLD)
    WebhookAttempt.objects.create(
        message=done, number=1, started_at=OLD, outcome="success", status_code=200, response_body="ok ada@example.com"
    )

    retention_purge()

    receipt = ProviderReceipt.objects.get(event_id="sg-1")
    assert receipt.payload["email"] is None
    assert receipt.payload["sg_event_id"] == SENDGRID_EVENTS[0]["sg_event_id"]
    done.refresh_from_db()
    waiting.refresh_from_db()
    assert "ada@example.com" not in done.body and json.loads(done.body)["body"]["data"]["number"] == order.number
    assert waiting.body == body  # still to be sent with the bytes it was signed with
    assert WebhookAttempt.objects.get(message=done).response_body == ""


def test_old_tracking_page_requests_lose_the_visitors_address(order):
    request = DeliveryRequest.objects.create(
        order=order, kind="instructions", before={}, after={}, order_status=order.status, client_ip="203.0.113.7"
    )
    DeliveryRequest.objects.filter(pk=request.pk).update(created_at=OLD)

    retention_purge()

    request.refresh_from_db()
    assert request.client_ip is None


def test_the_purge_works_in_bounded_batches_and_is_recorded(order):
    for i in range(5):
        _message(order, f"batch-{i}")
    batches = []

    counts = retention_purge(batch_size=2, progress=batches.append)

    assert counts == {"notifications.Notification": 5}
    assert batches == [2, 2, 1]
    assert PrivacyRequest.objects.get(kind="purge").counts == counts


def test_a_second_purge_finds_nothing_left(order):
    _message(order, "once")
    _raw_webhook()
    retention_purge()

    assert retention_purge() == {}


def test_a_purged_raw_webhook_can_no_longer_be_replayed(order):
    from carriers.services import raw_webhook_process
    from orders import services as orders
    from orders.models import Shipment, ShipmentEvent

    orders.order_transition(order=order, transition="confirm", source="api")
    shipment = orders.shipment_create(order=order, carrier="ups", tracking_number="1Z204W4R0308071865", source="api")
    raw = _raw_webhook(status="received")
    assert raw_webhook_process(raw_id=raw.pk).applied == 1
    events_before = list(ShipmentEvent.objects.filter(shipment=shipment).values_list("pk", "description"))
    assert events_before
    retention_purge()

    outcome = raw_webhook_process(raw_id=raw.pk, replay=True)

    # It cannot be parsed any more: the replay fails loudly instead of recording an emptied event.
    assert outcome.status == "failed"
    assert "parse error" in outcome.errors[0]
    assert list(ShipmentEvent.objects.filter(shipment=shipment).values_list("pk", "description")) == events_before
    assert Shipment.objects.get(pk=shipment.pk).status == "out_for_delivery"


def test_the_command_prints_what_it_purged_and_records_it_as_a_command(order):
    _message(order, "cmd")
    out = io.StringIO()

    call_command("purge_expired", "--no-progress", stdout=out)

    assert "notifications.Notification: 1" in out.getvalue()
    assert PrivacyRequest.objects.get(kind="purge").via == "command"


def test_the_commands_dry_run_counts_and_changes_nothing(order):
    n = _message(order, "dry")
    out = io.StringIO()

    call_command("purge_expired", "--dry-run", stdout=out)

    assert "notifications.Notification: 1" in out.getvalue()
    n.refresh_from_db()
    assert n.body_text != ""


def test_the_command_honours_a_shorter_period(order):
    n = _message(order, "short", at=timezone.now() - timedelta(days=3))

    call_command("purge_expired", "--days", "2", "--no-progress", stdout=io.StringIO())

    n.refresh_from_db()
    assert n.body_text == ""


def test_beat_runs_the_purge_every_night():
    entry = settings.CELERY_BEAT_SCHEDULE["privacy-purge-expired"]

    assert entry["task"] == tasks.purge_expired.name
    assert tasks.purge_expired.delay().get() == {}
