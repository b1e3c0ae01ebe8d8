"""Staff alerts: exceptions reach the staff chat before the customer hears, dead letters alert staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Notification, StaffDestination
from tests.notifications.channels.conftest import add_destination
from tests.notifications.channels.helpers import customer, staff_chat
from tests.notifications.helpers import reachable_everywhere, scan, shipped_order

pytestmark = pytest.mark.django_db
S = Notification.Status


def delayed_without_dispatch(capture):
    """The delay's rows are written, nothing dispatched yet (the after-commit enqueue is held back)."""
    with capture(execute=True):
        order, shipment = shipped_order()
    reachable_everywhere(order.customer)
    with capture(execute=False):
        scan(shipment, "delayed", reason="weather")
    return order


def test_the_staff_chat_hears_of_a_delay_before_the_customer(
    slack_webhook, twilio, sendgrid, django_capture_on_commit_callbacks
):
    add_destination(StaffDestination.Kind.SLACK_WEBHOOK, slack_webhook.hook_url())
    with django_capture_on_commit_callbacks(execute=True):
        order, shipment = shipped_order()
    reachable_everywhere(order.customer)
    sms_before, email_before = len(twilio.requests), len(sendgrid.requests)
    with django_capture_on_commit_callbacks(execute=True):
        scan(shipment, "delayed", reason="weather")
    [staff] = slack_webhook.requests
    customer_requests = twilio.requests[sms_before:] + sendgrid.requests[email_before:]
    assert len(customer_requests) == 3  # SMS, WhatsApp, email
    assert all(staff.at < r.at for r in customer_requests)
    assert staff_chat(order)[0].sent_at < customer(order, "sms").sent_at


def test_a_customer_message_waits_while_the_staff_alert_of_its_event_is_unsent(django_capture_on_commit_callbacks):
    order = delayed_without_dispatch(django_capture_on_commit_callbacks)
    email, [alert] = customer(order, "email"), staff_chat(order)
    assert services.notification_dispatch(notification_id=email.pk) == "waiting"
    email.refresh_from_db()
    assert email.status == S.SCHEDULED and email.status_reason == "staff_first" and email.attempts == 0
    assert services.notification_dispatch(notification_id=alert.pk) == "sent"
    Notification.objects.filter(pk=email.pk).update(due_at=timezone.now())
    assert services.notification_dispatch(notification_id=email.pk) == "sent"


def test_a_stuck_staff_alert_does_not_silence_the_customer_past_the_wait(settings, django_capture_on_commit_callbacks):
    order = delayed_without_dispatch(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    waited = timezone.now() - timedelta(seconds=settings.NOTIFY_STAFF_FIRST_WAIT_SECONDS + 1)
    Notification.objects.filter(pk=email.pk).update(created_at=waited)
    assert staff_chat(order)[0].status == S.PENDING
    assert services.notification_dispatch(notification_id=email.pk) == "sent"


def test_staff_rows_are_handed_to_the_broker_first(django_capture_on_commit_callbacks, monkeypatch):
    from notifications import tasks

    order = delayed_without_dispatch(django_capture_on_commit_callbacks)
    seen: list[str] = []
    monkeypatch.setattr(
        tasks.send_notification,
        "apply_async",
        lambda args, queue: seen.append(Notification.objects.get(pk=args[0]).audience),
    )
    services.enqueue(list(Notification.objects.filter(order=order, event="delayed").values_list("pk", flat=True)))
    assert seen[0] == "staff" and seen.count("staff") == 1 and set(seen[1:]) == {"customer"}


def test_a_dead_lettered_customer_message_alerts_staff(sendgrid, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    order = delayed_without_dispatch(django_capture_on_commit_callbacks)
    services.notification_dispatch(notification_id=staff_chat(order)[0].pk)
    sendgrid.fail_next(503)
    email = customer(order, "email")
    assert services.notification_dispatch(notification_id=email.pk) == "dead_lettered"
    alerts = Notification.objects.filter(order=order, event="notification_dead_lettered").order_by("channel")
    assert [(n.audience, n.channel) for n in alerts] == [("staff", "chat"), ("staff", "email")]
    alert = alerts[0]
    assert alert.status == S.PENDING
    services.notification_dispatch(notification_id=alert.pk)
    alert.refresh_from_db()
    assert "sendgrid" in alert.body_text and order.number in alert.subject


def test_a_brand_destination_only_gets_the_events_it_asked_for(slack_webhook, django_capture_on_commit_callbacks):
    destination = add_destination(StaffDestination.Kind.SLACK_WEBHOOK, slack_webhook.hook_url())
    StaffDestination.objects.filter(pk=destination.pk).update(events=["delivery_failed"])
    order = delayed_without_dispatch(django_capture_on_commit_callbacks)
    assert [n.provider for n in staff_chat(order)] == ["outbox"]
