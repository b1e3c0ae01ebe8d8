"""Stalled and late shipments are marked delayed (stalled/late) and cleared when the cause is gone."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from carriers import delays, tasks
from orders.models import Order, Shipment, StatusChange
from orders.statuses import OrderStatus, ShipmentStatus
from tests.carriers.conftest import generic_body, make_shipment, signed_headers

pytestmark = pytest.mark.django_db


def _scan(post, shipment, status: str, *, hours_ago: float, **fields) -> None:
    occurred = timezone.now() - timedelta(hours=hours_ago)
    event = {"tracking_number": shipment.tracking_number, "status": status, "occurred_at": occurred.isoformat()}
    body = generic_body({**event, **fields})
    assert post("generic", body, signed_headers("generic", body)).status_code == 200


@pytest.fixture
def shipment():
    return make_shipment(carrier="acme", tracking_number="SLOW1")


def test_a_shipment_without_a_scan_for_48_hours_is_marked_stalled(post, shipment):
    _scan(post, shipment, "in_transit", hours_ago=49)
    assert delays.shipments_check_delays()["stalled"] == 1
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELAYED
    assert shipment.status_reason.startswith("stalled")
    assert shipment.order.status == OrderStatus.DELAYED
    change = StatusChange.objects.filter(shipment=shipment).last()
    assert (change.source, change.transition, change.notify_customer) == ("system", "mark_delayed", True)


def test_a_recent_scan_is_not_stalled(post, shipment):
    _scan(post, shipment, "in_transit", hours_ago=47)
    assert delays.shipments_check_delays()["stalled"] == 0


def test_the_stalled_window_is_configurable(post, shipment, settings):
    settings.CARRIER_STALLED_AFTER_HOURS = 12
    _scan(post, shipment, "in_transit", hours_ago=13)
    assert delays.shipments_check_delays()["stalled"] == 1


def test_one_silence_is_flagged_once(post, shipment):
    _scan(post, shipment, "in_transit", hours_ago=49)
    delays.shipments_check_delays()
    Shipment.objects.filter(pk=shipment.pk).update(status=ShipmentStatus.IN_TRANSIT)  # e.g. staff cleared it
    assert delays.shipments_check_delays()["stalled"] == 0


def test_a_new_carrier_scan_clears_a_stalled_delay(post, shipment):
    _scan(post, shipment, "in_transit", hours_ago=49)
    delays.shipments_check_delays()
    _scan(post, shipment, "in_transit", hours_ago=1)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert shipment.order.status == OrderStatus.IN_TRANSIT


def test_an_unmapped_scan_clears_a_stalled_delay_at_the_next_check(post, shipment):
    _scan(post, shipment, "in_transit", hours_ago=49)
    delays.shipments_check_delays()
    _scan(post, shipment, "teleported", hours_ago=1)  # unknown: moves nothing, but proves life
    assert delays.shipments_check_delays()["cleared"] == 1
    shipment.refresh_from_db()
    assert (shipment.status, shipment.status_reason) == (ShipmentStatus.IN_TRANSIT, "")


def test_an_eta_past_the_promised_window_marks_the_shipment_late(post, shipment):
    Order.objects.filter(pk=shipment.order_id).update(promised_to=date.today() + timedelta(days=2))
    eta = (date.today() + timedelta(days=5)).isoformat()
    _scan(post, shipment, "in_transit", hours_ago=1, estimated_delivery=eta)
    assert delays.shipments_check_delays()["late"] == 1
    shipment.refresh_from_db()
    assert (shipment.status, shipment.status_reason[:4]) == (ShipmentStatus.DELAYED, "late")


def test_a_promise_that_passed_undelivered_is_late(shipment):
    Order.objects.filter(pk=shipment.order_id).update(promised_to=date.today() - timedelta(days=1))
    assert delays.shipments_check_delays()["late"] == 1


def test_a_late_shipment_that_keeps_moving_is_not_flagged_again_for_the_same_eta(post, shipment):
    Order.objects.filter(pk=shipment.order_id).update(promised_to=date.today() + timedelta(days=2))
    eta = (date.today() + timedelta(days=5)).isoformat()
    _scan(post, shipment, "in_transit", hours_ago=2, estimated_delivery=eta)
    delays.shipments_check_delays()
    _scan(post, shipment, "in_transit", hours_ago=1, estimated_delivery=eta)  # moves it back to in transit
    assert delays.shipments_check_delays()["late"] == 0


def test_a_late_delay_clears_when_the_eta_comes_back_within_the_promise(post, shipment):
    Order.objects.filter(pk=shipment.order_id).update(promised_to=date.today() + timedelta(days=2))
    _scan(post, shipment, "in_transit", hours_ago=2, estimated_delivery=(date.today() + timedelta(days=5)).isoformat())
    delays.shipments_check_delays()
    Shipment.objects.filter(pk=shipment.pk).update(eta=date.today() + timedelta(days=1))
    assert delays.shipments_check_delays()["cleared"] == 1
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT


def test_a_delay_the_carrier_reported_is_never_cleared_by_us(post, shipment):
    _scan(post, shipment, "delayed", hours_ago=1, reason="weather")
    assert delays.shipments_check_delays()["cleared"] == 0
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELAYED


def test_a_shipment_still_at_the_warehouse_is_never_stalled():
    shipment = make_shipment(carrier="acme", tracking_number="DOCK1", dispatched=False)
    Shipment.objects.filter(pk=shipment.pk).update(created_at=timezone.now() - timedelta(days=5))
    assert delays.shipments_check_delays()["stalled"] == 0


def test_the_beat_task_runs_the_check(post, shipment):
    _scan(post, shipment, "in_transit", hours_ago=49)
    assert tasks.check_shipment_delays.delay().get()["stalled"] == 1
