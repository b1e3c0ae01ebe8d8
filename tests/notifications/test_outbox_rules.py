"""From domain events to outbox rows: rules, the same transaction, after-commit dispatch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications import services as notification_services
from notifications.models import Event, Notification, NotificationRule
from orders import services
from orders.models import Order
from orders.tracking import TrackingEvent
from tests.factories import BrandFactory, make_order, supervisor_user
from tests.notifications.conftest import consent_all
from tests.notifications.helpers import confirmed_order, events_of, messages, scan, shipped_order

pytestmark = pytest.mark.django_db
S = Notification.Status


def test_it_writes_the_rows_in_the_orders_transaction_and_sends_only_after_commit(django_capture_on_commit_callbacks):
    order = make_order(inventory_allocated=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.order_transition(order=order, transition="confirm", source="api")
    rows = messages(order, event=Event.ORDER_CONFIRMED, channel="email")
    assert [n.status for n in rows] == [S.PENDING]
    assert callbacks, "the send is enqueued on commit"
    for callback in callbacks:
        callback()
    assert messages(order, event=Event.ORDER_CONFIRMED, channel="email")[0].status == S.SENT


def test_a_rollback_leaves_no_message_behind():
    order = make_order(inventory_allocated=True)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_transition(order=order, transition="confirm", source="api")
        raise RuntimeError("the caller failed after the move")
    assert not Notification.objects.filter(order=order).exists()


def test_the_five_event_sequence_gives_one_message_per_step(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order, shipment = shipped_order()
        scan(shipment, "out_for_delivery")
        scan(shipment, "delayed", reason="weather")
        scan(shipment, "delivered", signed_by="A. Lovelace")
    assert events_of(order, audience="customer", channel="email") == [
        Event.ORDER_CONFIRMED,
        Event.ORDER_DISPATCHED,
        Event.OUT_FOR_DELIVERY,
        Event.DELAYED,
        Event.DELIVERED,
        Event.FEEDBACK_REQUEST,
    ]


def test_the_feedback_request_is_scheduled_a_day_after_delivery(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order, shipment = shipped_order()
        scan(shipment, "delivered")
    feedback = messages(order, event=Event.FEEDBACK_REQUEST, channel="email")[0]
    delivered = Order.objects.get(pk=order.pk).history.get(to_status="delivered", shipment__isnull=True)
    assert feedback.status == S.SCHEDULED
    assert (feedback.due_at - delivered.occurred_at).total_seconds() == 24 * 3600
    assert feedback.queue == "bulk"


def test_exceptions_are_urgent_and_go_to_the_critical_queue(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order, shipment = shipped_order()
        scan(shipment, "attempt_failed", reason="nobody home")
    failed = messages(order, event=Event.DELIVERY_FAILED)
    assert {n.audience for n in failed} == {"customer", "staff"}
    assert all(n.urgent and n.queue == "critical" for n in failed)


def test_a_support_override_without_notify_tells_the_customer_nothing():
    order = confirmed_order()
    services.order_override_status(
        order=order, status="cancelled", reason="fraud check", notify=False, actor=supervisor_user()
    )
    assert messages(order, event=Event.CANCELLED, audience="customer") == []


def test_a_brand_rule_replaces_the_default_channels():
    brand = BrandFactory()
    NotificationRule.objects.create(brand=brand, event=Event.ORDER_CONFIRMED, channels=["sms"])
    order = confirmed_order(brand=brand)
    assert [n.channel for n in messages(order, event=Event.ORDER_CONFIRMED)] == ["sms"]


def test_a_disabled_rule_sends_nothing_for_that_event():
    NotificationRule.objects.create(event=Event.ORDER_CONFIRMED, channels=["email"], enabled=False)
    order = confirmed_order()
    assert messages(order, event=Event.ORDER_CONFIRMED) == []


def test_a_second_out_for_delivery_on_a_later_day_is_a_new_message():
    order, shipment = shipped_order()
    scan(shipment, "out_for_delivery")
    scan(shipment, "attempt_failed", reason="closed")
    scan(shipment, "out_for_delivery")
    assert len(messages(order, event=Event.OUT_FOR_DELIVERY, channel="email")) == 2


def test_the_same_carrier_event_twice_makes_no_second_message():
    order, shipment = shipped_order()
    event = TrackingEvent(
        carrier="ups", tracking_number=shipment.tracking_number, status="out_for_delivery", occurred_at=timezone.now()
    )
    services.shipment_apply_event(shipment=shipment, event=event)
    services.shipment_apply_event(shipment=shipment, event=event)
    assert len(messages(order, event=Event.OUT_FOR_DELIVERY, channel="email")) == 1


def test_an_order_in_several_parcels_gets_the_split_shipment_notice_once():
    order = make_order(lines=[("A", 1), ("B", 1)], inventory_allocated=True)
    services.order_transition(order=order, transition="confirm", source="api")
    services.shipment_create(order=order, carrier="ups", tracking_number="1ZA", source="api", lines=[("A", 1)])
    services.shipment_create(order=order, carrier="ups", tracking_number="1ZB", source="api", lines=[("B", 1)])
    services.order_transition(order=order, transition="dispatch", source="api")
    split = messages(order, event=Event.SPLIT_SHIPMENT, channel="email")
    assert len(split) == 1
    assert split[0].data == {}


def test_channels_without_consent_are_recorded_as_suppressed_not_sent():
    order = confirmed_order()
    services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    services.order_transition(order=order, transition="dispatch", source="api")
    sms = messages(order, event=Event.ORDER_DISPATCHED, channel="sms")[0]
    assert (sms.status, sms.status_reason) == (S.SUPPRESSED, "no_consent")


def test_a_customer_who_consented_gets_sms_and_whatsapp_rows(django_capture_on_commit_callbacks):
    order = make_order(inventory_allocated=True)
    consent_all(order.customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, transition="confirm", source="api")
        services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
        services.order_transition(order=order, transition="dispatch", source="api")
    statuses = {n.channel: n.status for n in messages(order, event=Event.ORDER_DISPATCHED)}
    # SMS and WhatsApp may be held for quiet hours depending on the clock; never suppressed.
    assert statuses["sms"] in (S.SENT, S.SCHEDULED) and statuses["whatsapp"] in (S.SENT, S.SCHEDULED)
    assert statuses["push"] == S.SUPPRESSED  # consented, but no device registered


def test_a_bug_in_the_notifications_handler_never_blocks_the_orders_change(monkeypatch):
    from notifications import handlers

    def broken(**kwargs):
        raise RuntimeError("template registry exploded")

    monkeypatch.setattr(handlers.services, "notifications_create", broken)
    order = make_order(inventory_allocated=True)
    services.order_transition(order=order, transition="confirm", source="api")
    assert Order.objects.get(pk=order.pk).status == "confirmed"
    assert messages(order) == []


def test_a_broker_outage_at_commit_leaves_the_rows_pending_for_the_sweeper(
    monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from notifications import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.send_notification, "apply_async", broker_down)
    order = make_order(inventory_allocated=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, transition="confirm", source="api")  # does not raise
    rows = messages(order, event=Event.ORDER_CONFIRMED, channel="email")
    assert [n.status for n in rows] == [S.PENDING]
    assert Order.objects.get(pk=order.pk).status == "confirmed"
    # Never handed to the broker: the sweeper takes it once it looks lost, not after the re-queue wait.
    assert rows[0].enqueued_at is None
    monkeypatch.undo()
    later = timezone.now() + timedelta(seconds=31)  # lost after 30 s; the re-queue wait is longer
    assert later < timezone.now() + timedelta(seconds=settings.NOTIFY_REQUEUE_SECONDS)
    notification_services.notifications_sweep(now=later)
    assert Notification.objects.get(pk=rows[0].pk).status == S.SENT  # tasks run in-process here
