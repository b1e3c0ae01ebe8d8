"""Proof-of-delivery checks: does a delivered scan prove what the brand's policy asks?

The shipment is delivered either way (the carrier reports reality); the verdict gates the
customer's confirmation, so it is published as a domain event in the same transaction.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from carriers.models import DeliveryPolicy, DeliveryVerification
from orders import events
from orders.models import Shipment, ShipmentEvent

DELIVERY_VERIFIED = "shipment.delivery_verified"
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: Decimal, lon1: Decimal, lat2: Decimal, lon2: Decimal) -> float:
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lon2) - float(lon1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def policy_for(brand) -> DeliveryPolicy:
    """The brand's policy, or the defaults (unsaved) when staff never set one."""
    return DeliveryPolicy.objects.filter(brand=brand).first() or DeliveryPolicy(brand=brand)


def delivery_checks(
    *, shipment: Shipment, row: ShipmentEvent, received_at: datetime, policy: DeliveryPolicy
) -> tuple[list[str], list[str], float | None]:
    """(failed checks, notes, distance in metres). A note is a check that could not run."""
    order = shipment.order
    failed: list[str] = []
    notes: list[str] = []
    distance = None

    if policy.signature_needed_for(order.total) and not (row.signed_by or row.signature_ref):
        failed.append("signature_missing")

    has_position = row.latitude is not None and row.longitude is not None
    address_known = order.ship_latitude is not None and order.ship_longitude is not None
    gps_required = {c.lower() for c in policy.gps_required_carriers or []} & {shipment.carrier, row.carrier}
    if has_position and address_known:
        distance = haversine_m(row.latitude, row.longitude, order.ship_latitude, order.ship_longitude)
        if distance > policy.gps_radius_m:
            failed.append("gps_out_of_range")
    elif not has_position:
        (failed if gps_required else notes).append("gps_missing")
    else:
        notes.append("address_not_geocoded")

    skew = timedelta(seconds=policy.future_skew_seconds)
    if row.occurred_at > received_at + skew:
        failed.append("timestamp_in_future")
    if shipment.dispatched_at and row.occurred_at < shipment.dispatched_at - skew:
        failed.append("timestamp_before_dispatch")
    if received_at - row.occurred_at > timedelta(hours=policy.max_receipt_lag_hours):
        failed.append("timestamp_far_from_receipt")
    return failed, notes, distance


def delivery_verify(
    *, shipment: Shipment, shipment_event: ShipmentEvent, received_at: datetime
) -> DeliveryVerification:
    """Check a delivered scan, store the verdict and publish it (inside the caller's transaction)."""
    policy = policy_for(shipment.order.brand)
    failed, notes, distance = delivery_checks(
        shipment=shipment, row=shipment_event, received_at=received_at, policy=policy
    )
    verification, _ = DeliveryVerification.objects.update_or_create(
        shipment=shipment,
        defaults={
            "shipment_event": shipment_event,
            "result": DeliveryVerification.Result.UNVERIFIED if failed else DeliveryVerification.Result.VERIFIED,
            "failed_checks": failed,
            "notes": notes,
            "distance_m": None if distance is None else Decimal(f"{distance:.1f}"),
            "checked_at": timezone.now(),
        },
    )
    events.publish(
        name=DELIVERY_VERIFIED,
        order=shipment.order,
        shipment=shipment,
        payload={
            "verified": not failed,
            "failed_checks": failed,
            "notes": notes,
            "shipment_event_id": shipment_event.pk,
            "tracking_id": shipment.tracking_id,
        },
    )
    return verification


def delivery_verification_decide(
    *, verification: DeliveryVerification, accept: bool, actor, note: str = ""
) -> DeliveryVerification:
    """Staff accept or reject an unverified delivery; the decision is published like a verdict."""
    with transaction.atomic():
        verification = (
            DeliveryVerification.objects.select_for_update().select_related("shipment__order").get(pk=verification.pk)
        )
        verification.decision = (
            DeliveryVerification.Decision.ACCEPTED if accept else DeliveryVerification.Decision.REJECTED
        )
        verification.decided_by = actor
        verification.decided_at = timezone.now()
        verification.decision_note = note[:500]
        verification.save()
        events.publish(
            name=DELIVERY_VERIFIED,
            order=verification.shipment.order,
            shipment=verification.shipment,
            payload={
                "verified": accept,
                "failed_checks": verification.failed_checks,
                "staff_decision": verification.decision,
                "decided_by": actor.get_username() if actor else "",
                "tracking_id": verification.shipment.tracking_id,
            },
        )
    return verification
