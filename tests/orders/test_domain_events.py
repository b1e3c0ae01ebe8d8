"""Domain events: written with the change, handlers join its transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import events, services
from orders.models import DomainEvent, Order
from orders.statuses import OrderStatus as OS
from tests.factories import make_order, supervisor_user
from tests.orders.builders import order_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler():
    seen = []

    def remember(event):
        seen.append((event.name, event.order.status, event.payload))

    events.register(remember)
    yield seen
    events.unregister(remember)


def test_every_move_publishes_an_event_that_handlers_see(handler):
    order = make_order()
    services.order_transition(order=order, transition="confirm", source="api")
    assert (events.ORDER_CREATED, "pending", {"number": order.number, "status": "pending"}) in handler
    name, status, payload = handler[-1]
    assert (name, status) == (events.ORDER_STATUS_CHANGED, "confirmed")
    assert payload == {"from": "pending", "to": "confirmed", "transition": "confirm", "notify": True}


def test_a_failing_handler_rolls_the_change_back():
    order = make_order()

    def explode(event):
        raise RuntimeError("listener broke")

    events.register(explode)
    try:
        with pytest.raises(RuntimeError):
            services.order_transition(order=order, transition="confirm", source="api")
    finally:
        events.unregister(explode)
    order.refresh_from_db()
    assert order.status == OS.PENDING
    assert not DomainEvent.objects.filter(name=events.ORDER_STATUS_CHANGED).exists()


def test_handler_work_enqueued_on_commit_runs_only_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    order = make_order()
    ran = []
    # Only this test's handler: other apps' handlers (notifications) enqueue their own on-commit work.
    monkeypatch.setattr(events, "_handlers", [])

    def enqueue(event):
        from django.db import transaction

        transaction.on_commit(lambda: ran.append(event.name))

    events.register(enqueue)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            services.order_transition(order=order, transition="confirm", source="api")
            assert ran == []
    finally:
        events.unregister(enqueue)
    assert callbacks and ran == [events.ORDER_STATUS_CHANGED]


def test_the_scheduled_task_completes_orders_delivered_long_enough_ago():
    from orders.tasks import complete_delivered_orders

    old = order_in(OS.DELIVERED)
    recent = order_in(OS.DELIVERED)
    held = order_in(OS.DELIVERED)
    services.order_set_flags(order=held, source="api", regulatory_hold=True, regulatory_hold_reason="recall")
    long_ago = timezone.now() - timedelta(days=15)
    Order.objects.filter(pk__in=[old.pk, held.pk]).update(delivered_at=long_ago)
    Order.objects.filter(pk=recent.pk).update(delivered_at=timezone.now() - timedelta(days=13))

    assert complete_delivered_orders.apply().get() == 1
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {old.pk: OS.COMPLETED, recent.pk: OS.DELIVERED, held.pk: OS.DELIVERED}
    assert old.history.last().source == "system"


def test_the_completion_delay_is_configurable(settings):
    settings.ORDER_COMPLETE_AFTER_DAYS = 2
    order = order_in(OS.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=3))
    assert services.orders_complete_due() == 1


def test_an_override_publishes_the_notify_choice(handler):
    order = make_order()
    services.order_override_status(
        order=order, status=OS.CANCELLED, reason="duplicate order", notify=True, actor=supervisor_user()
    )
    assert handler[-1][2]["transition"] == "override" and handler[-1][2]["notify"] is True
