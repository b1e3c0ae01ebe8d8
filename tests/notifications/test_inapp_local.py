"""In-app messages are delivered in the transaction of their cause: no task, nothing on the broker."""

from __future__ import annotations

from unittest import mock

import pytest

from notifications.models import Audience, Channel, DeliveryAttempt, Event, Notification
from orders import services
from tests.factories import make_order
from tests.notifications.helpers import messages, reachable_everywhere, scan, shipped_order

pytestmark = pytest.mark.django_db
S = Notification.Status


def _confirmed_and_shipped(django_capture_on_commit_callbacks):
    order = make_order(inventory_allocated=True)
    reachable_everywhere(order.customer)
    services.order_transition(order=order, transition="confirm", source="api")
    services.shipment_create(order=order, carrier="ups", tracking_number="1Z999AA10123456784", source="api")
    return order


def test_the_feed_message_is_delivered_before_commit_and_only_the_others_are_enqueued(
    django_capture_on_commit_callbacks,
):
    order = _confirmed_and_shipped(django_capture_on_commit_callbacks)
    with mock.patch("notifications.tasks.send_notification.apply_async") as enqueued:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.order_transition(order=order, transition="dispatch", source="api")
            feed = messages(order, event=Event.ORDER_DISPATCHED, channel=Channel.INAPP)
            assert [n.status for n in feed] == [S.DELIVERED]  # inside the order's transaction
        for callback in callbacks:
            callback()
    n = feed[0]
    assert n.body_text and n.subject and n.attempts == 1 and n.delivered_at is not None
    attempt = DeliveryAttempt.objects.get(notification=n)
    assert (attempt.number, attempt.outcome, attempt.provider) == (1, "success", "inapp")
    sent_ids = {call.kwargs["args"][0] for call in enqueued.call_args_list}
    others = {m.pk for m in messages(order, event=Event.ORDER_DISPATCHED, status=S.PENDING)}
    assert others and sent_ids == others and n.pk not in sent_ids


def test_a_cause_that_alerts_staff_leaves_the_customers_feed_message_to_dispatch(django_capture_on_commit_callbacks):
    order, shipment = shipped_order()
    reachable_everywhere(order.customer)
    with (
        mock.patch("notifications.tasks.send_notification.apply_async"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        scan(shipment, "attempt_failed", reason="Nobody home")
    staff = messages(order, event=Event.DELIVERY_FAILED, audience=Audience.STAFF)
    feed = messages(order, event=Event.DELIVERY_FAILED, channel=Channel.INAPP)
    assert staff and [n.status for n in feed] == [S.PENDING]  # staff first: the dispatch path decides


def test_a_feed_message_that_fails_to_render_goes_to_dispatch_which_records_the_error(
    django_capture_on_commit_callbacks,
):
    order = _confirmed_and_shipped(django_capture_on_commit_callbacks)
    with (
        mock.patch("notifications.services.render_notification", side_effect=RuntimeError("bad template")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.order_transition(order=order, transition="dispatch", source="api")
    feed = messages(order, event=Event.ORDER_DISPATCHED, channel=Channel.INAPP)
    assert [(n.status, n.error_code) for n in feed] == [(S.FAILED, "render")]
    assert order.history.filter(to_status="dispatched").exists()  # the order moved regardless


def test_rows_handed_to_the_broker_carry_their_enqueue_time_and_no_other_does(django_capture_on_commit_callbacks):
    """The sweeper re-enqueues by `enqueued_at`: set for exactly the rows enqueued at commit."""
    order, shipment = shipped_order()
    reachable_everywhere(order.customer)
    with (
        mock.patch("notifications.tasks.send_notification.apply_async") as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        scan(shipment, "out_for_delivery")  # no staff alert: the feed message is delivered at once
        scan(shipment, "attempt_failed", reason="Nobody home")  # alerts staff: the feed message waits
    sent_ids = {call.kwargs["args"][0] for call in enqueued.call_args_list}
    rows = messages(order, event=Event.OUT_FOR_DELIVERY) + messages(order, event=Event.DELIVERY_FAILED)
    stamped = {n.pk for n in rows if n.enqueued_at is not None}
    assert stamped == sent_ids
    by_event_channel = {(n.event, n.channel): n for n in rows if n.audience == Audience.CUSTOMER}
    assert by_event_channel[(Event.OUT_FOR_DELIVERY, Channel.INAPP)].enqueued_at is None  # delivered locally
    assert by_event_channel[(Event.DELIVERY_FAILED, Channel.INAPP)].pk in stamped  # left to dispatch
