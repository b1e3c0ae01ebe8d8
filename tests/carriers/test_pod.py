"""Proof of delivery: each check, the verdict's domain event, and the staff decision."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from carriers import pod
from carriers.models import DeliveryPolicy, DeliveryVerification
from orders.models import DomainEvent, Shipment
from orders.statuses import ShipmentStatus
from tests.carriers.conftest import fixture_bytes, generic_body, make_shipment, signed_headers
from tests.factories import supervisor_user

pytestmark = pytest.mark.django_db

NEAR = {"latitude": 40.7005, "longitude": -74.0005}  # ~70 m from the order's address
FAR = {"latitude": 40.71, "longitude": -74.0}  # ~1.1 km


def _deliver(post, shipment, *, minutes_ago: float = 5, signed_by: str = "A. Lovelace", **fields):
    occurred = timezone.now() - timedelta(minutes=minutes_ago)
    event = {
        "tracking_number": shipment.tracking_number,
        "status": "delivered",
        "occurred_at": occurred.isoformat(),
        "proof": {"signed_by": signed_by} if signed_by else {},
        **fields,
    }
    body = generic_body(event)
    response = post("generic", body, signed_headers("generic", body))
    assert response.status_code == 200, response.content
    return DeliveryVerification.objects.get(shipment=shipment)


@pytest.fixture
def shipment():
    return make_shipment(carrier="acme", tracking_number="POD1")


def _policy(shipment, **fields) -> DeliveryPolicy:
    return DeliveryPolicy.objects.create(brand=shipment.order.brand, **fields)


def test_a_delivery_with_signature_and_position_nearby_is_verified(post, shipment):
    _policy(shipment, signature_required=True)
    verification = _deliver(post, shipment, **NEAR)
    assert verification.result == DeliveryVerification.Result.VERIFIED
    assert verification.failed_checks == []
    assert 50 < verification.distance_m < 100


def test_the_verdict_is_published_as_a_domain_event(post, shipment):
    _deliver(post, shipment, **NEAR)
    event = DomainEvent.objects.get(name=pod.DELIVERY_VERIFIED)
    assert event.shipment_id == shipment.pk
    assert event.payload["verified"] is True
    assert event.payload["failed_checks"] == []


def test_it_fails_a_missing_signature_when_the_brand_requires_one(post, shipment):
    _policy(shipment, signature_required=True)
    verification = _deliver(post, shipment, signed_by="", **NEAR)
    assert verification.result == DeliveryVerification.Result.UNVERIFIED
    assert verification.failed_checks == ["signature_missing"]
    payload = DomainEvent.objects.get(name=pod.DELIVERY_VERIFIED).payload
    assert (payload["verified"], payload["failed_checks"]) == (False, ["signature_missing"])


def test_it_does_not_need_a_signature_below_the_value_threshold(post, shipment):
    _policy(shipment, signature_required=True, signature_threshold=Decimal("100.00"))
    assert _deliver(post, shipment, signed_by="", **NEAR).result == DeliveryVerification.Result.VERIFIED


def test_it_fails_a_position_outside_the_radius(post, shipment):
    verification = _deliver(post, shipment, **FAR)
    assert verification.failed_checks == ["gps_out_of_range"]
    assert verification.distance_m > 1000


def test_a_wider_brand_radius_accepts_the_same_position(post, shipment):
    _policy(shipment, gps_radius_m=2000)
    assert _deliver(post, shipment, **FAR).result == DeliveryVerification.Result.VERIFIED


def test_a_missing_position_is_noted_not_failed(post, shipment):
    verification = _deliver(post, shipment)
    assert verification.result == DeliveryVerification.Result.VERIFIED
    assert verification.notes == ["gps_missing"]


def test_a_missing_position_fails_for_a_carrier_the_brand_requires_gps_from(post, shipment):
    _policy(shipment, gps_required_carriers=["acme"])
    assert _deliver(post, shipment).failed_checks == ["gps_missing"]


def test_it_fails_a_timestamp_in_the_future(post, shipment):
    assert _deliver(post, shipment, minutes_ago=-30, **NEAR).failed_checks == ["timestamp_in_future"]


def test_it_allows_a_small_clock_skew(post, shipment):
    assert _deliver(post, shipment, minutes_ago=-2, **NEAR).result == DeliveryVerification.Result.VERIFIED


def test_it_fails_a_delivery_before_dispatch(post, shipment):
    assert _deliver(post, shipment, minutes_ago=60, **NEAR).failed_checks == ["timestamp_before_dispatch"]


def test_it_fails_a_delivery_reported_long_after_it_happened(post, shipment):
    Shipment.objects.filter(pk=shipment.pk).update(dispatched_at=timezone.now() - timedelta(days=10))
    assert _deliver(post, shipment, minutes_ago=60 * 24 * 4, **NEAR).failed_checks == ["timestamp_far_from_receipt"]


def test_an_unverified_delivery_still_delivers_the_shipment(post, shipment):
    _policy(shipment, signature_required=True)
    _deliver(post, shipment, signed_by="", **FAR)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.delivery_verification.needs_review


def test_a_duplicate_delivered_event_is_not_checked_again(post, shipment):
    _deliver(post, shipment, **NEAR, event_id="d-1")
    _deliver(post, shipment, **NEAR, event_id="d-1")
    assert DomainEvent.objects.filter(name=pod.DELIVERY_VERIFIED).count() == 1


def test_staff_can_accept_an_unverified_delivery(post, shipment):
    verification = _deliver(post, shipment, **FAR)
    staff = supervisor_user()
    pod.delivery_verification_decide(verification=verification, accept=True, actor=staff, note="called the customer")
    verification.refresh_from_db()
    assert (verification.decision, verification.decided_by) == ("accepted", staff)
    assert not verification.needs_review
    decided = DomainEvent.objects.filter(name=pod.DELIVERY_VERIFIED).last()
    assert decided.payload["verified"] is True and decided.payload["staff_decision"] == "accepted"


def test_a_ups_inline_photo_is_stored_and_referenced_from_the_shipment(post, settings):
    shipment = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    now = timezone.localtime(timezone.now(), timezone=timezone.get_fixed_timezone(0))
    doc.update(
        activityStatus={"type": "D", "code": "KB", "description": "DELIVERED"},
        gmtActivityDate=now.strftime("%Y%m%d"),
        gmtActivityTime=now.strftime("%H%M%S"),
        deliveryPhoto=base64.b64encode(b"jpeg bytes").decode(),
        receivedBy="FRONT DOOR",
    )
    body = json.dumps(doc).encode()
    post("ups", body, signed_headers("ups", body))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.pod_photo_ref.startswith("carriers/pod/ups/photo-")
    assert shipment.pod_signed_by == "FRONT DOOR"
    assert shipment.delivery_verification.result == DeliveryVerification.Result.VERIFIED
