"""Shipments follow carrier reality; the order follows its shipments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from orders import services
from orders.models import ShipmentEvent, StatusChange
from orders.statuses import OrderStatus as OS
from orders.statuses import ShipmentStatus as SS
from orders.statuses import order_status_for_shipments
from tests.factories import make_order
from tests.orders.builders import apply, order_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("statuses", "all_shipped", "expected"),
    [
        ([SS.INFO_RECEIVED], True, OS.DISPATCHED),
        ([SS.IN_TRANSIT, SS.INFO_RECEIVED], True, OS.IN_TRANSIT),
        ([SS.DELIVERED, SS.IN_TRANSIT], True, OS.IN_TRANSIT),
        ([SS.OUT_FOR_DELIVERY, SS.IN_TRANSIT], True, OS.OUT_FOR_DELIVERY),
        ([SS.AVAILABLE_FOR_PICKUP], True, OS.OUT_FOR_DELIVERY),
        ([SS.DELAYED, SS.OUT_FOR_DELIVERY], True, OS.DELAYED),
        ([SS.EXCEPTION], True, OS.DELAYED),
        ([SS.ATTEMPT_FAILED, SS.DELAYED], True, OS.DELIVERY_FAILED),
        ([SS.DELIVERED, SS.DELIVERED], True, OS.DELIVERED),
        ([SS.DELIVERED, SS.RETURNED_TO_SENDER], True, OS.RETURNED_TO_SENDER),
        ([SS.DELIVERED], False, OS.PARTIALLY_SHIPPED),
        ([SS.DELAYED], False, OS.PARTIALLY_SHIPPED),
    ],
)
def test_the_order_status_follows_its_handed_over_shipments(statuses, all_shipped, expected):
    assert order_status_for_shipments(statuses, all_lines_shipped=all_shipped) == expected


def test_a_delivered_scan_is_accepted_when_earlier_scans_were_skipped():
    order = order_in(OS.DISPATCHED)
    shipment = order.shipments.get()
    apply(shipment, "delivered", minutes=30, signed_by="J. DOE")
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == SS.DELIVERED and shipment.pod_signed_by == "J. DOE"
    assert shipment.delivered_at is not None
    assert order.status == OS.DELIVERED and order.delivered_at == shipment.delivered_at


def test_a_delay_does_not_lose_the_parcels_place_and_clears_when_the_carrier_moves_again():
    order = order_in(OS.OUT_FOR_DELIVERY)
    shipment = order.shipments.get()
    apply(shipment, "delayed", minutes=200, reason="weather")
    order.refresh_from_db()
    shipment.refresh_from_db()
    assert order.status == OS.DELAYED
    assert shipment.last_progress_status == SS.OUT_FOR_DELIVERY and shipment.status_reason == "weather"
    apply(shipment, "out_for_delivery", minutes=300)
    order.refresh_from_db()
    assert order.status == OS.OUT_FOR_DELIVERY


def test_a_failed_attempt_then_delivery_ends_delivered():
    order = order_in(OS.DELIVERY_FAILED)
    apply(order.shipments.get(), "delivered", minutes=24 * 60)
    order.refresh_from_db()
    assert order.status == OS.DELIVERED


def test_an_older_event_joins_the_history_but_never_moves_state_backwards():
    order = order_in(OS.DELIVERED)
    shipment = order.shipments.get()
    changes = StatusChange.objects.count()
    row, created = apply(shipment, "out_for_delivery", minutes=30)  # before the delivered scan at 60
    assert created and not row.applied
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == SS.DELIVERED and order.status == OS.DELIVERED
    assert StatusChange.objects.count() == changes
    assert list(shipment.events.values_list("status", flat=True)) == ["in_transit", "out_for_delivery", "delivered"]


def test_a_duplicate_event_is_recorded_once_and_moves_nothing_twice():
    order = order_in(OS.DISPATCHED)
    shipment = order.shipments.get()
    first, created_first = apply(shipment, "in_transit", minutes=10, event_id="evt-1")
    again, created_again = apply(shipment, "in_transit", minutes=10, event_id="evt-1")
    assert created_first and not created_again and first.pk == again.pk
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 1
    assert StatusChange.objects.filter(shipment=shipment, transition="mark_in_transit").count() == 1


def test_an_unknown_carrier_code_is_kept_and_moves_nothing():
    order = order_in(OS.IN_TRANSIT)
    shipment = order.shipments.get()
    row, created = apply(shipment, "unknown", minutes=500, carrier_code="XZ", description="Mystery scan")
    shipment.refresh_from_db()
    assert created and not row.applied and row.carrier_code == "XZ"
    assert shipment.status == SS.IN_TRANSIT


def test_an_estimated_delivery_updates_the_eta():
    order = order_in(OS.DISPATCHED)
    shipment = order.shipments.get()
    eta = (shipment.created_at + timedelta(days=4)).date()
    apply(shipment, "in_transit", minutes=5, estimated_delivery=eta)
    shipment.refresh_from_db()
    assert shipment.eta == eta


def test_split_shipment_rolls_up_to_partially_shipped_then_follows_both_parcels():
    order = make_order(lines=[("A", 1), ("B", 2)], inventory_allocated=True)
    services.order_transition(order=order, transition="confirm", source="api")
    first = services.shipment_create(
        order=order, carrier="ups", tracking_number="1ZA", source="api", lines=[("A", 1), ("B", 1)]
    )
    services.order_transition(order=order, transition="dispatch", source="api")
    order.refresh_from_db()
    assert order.status == OS.PARTIALLY_SHIPPED
    apply(first, "delivered", minutes=60)
    order.refresh_from_db()
    assert order.status == OS.PARTIALLY_SHIPPED  # one B is still in the warehouse

    second = services.shipment_create(order=order, carrier="fedex", tracking_number="7777", source="api")
    assert [(line.order_line.sku, line.quantity) for line in second.lines.all()] == [("B", 1)]
    apply(second, "in_transit", minutes=120)  # the carrier's first scan hands it over
    order.refresh_from_db()
    assert order.status == OS.IN_TRANSIT
    apply(second, "delivered", minutes=180)
    order.refresh_from_db()
    assert order.status == OS.DELIVERED


def test_it_refuses_to_ship_more_than_was_ordered():
    order = make_order(lines=[("A", 1)])
    with pytest.raises(ValidationError) as error:
        services.shipment_create(order=order, carrier="ups", tracking_number="1", source="api", lines=[("A", 2)])
    assert "lines" in error.value.message_dict
    assert not order.shipments.exists()


def test_it_refuses_a_shipment_for_a_sku_not_on_the_order():
    order = make_order(lines=[("A", 1)])
    with pytest.raises(ValidationError):
        services.shipment_create(order=order, carrier="ups", tracking_number="1", source="api", lines=[("Z", 1)])


def test_it_refuses_a_shipment_when_everything_already_ships():
    order = make_order(lines=[("A", 1)])
    services.shipment_create(order=order, carrier="ups", tracking_number="1", source="api")
    with pytest.raises(ValidationError):
        services.shipment_create(order=order, carrier="ups", tracking_number="2", source="api")


def test_shipments_get_unique_unguessable_tracking_ids():
    order = make_order(lines=[("A", 3)])
    ids = {
        services.shipment_create(
            order=order, carrier="ups", tracking_number=str(n), source="api", lines=[("A", 1)]
        ).tracking_id
        for n in range(3)
    }
    assert len(ids) == 3
    assert all(i.startswith("OMS") and len(i) == 19 for i in ids)


def test_a_carrier_scan_dispatches_an_undispatched_order_when_our_rules_allow():
    order = order_in(OS.PROCESSING)
    shipment = services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    apply(shipment, "in_transit", minutes=5)
    order.refresh_from_db()
    assert order.status == OS.IN_TRANSIT
    assert order.history.get(shipment=None, transition="dispatch").source == "carrier"


def test_a_carrier_scan_does_not_dispatch_an_order_without_inventory():
    order = make_order(inventory_allocated=False)
    services.order_transition(order=order, transition="confirm", source="api")
    shipment = services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    apply(shipment, "in_transit", minutes=5)
    order.refresh_from_db()
    shipment.refresh_from_db()
    assert shipment.status == SS.IN_TRANSIT  # physical reality is recorded
    assert order.status == OS.CONFIRMED  # but our dispatch rule still governs the order


def test_a_returned_parcel_takes_no_further_scans_forward():
    order = order_in(OS.RETURNED_TO_SENDER)
    shipment = order.shipments.get()
    row, _ = apply(shipment, "in_transit", minutes=10_000)
    shipment.refresh_from_db()
    assert shipment.status == SS.RETURNED_TO_SENDER and not row.applied


def test_every_shipment_move_is_audited_with_the_carrier_event():
    order = order_in(OS.IN_TRANSIT)
    change = StatusChange.objects.get(shipment__order=order, transition="mark_in_transit")
    assert change.source == "carrier" and change.shipment_event.status == "in_transit"
    assert change.occurred_at == change.shipment_event.occurred_at


def test_a_newer_label_created_scan_after_pickup_joins_the_history_without_moving_the_parcel():
    # Carriers re-send "label created / info received" after the parcel moved (a corrected label):
    # there is no way back to info received, so it is history only, never an error.
    order = order_in(OS.IN_TRANSIT)
    shipment = order.shipments.get()
    row, created = apply(shipment, "info_received", minutes=500, description="Shipment information updated")
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert created and not row.applied
    assert shipment.status == SS.IN_TRANSIT and order.status == OS.IN_TRANSIT
