"""Defects the chaos run found, pinned where they live (one test each)."""

from __future__ import annotations

import json

import pytest

from carriers.adapters import ParseError, get_adapter
from carriers.adapters.base import date_only
from orders.models import Shipment
from orders.statuses import OrderStatus as OS
from orders.statuses import ShipmentStatus as SS
from tests.orders.builders import apply, order_in

pytestmark = pytest.mark.django_db


def test_an_impossible_scan_date_is_a_parse_error_not_a_crash():
    # Django's parse_datetime raises ValueError for a well-formed impossible date; the view only
    # catches ParseError, so this was a 500 and a stored webhook that every sweep retried.
    body = json.dumps(
        {"events": [{"tracking_number": "X1", "status": "in_transit", "occurred_at": "2026-02-30T10:00:00Z"}]}
    ).encode()

    with pytest.raises(ParseError, match="not a timestamp"):
        get_adapter("generic").parse(body)


def test_an_impossible_eta_is_no_eta():
    assert date_only("2026-02-30") is None


# Found by the chaos run: the delivered scan was ignored as older than the stray hub scan.
def test_a_delivered_scan_that_arrives_after_a_newer_stray_scan_still_delivers_the_parcel():
    order = order_in(OS.OUT_FOR_DELIVERY)  # in transit at 0, out for delivery at 60 minutes
    shipment = order.shipments.get()
    apply(shipment, "in_transit", minutes=180)  # a stray hub scan after the delivery, arriving first

    apply(shipment, "delivered", minutes=120)  # the driver's delivered scan, synced late

    shipment = Shipment.objects.get(pk=shipment.pk)
    assert shipment.status == SS.DELIVERED
    assert shipment.order.status == OS.DELIVERED
