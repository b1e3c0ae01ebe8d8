"""Dispatch through the official SDKs to loopback fakes: request shapes, retries, permanent errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import DeliveryAttempt, Event, Notification
from notifications.preferences import preferences_for
from orders import services as order_services
from orders.models import Customer
from tests.factories import make_order
from tests.notifications.helpers import dispatched_order, messages, reachable_everywhere, scan

pytestmark = pytest.mark.django_db
S = Notification.Status


def one(order, channel: str, event: str = Event.ORDER_DISPATCHED) -> Notification:
    return messages(order, event=event, channel=channel)[0]


def retry_now(n: Notification) -> str:
    Notification.objects.filter(pk=n.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    return services.notification_dispatch(notification_id=n.pk)


def test_it_sends_email_through_the_sendgrid_sdk_with_only_opaque_ids_in_metadata(
    sendgrid, django_capture_on_commit_callbacks
):
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = one(order, "email")
    request = next(r for r in sendgrid.requests if r.json["subject"] == email.subject)
    body = request.json
    assert request.headers["authorization"] == "Bearer SG.test-key"
    assert body["personalizations"][0]["to"] == [{"email": "ada@example.com"}]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["custom_args"] == {"notification": str(email.public_id)}
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["headers"]["List-Unsubscribe"].startswith("<https://track.example.test/preferences/")
    assert email.status == S.SENT and email.provider_message_id


def test_it_sends_sms_through_the_twilio_sdk_with_a_status_callback(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    request = next(r for r in twilio.requests if r.field("To") == "+14155550123")
    assert request.field("From") == "+15017122661"
    assert request.field("Body") == sms.body_text
    assert request.field("StatusCallback") == "https://track.example.test/webhooks/providers/twilio/status/"
    assert sms.status == S.SENT and sms.provider_message_id.startswith("SM")
    assert sms.sms_segments == 1 and sms.sms_encoding == "GSM-7"


def test_whatsapp_uses_the_approved_content_template_when_one_is_configured(
    twilio, settings, django_capture_on_commit_callbacks
):
    settings.TWILIO_WHATSAPP_CONTENT_SIDS = {"order_dispatched": "HX" + "b" * 32}
    order = dispatched_order(django_capture_on_commit_callbacks)
    request = next(r for r in twilio.requests if r.field("To").startswith("whatsapp:"))
    assert request.field("From") == "whatsapp:+14155238886"
    assert request.field("ContentSid") == "HX" + "b" * 32
    assert f'"2": "{order.number}"' in request.field("ContentVariables")
    assert request.field("Body") == ""


def test_a_server_error_is_retried_later_and_then_sent(twilio, django_capture_on_commit_callbacks):
    twilio.fail_next(500, times=2)  # the SMS and the WhatsApp message both meet the outage
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    assert (sms.status, sms.status_reason, sms.attempts) == (S.SCHEDULED, "retry", 1)
    assert sms.due_at > timezone.now()
    # What the customer would have got is kept with the failure, for the log and the retry.
    assert order.number in sms.body_text and sms.sms_segments == 1
    assert retry_now(sms) == "sent"
    outcomes = list(DeliveryAttempt.objects.filter(notification=sms).values_list("outcome", flat=True))
    assert outcomes == ["transient", "success"]
    sms.refresh_from_db()
    assert sms.attempts == 2


def test_a_429_is_retried_no_sooner_than_retry_after(twilio, django_capture_on_commit_callbacks):
    twilio.fail_next(429, times=2, headers={"Retry-After": "120"}, payload={"code": 20429, "message": "Too Many"})
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    assert sms.status == S.SCHEDULED
    assert sms.due_at >= timezone.now() + timedelta(seconds=115)


def test_a_timeout_is_a_transient_failure(sendgrid, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_READ_TIMEOUT = settings.NOTIFY_CONNECT_TIMEOUT = 0.3
    sendgrid.hang_next(1.0)
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = one(order, "email")
    attempt = DeliveryAttempt.objects.get(notification=email)
    assert (email.status, attempt.outcome, attempt.error_code) == (S.SCHEDULED, "transient", "timeout")


def test_a_refused_connection_is_a_transient_failure(settings, django_capture_on_commit_callbacks):
    settings.SENDGRID_API_KEY = "SG.key"
    settings.SENDGRID_API_HOST = "http://127.0.0.1:9"  # discard port: nothing listens
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = one(order, "email")
    assert (email.status, email.error_code) == (S.SCHEDULED, "connection")


def test_a_twilio_timeout_and_a_refused_connection_are_transient(twilio, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_READ_TIMEOUT = settings.NOTIFY_CONNECT_TIMEOUT = 0.3
    twilio.hang_next(1.0)
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    attempt = DeliveryAttempt.objects.get(notification=sms)
    assert (sms.status, attempt.outcome, attempt.error_code) == (S.SCHEDULED, "transient", "timeout")
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    assert retry_now(sms) == "retry"
    sms.refresh_from_db()
    assert (sms.status, sms.error_code, sms.attempts) == (S.SCHEDULED, "connection", 2)


def test_an_invalid_number_fails_permanently_without_retry(twilio, django_capture_on_commit_callbacks):
    order = make_order(inventory_allocated=True, email="bad@example.com")
    Customer.objects.filter(pk=order.customer_id).update(phone="+1555")
    reachable_everywhere(order.customer)
    order_services.order_transition(order=order, transition="confirm", source="api")
    order_services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_transition(order=order, transition="dispatch", source="api")
    sms = one(order, "sms")
    assert (sms.status, sms.error_code) == (S.FAILED, "21211")
    assert sms.due_at is None and sms.dead_lettered_at is None
    assert services.notification_dispatch(notification_id=sms.pk) == "skipped"


def test_an_unsubscribed_number_is_suppressed_and_remembered(twilio, django_capture_on_commit_callbacks):
    twilio.unsubscribed.add("+14155550123")
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    assert (sms.status, sms.error_code) == (S.SUPPRESSED, "21610")
    assert preferences_for(order.customer).sms_opted_out is True


def test_after_the_last_attempt_the_message_is_dead_lettered(twilio, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    twilio.fail_next(503, times=10)
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    assert retry_now(sms) == "dead_lettered"
    sms.refresh_from_db()
    assert sms.status == S.FAILED and sms.dead_lettered_at is not None and sms.attempts == 2


def test_an_out_for_delivery_message_is_not_sent_once_the_parcel_was_delivered(
    twilio, django_capture_on_commit_callbacks
):
    order = dispatched_order(django_capture_on_commit_callbacks)
    shipment = order.shipments.get()
    scan(shipment, "out_for_delivery")  # no commit callbacks run: the rows wait, as if the queue was slow
    scan(shipment, "delivered")
    sms = one(order, "sms", Event.OUT_FOR_DELIVERY)
    before = len(twilio.requests)
    assert services.notification_dispatch(notification_id=sms.pk) == S.SUPPRESSED
    sms.refresh_from_db()
    assert sms.status_reason == "superseded: order is delivered"
    assert len(twilio.requests) == before
    assert sms.attempts == 0  # the claim counted one; nothing was sent, so it was taken back


def test_a_sent_notification_is_never_sent_again(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    before = len(twilio.requests)
    assert services.notification_dispatch(notification_id=sms.pk) == "skipped"
    assert len(twilio.requests) == before


def test_a_message_claimed_by_a_worker_that_died_is_sent_again_by_the_sweeper(
    twilio, settings, django_capture_on_commit_callbacks
):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    # The worker claimed it (counting the attempt), called Twilio, and died before recording the answer.
    claimed = timezone.now() - timedelta(seconds=settings.NOTIFY_SENDING_STALE_SECONDS + 1)
    Notification.objects.filter(pk=sms.pk).update(
        status=S.SENDING, claimed_at=claimed, enqueued_at=claimed - timedelta(seconds=1), attempts=2
    )
    before = len(twilio.requests)
    services.notifications_sweep()
    sms.refresh_from_db()
    assert sms.status == S.SENT
    assert len(twilio.requests) == before + 1  # the one duplicate a crash may cost
    # The lost attempt still counts: a message that keeps killing its worker runs out of attempts.
    assert sms.attempts == 3
    assert list(DeliveryAttempt.objects.filter(notification=sms).values_list("number", flat=True)) == [1, 3]


def test_a_message_that_kept_killing_its_worker_is_dead_lettered_once_its_attempts_are_spent(
    twilio, settings, django_capture_on_commit_callbacks
):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    # Every attempt was claimed, and the last worker died mid-send like the ones before it.
    claimed = timezone.now() - timedelta(seconds=settings.NOTIFY_SENDING_STALE_SECONDS + 1)
    Notification.objects.filter(pk=sms.pk).update(
        status=S.SENDING, claimed_at=claimed, enqueued_at=None, attempts=settings.NOTIFY_MAX_ATTEMPTS
    )
    before = len(twilio.requests)
    with django_capture_on_commit_callbacks(execute=True):
        services.notifications_sweep()
    sms.refresh_from_db()
    assert (sms.status, sms.status_reason, sms.error_code) == (S.FAILED, "dead-lettered", "worker_lost")
    assert sms.dead_lettered_at is not None
    assert sms.attempts == settings.NOTIFY_MAX_ATTEMPTS
    assert len(twilio.requests) == before  # not sent a ninth time
    alert = Notification.objects.get(order=order, event="notification_dead_lettered", channel="email")
    assert "worker_lost" in alert.data["reason"]


def test_a_message_claimed_by_a_live_worker_is_left_alone(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    Notification.objects.filter(pk=sms.pk).update(status=S.SENDING, claimed_at=timezone.now())
    assert services.notification_dispatch(notification_id=sms.pk) == "skipped"


def test_a_non_urgent_message_past_its_lifetime_expires(twilio, settings, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = one(order, "sms")
    Notification.objects.filter(pk=sms.pk).update(
        status=S.SCHEDULED, due_at=timezone.now(), created_at=timezone.now() - timedelta(hours=73)
    )
    assert services.notification_dispatch(notification_id=sms.pk) == S.EXPIRED


def test_a_customer_who_opted_out_after_the_row_was_written_gets_nothing(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    shipment = order.shipments.get()
    scan(shipment, "out_for_delivery")
    prefs = preferences_for(order.customer)
    prefs.sms_opted_out = True
    prefs.save()
    sms = one(order, "sms", Event.OUT_FOR_DELIVERY)
    assert services.notification_dispatch(notification_id=sms.pk) == S.SUPPRESSED


def test_staff_can_resend_a_message_as_a_new_row(sendgrid, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = one(order, "email")
    with django_capture_on_commit_callbacks(execute=True):
        copy = services.notification_resend(notification=email)
    copy.refresh_from_db()
    assert copy.resend_of == email and copy.status == S.SENT and copy.idempotency_key != email.idempotency_key


def test_an_unexpected_sdk_error_is_retried_and_not_left_sending(
    sendgrid, monkeypatch, django_capture_on_commit_callbacks
):
    from notifications.transports.sendgrid import SendGridTransport

    def boom(self, notification):
        raise ValueError("unexpected payload from the SDK")

    monkeypatch.setattr(SendGridTransport, "send", boom)
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = one(order, "email")
    assert (email.status, email.error_code) == (S.SCHEDULED, "unexpected")


def test_a_template_error_fails_the_message_without_retry(monkeypatch, django_capture_on_commit_callbacks):
    from notifications import services as notification_services

    def broken(notification):
        raise KeyError("missing block")

    monkeypatch.setattr(notification_services, "render_notification", broken)
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = one(order, "email")
    assert (email.status, email.error_code, email.due_at, email.attempts) == (S.FAILED, "render", None, 0)


def test_the_sweeper_does_not_pile_duplicates_onto_a_backlog(settings):
    from unittest import mock

    order = make_order(inventory_allocated=True)
    with mock.patch("notifications.tasks.send_notification.apply_async") as broker:
        order_services.order_transition(order=order, transition="confirm", source="api")
        email = one(order, "email", Event.ORDER_CONFIRMED)
        Notification.objects.filter(pk=email.pk).update(
            created_at=timezone.now() - timedelta(minutes=2), enqueued_at=timezone.now() - timedelta(minutes=1)
        )
        services.notifications_sweep()
        assert broker.call_count == 0  # handed over a minute ago: still in the queue
        later = timezone.now() + timedelta(seconds=settings.NOTIFY_REQUEUE_SECONDS)
        services.notifications_sweep(now=later)
        sent_again = [c.kwargs["args"] for c in broker.call_args_list if c.kwargs["args"] == [email.pk]]
        assert len(sent_again) == 1  # lost after all: handed over once more


def test_the_twilio_client_reads_proxy_and_ca_bundle_from_the_environment_once(monkeypatch, tmp_path):
    import urllib3

    from notifications.transports.twilio import _PooledHttpClient

    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = _PooledHttpClient("https://api.twilio.com", (1.0, 2.0))
    assert isinstance(client.pool, urllib3.ProxyManager)
    assert client.pool.proxy.host == "proxy.internal"
    assert client.pool.connection_pool_kw["ca_certs"] == str(bundle)
    monkeypatch.setenv("NO_PROXY", "api.twilio.com")
    assert not isinstance(_PooledHttpClient("https://api.twilio.com", (1.0, 2.0)).pool, urllib3.ProxyManager)
