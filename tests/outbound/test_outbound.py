from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from notifications import outbound
from notifications.outbound_models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from orders import services
from tests.factories import make_order
from tests.outbound.conftest import SECRET

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def deliver_all() -> list[str]:
    return [outbound.message_deliver(message_id=pk) for pk in WebhookMessage.objects.values_list("pk", flat=True)]


def force_due(message: WebhookMessage) -> None:
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


# --- signing ------------------------------------------------------------------------------------


def test_signing_reproduces_the_standard_webhooks_test_vector():
    body = (FIXTURES / "standardwebhooks_test_vector.json").read_bytes()

    headers = outbound.sign_headers(
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", body=body, secrets=[SECRET], timestamp=1614265330
    )

    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    library = Webhook(SECRET).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, UTC), body.decode()
    )
    assert headers["webhook-signature"] == library


def test_a_subscribed_endpoint_receives_a_signed_event_that_verifies_with_the_library(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order()

    request = receiver.requests[0]
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "order.created"
    assert payload["version"] == 1
    assert payload["data"]["order"]["number"] == order.number
    assert request.headers["webhook-id"].startswith("msg_")
    assert WebhookMessage.objects.get().status == "delivered"


def test_messages_are_written_in_the_transaction_of_the_change_and_roll_back_with_it(endpoint):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_order()
        assert WebhookMessage.objects.filter(event_type="order.created").count() == 1
        raise RuntimeError("the change fails")

    assert not WebhookMessage.objects.exists()


def test_a_brand_without_endpoints_pays_one_query_per_domain_event(django_assert_num_queries):
    from orders.models import DomainEvent

    order = make_order()
    event = DomainEvent.objects.filter(order=order).select_related("order").first()
    with django_assert_num_queries(1):  # the endpoint lookup: no mapping, no savepoint, no rows
        outbound.on_domain_event(event)
    assert not WebhookMessage.objects.exists()


def test_an_endpoint_of_another_brand_gets_nothing(endpoint):
    from tests.factories import BrandFactory

    endpoint.brand = BrandFactory()
    endpoint.save(update_fields=["brand"])
    make_order()
    assert not WebhookMessage.objects.exists()


def test_an_endpoint_only_receives_the_event_types_it_subscribed_to(receiver):
    outbound.endpoint_create(url=receiver.url, event_types=["order.status_changed"], secret=SECRET)
    order = make_order()

    services.order_transition(order=order, transition="confirm", source="api")

    assert list(WebhookMessage.objects.values_list("event_type", flat=True)) == ["order.status_changed"]
    body = json.loads(WebhookMessage.objects.get().body)
    assert (body["data"]["from"], body["data"]["to"]) == ("pending", "confirmed")


def test_a_delivered_order_sends_order_delivered_and_shipment_events(receiver):
    from orders.tracking import TrackingEvent

    outbound.endpoint_create(
        url=receiver.url, event_types=["order.delivered", "shipment.created", "shipment.status_changed"], secret=SECRET
    )
    order = make_order(inventory_allocated=True)
    services.order_transition(order=order, transition="confirm", source="api")
    shipment = services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    event = TrackingEvent(carrier="ups", tracking_number="1Z1", status="delivered", occurred_at=timezone.now())

    services.shipment_apply_event(shipment=shipment, event=event)

    kinds = list(WebhookMessage.objects.order_by("id").values_list("event_type", flat=True))
    assert kinds == ["shipment.created", "shipment.status_changed", "order.delivered"]


def test_a_delivered_notification_sends_notification_delivered(receiver, django_capture_on_commit_callbacks):
    outbound.endpoint_create(url=receiver.url, event_types=["notification.delivered"], secret=SECRET)
    order = make_order()

    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, transition="confirm", source="api")

    message = WebhookMessage.objects.get(event_type="notification.delivered")
    data = json.loads(message.body)["data"]
    assert data["notification"]["event"] == "order_confirmed"
    assert data["order"]["number"] == order.number


# --- retries ------------------------------------------------------------------------------------


def test_the_retry_schedule_makes_eight_attempts_over_more_than_a_day_with_jitter():
    delays = [outbound.retry_delay(n) for n in range(1, 8)]

    assert all(later > earlier for earlier, later in zip(delays[:4], delays[1:5], strict=True))
    assert sum(delays) >= 24 * 3600
    assert outbound.retry_delay(8) is None  # the 8th attempt was the last
    assert len({outbound.retry_delay(3) for _ in range(5)}) > 1  # jittered


def test_a_failed_attempt_is_recorded_and_scheduled_again(endpoint, receiver):
    receiver.fail_next(503)
    make_order()

    assert deliver_all() == ["failure"]

    message = WebhookMessage.objects.get()
    attempt = WebhookAttempt.objects.get()
    assert (message.status, message.attempts, attempt.status_code, attempt.outcome) == ("pending", 1, 503, "failure")
    wait = (message.next_attempt_at - attempt.started_at).total_seconds()
    assert 5 <= wait <= 7
    assert deliver_all() == ["skipped"]  # not due yet


def test_retry_after_is_honoured(endpoint, receiver):
    receiver.fail_next(429, headers={"Retry-After": "600"})
    make_order()

    deliver_all()

    message = WebhookMessage.objects.get()
    assert message.next_attempt_at >= timezone.now() + timedelta(seconds=590)


def test_after_eight_failed_attempts_the_message_fails_with_every_attempt_recorded(endpoint, receiver):
    receiver.fail_next(500, times=10)
    make_order()
    message = WebhookMessage.objects.get()

    for _ in range(10):
        force_due(message)
        outbound.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 8)
    assert WebhookAttempt.objects.filter(message=message).count() == 8
    assert len(receiver.requests) == 8


def test_a_410_stops_retrying_and_disables_the_endpoint_and_tells_staff(endpoint, receiver, caplog):
    receiver.fail_next(410)
    make_order()

    with caplog.at_level(logging.ERROR, logger="oms_notify.alerts.webhooks"):
        assert deliver_all() == ["gone"]

    message = WebhookMessage.objects.get()
    endpoint.refresh_from_db()
    assert (message.status, message.next_attempt_at) == ("failed", None)
    assert endpoint.enabled is False
    assert any(r.event == "webhook_endpoint.disabled" for r in caplog.records)


def test_an_endpoint_failing_for_five_days_is_disabled_and_staff_are_told(endpoint, receiver, caplog):
    receiver.fail_next(500)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    make_order()

    with caplog.at_level(logging.ERROR, logger="oms_notify.alerts.webhooks"):
        deliver_all()

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert "5 days" in endpoint.disabled_reason
    assert [r.endpoint for r in caplog.records if r.name == "oms_notify.alerts.webhooks"] == [endpoint.pk]


def test_a_success_clears_the_failure_record(endpoint, receiver):
    receiver.fail_next(500)
    make_order()
    deliver_all()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None

    force_due(WebhookMessage.objects.get())
    deliver_all()

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at is not None


def test_the_sweeper_sends_a_retry_that_came_due(endpoint, receiver):
    receiver.fail_next(500)
    make_order()
    deliver_all()
    force_due(WebhookMessage.objects.get())

    outbound.webhooks_sweep()

    assert WebhookMessage.objects.get().status == "delivered"


# --- replay and rotation --------------------------------------------------------------------------


def test_replaying_a_message_sends_it_again_with_the_same_webhook_id(endpoint, receiver):
    make_order()
    deliver_all()
    message = WebhookMessage.objects.get()

    outbound.message_replay(message=message)
    outbound.message_deliver(message_id=message.pk)

    assert [r.headers["webhook-id"] for r in receiver.requests] == [message.msg_id, message.msg_id]


def test_replay_everything_that_failed_since_t(endpoint, receiver):
    for _ in range(3):
        make_order()
    old, *recent = WebhookMessage.objects.order_by("id")
    WebhookMessage.objects.update(status="failed")
    WebhookMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))

    count = outbound.endpoint_replay_failed_since(endpoint=endpoint, since=timezone.now() - timedelta(days=1))
    deliver_all()

    assert count == 2
    assert sorted(WebhookMessage.objects.values_list("status", flat=True)) == ["delivered", "delivered", "failed"]


def test_during_a_rotation_both_secrets_sign_and_either_verifies(endpoint, receiver):
    new_secret = outbound.endpoint_rotate_secret(endpoint=endpoint)
    make_order()
    deliver_all()

    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split()) == 2
    Webhook(SECRET).verify(request.body, request.headers)
    Webhook(new_secret).verify(request.body, request.headers)


def test_secrets_are_stored_encrypted(endpoint):
    stored = WebhookEndpoint.objects.get()
    assert SECRET not in stored.secret_encrypted
    assert outbound.endpoint_secrets(stored) == [SECRET]


def test_the_previous_secret_stops_signing_when_its_overlap_ends(endpoint):
    outbound.endpoint_rotate_secret(endpoint=endpoint, overlap_hours=0)

    assert SECRET not in outbound.endpoint_secrets(WebhookEndpoint.objects.get())


def test_tracking_page_feedback_and_delivery_changes_become_their_event_types(receiver):
    from orders import events

    outbound.endpoint_create(
        url=receiver.url, event_types=["order.feedback_received", "delivery_preferences.changed"], secret=SECRET
    )
    order = make_order()

    with transaction.atomic():
        events.publish(name="delivery.feedback_received", order=order, payload={"score": 2, "feedback_id": 7})
        events.publish(name="delivery.rescheduled", order=order, payload={"after": {"date": "2026-12-01"}})

    bodies = [json.loads(m.body) for m in WebhookMessage.objects.order_by("id")]
    assert [(b["type"], b["data"].get("score")) for b in bodies] == [
        ("order.feedback_received", 2),
        ("delivery_preferences.changed", None),
    ]
    assert bodies[1]["data"]["after"] == {"date": "2026-12-01"}


def test_a_failed_notification_sends_notification_failed(receiver):
    from notifications.models import Notification

    outbound.endpoint_create(url=receiver.url, event_types=["notification.failed"], secret=SECRET)
    order = make_order()
    n = Notification.objects.create(
        idempotency_key="t:1", order=order, event="delayed", audience="customer", channel="sms", provider="twilio"
    )

    outbound.notification_outcome(notification_id=n.pk, status="failed")
    outbound.notification_outcome(notification_id=n.pk, status="sent")  # not an outcome anyone subscribes to

    message = WebhookMessage.objects.get()
    assert json.loads(message.body)["data"]["notification"]["status"] == "failed"
