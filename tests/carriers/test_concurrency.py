"""Two deliveries of one event at the same instant: recorded once, nothing moves twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from carriers.adapters.generic import sign
from carriers.models import RawWebhook
from orders.models import ShipmentEvent, StatusChange
from orders.statuses import ShipmentStatus
from tests.carriers.conftest import generic_body, make_shipment, signed_headers

pytestmark = pytest.mark.django_db(transaction=True)


def _race(requests: list[tuple[bytes, dict]]) -> list[int]:
    barrier = threading.Barrier(len(requests))
    codes: list[int] = []

    def send(body: bytes, headers: dict) -> None:
        try:
            barrier.wait()
            response = Client().generic(
                "POST", "/webhooks/carriers/generic/", data=body, content_type="application/json", headers=headers
            )
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=pair) for pair in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return codes


def _delivered_body(event_id: str = "evt-race") -> bytes:
    occurred = (timezone.now() - timedelta(minutes=5)).isoformat()
    return generic_body(
        {"event_id": event_id, "tracking_number": "RACE1", "status": "delivered", "occurred_at": occurred}
    )


def test_the_same_delivery_twice_at_once_is_applied_once():
    shipment = make_shipment(carrier="acme", tracking_number="RACE1")
    body = _delivered_body()
    headers = signed_headers("generic", body)
    codes = _race([(body, headers)] * 4)
    assert sorted(codes) == [200] * 4
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 1
    assert StatusChange.objects.filter(shipment=shipment, to_status=ShipmentStatus.DELIVERED).count() == 1
    statuses = sorted(RawWebhook.objects.values_list("status", flat=True))
    assert statuses == ["duplicate"] * 3 + ["processed"]


def test_the_same_event_in_different_deliveries_at_once_is_applied_once():
    shipment = make_shipment(carrier="acme", tracking_number="RACE1")
    body = _delivered_body()
    # Same event, two message ids: the delivery dedupe does not catch it, the event key does.
    requests = []
    for n in range(3):
        headers = signed_headers("generic", body)
        headers["webhook-id"] = f"msg_{n}"
        headers["webhook-signature"] = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", headers["webhook-id"], headers["webhook-timestamp"], body
        )
        requests.append((body, headers))
    codes = _race(requests)
    assert sorted(codes) == [200] * 3
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 1
    assert StatusChange.objects.filter(shipment=shipment, to_status=ShipmentStatus.DELIVERED).count() == 1
