"""Two moves on one order at the same instant: exactly one wins."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from orders import events, services
from orders.exceptions import OrderConflict, TransitionRefused
from orders.models import Order, StatusChange
from orders.statuses import OrderStatus as OS
from tests.factories import make_order
from tests.orders.builders import order_in

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls):
    """Run the calls in threads released together; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the race's loser is part of the result
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.fixture
def slow_transitions():
    # Widen the window between reading the order and committing, as a slow listener would.
    def linger(event):
        if event.name == events.ORDER_STATUS_CHANGED:
            time.sleep(0.3)

    events.register(linger)
    yield
    events.unregister(linger)


def test_two_identical_moves_at_once_succeed_once(slow_transitions):
    order = make_order()
    results = race(*[lambda: services.order_transition(order=order, transition="confirm", source="api")] * 2)
    assert sorted(type(r).__name__ for r in results) == ["Order", "TransitionRefused"]
    assert StatusChange.objects.filter(order=order, transition="confirm").count() == 1


def test_cancel_racing_dispatch_leaves_one_consistent_outcome(slow_transitions):
    order = order_in(OS.PROCESSING)
    services.shipment_create(order=order, carrier="ups", tracking_number="1Z", source="api")
    results = race(
        lambda: services.order_transition(order=order, transition="cancel", source="api"),
        lambda: services.order_transition(order=order, transition="dispatch", source="api"),
    )
    winners = [r for r in results if isinstance(r, Order)]
    assert len(winners) == 1 and sum(isinstance(r, TransitionRefused) for r in results) == 1
    order.refresh_from_db()
    assert order.status == winners[0].status
    moves = StatusChange.objects.filter(order=order, shipment=None, transition__in=["cancel", "dispatch"])
    assert moves.count() == 1


def test_the_same_intake_twice_at_once_makes_one_order():
    results = race(*[lambda: make_order(external_id="SAME-1")] * 3)
    assert all(isinstance(r, Order) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Order.objects.count() == 1


def test_a_conflicting_intake_racing_the_first_is_refused():
    results = race(lambda: make_order(external_id="X-1"), lambda: make_order(external_id="X-1", lines=[("B", 2)]))
    assert sum(isinstance(r, Order) for r in results) == 1
    assert sum(isinstance(r, OrderConflict) for r in results) == 1


def test_publishing_outside_a_transaction_is_refused():
    order = make_order()
    with pytest.raises(RuntimeError):
        events.publish(name="x", order=order)
