"""Shipments: registering parcels and applying what carriers report."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django_fsm import can_proceed

from oms_notify.fastsql import insert_returning
from orders import events
from orders.models import (
    Order,
    Shipment,
    ShipmentEvent,
    ShipmentLine,
)
from orders.services._core import (
    CLOSED_ORDER_STATUSES,
    _lock_order,
    _lock_shipment,
    _order_follow_shipments,
    _record_move,
    _run_shipment_transition,
    _save_fields,
)
from orders.statuses import (
    FINAL_SHIPMENT_STATUSES,
    SHIPMENT_EXCEPTIONS,
    UNKNOWN_EVENT_STATUS,
    ShipmentStatus,
)
from orders.tracking import TrackingEvent

logger = logging.getLogger(__name__)


def _unshipped_quantities(order: Order) -> dict[int, int]:
    """Per order line, what no live (not cancelled) shipment carries yet."""
    carried = (
        ShipmentLine.objects.filter(shipment__order=order)
        .exclude(shipment__status=ShipmentStatus.CANCELLED)
        .values("order_line")
        .annotate(n=Sum("quantity"))
    )
    taken = {row["order_line"]: row["n"] for row in carried}
    return {line.pk: line.quantity - taken.get(line.pk, 0) for line in order.lines.all()}


def shipment_create(
    *,
    order: Order,
    carrier: str,
    tracking_number: str,
    source: str,
    actor=None,
    service_level: str = "",
    lines: list[tuple[str, int]] | None = None,
    eta=None,
    occurred_at: datetime | None = None,
) -> Shipment:
    """Register a parcel. `lines` are (sku, quantity); by default everything not yet shipped.

    `occurred_at` dates the audit row when the parcel was registered elsewhere first (imports, demo data).
    """
    with transaction.atomic():
        order = _lock_order(order)
        if order.status in CLOSED_ORDER_STATUSES:
            raise ValidationError({"order": f"An order that is {order.status} takes no new shipments."})
        remaining = _unshipped_quantities(order)
        by_sku = {line.sku: line for line in order.lines.all()}
        wanted: dict[int, int] = defaultdict(int)
        if lines:
            errors = []
            for sku, quantity in lines:
                line = by_sku.get(sku)
                if line is None:
                    errors.append(f"{sku}: not on this order")
                elif quantity < 1:
                    errors.append(f"{sku}: quantity must be at least 1")
                else:
                    wanted[line.pk] += quantity
            for pk, quantity in wanted.items():
                if quantity > remaining.get(pk, 0):
                    sku = next(s for s, line in by_sku.items() if line.pk == pk)
                    errors.append(f"{sku}: {quantity} asked, {remaining.get(pk, 0)} left to ship")
            if errors:
                raise ValidationError({"lines": errors})
        else:
            wanted.update({pk: qty for pk, qty in remaining.items() if qty > 0})
            if not wanted:
                raise ValidationError({"lines": "Every line of this order is already in a shipment."})
        shipment = Shipment(
            order=order,
            carrier=carrier.lower(),
            tracking_number=tracking_number.strip(),
            service_level=service_level,
            eta=eta,
        )
        shipment.full_clean(exclude=["order", "tracking_id", "status"])
        shipment.save()
        ShipmentLine.objects.bulk_create(
            ShipmentLine(shipment=shipment, order_line_id=pk, quantity=qty) for pk, qty in wanted.items()
        )
        _record_move(
            event=events.SHIPMENT_CREATED,
            payload={
                "tracking_id": shipment.tracking_id,
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
            },
            order=order,
            shipment=shipment,
            from_status="",
            to_status=shipment.status,
            transition="create",
            source=source,
            actor=actor,
            notify=False,
            occurred_at=occurred_at,
        )
    return shipment


def shipment_apply_event(
    *,
    shipment: Shipment,
    event: TrackingEvent,
    received_at: datetime | None = None,
    source: str = "carrier",
    savepoint: bool = True,
) -> tuple[ShipmentEvent, bool]:
    """Record a carrier event in the shipment's timeline and move the shipment if it is news.

    Returns (timeline row, created). A duplicate (same dedupe key) changes nothing. An event
    older than what the shipment already knows joins the history but never moves it backwards.
    `savepoint=False` when the caller's own savepoint already wraps the call (carriers: one per event).
    """
    received_at = received_at or timezone.now()
    with transaction.atomic(savepoint=savepoint):
        order = _lock_order(shipment.order_id)
        shipment = _lock_shipment(shipment.pk)
        newest = shipment.last_event_at is None or event.occurred_at >= shipment.last_event_at
        # A delivered or returned scan is physical reality: it still moves a parcel that a newer stray
        # scan left in flight (the driver's handheld synced late). The newest-scan time stays put.
        late_final = event.status in FINAL_SHIPMENT_STATUSES and shipment.status not in FINAL_SHIPMENT_STATUSES
        is_news = newest or late_final
        wants_move = is_news and event.status not in (UNKNOWN_EVENT_STATUS, shipment.status)
        can_move = wants_move and _can_move(shipment, event)
        # Known before the row is written (a move always lands on the event's status): one INSERT, no UPDATE.
        row = _event_row(shipment, event, received_at)
        row.applied = is_news and (can_move or shipment.status == event.status)
        # ON CONFLICT DO NOTHING: no savepoint and IntegrityError round trips for a duplicate.
        if not insert_returning(row, skip_conflicts_on=("shipment", "dedupe_key")):
            return ShipmentEvent.objects.get(shipment=shipment, dedupe_key=event.dedupe_key), False

        moved = first_scan = False
        if is_news:
            changed = ["updated_at"]
            if newest:
                shipment.last_event_at = event.occurred_at
                changed.append("last_event_at")
                if event.estimated_delivery:
                    shipment.eta = event.estimated_delivery
                    changed.append("eta")
            if event.status not in (UNKNOWN_EVENT_STATUS, ShipmentStatus.INFO_RECEIVED) and not shipment.dispatched_at:
                shipment.dispatched_at = event.occurred_at  # the carrier has the parcel
                first_scan = True
                changed.append("dispatched_at")
            if wants_move:
                moved = _move_shipment_for_event(
                    shipment, event, row, order=order, source=source, can_move=can_move, changed=changed
                )
            if not moved:  # a move saved the shipment (with the fields above) already
                _save_fields(shipment, changed)
        events.publish(
            name=events.SHIPMENT_EVENT_RECORDED,
            order=order,
            shipment=shipment,
            payload={"shipment_event_id": row.pk, "status": event.status, "moved": moved},
        )
        if moved or first_scan:
            _order_follow_shipments(order, source=source, occurred_at=event.occurred_at, shipment_event=row)
    return row, True


def _event_row(shipment: Shipment, event: TrackingEvent, received_at: datetime) -> ShipmentEvent:
    return ShipmentEvent(
        shipment=shipment,
        carrier=event.carrier,
        status=event.status,
        carrier_code=event.carrier_code[:100],
        reason=event.reason[:200],
        description=event.description[:500],
        city=event.city[:100],
        region=event.region[:100],
        postcode=event.postcode[:20],
        country=event.country[:2],
        latitude=event.latitude,
        longitude=event.longitude,
        occurred_at=event.occurred_at,
        received_at=received_at,
        estimated_delivery=event.estimated_delivery,
        signed_by=event.signed_by[:200],
        signature_ref=event.signature_ref[:500],
        photo_ref=event.photo_ref[:500],
        dedupe_key=event.dedupe_key,
    )


def _can_move(shipment: Shipment, event: TrackingEvent) -> bool:
    # No transition leads back to info_received (a carrier re-sending "label created" after pickup).
    method = getattr(shipment, f"mark_{event.status}", None)
    return method is not None and can_proceed(method)


def _move_shipment_for_event(
    shipment: Shipment,
    event: TrackingEvent,
    row: ShipmentEvent,
    *,
    order: Order,
    source: str,
    can_move: bool,
    changed: list[str],
) -> bool:
    if not can_move:
        # e.g. a scan for a parcel we already know was returned: history only.
        logger.warning(
            "carrier event cannot move shipment",
            extra={"tracking_id": shipment.tracking_id, "from": shipment.status, "to": event.status},
        )
        return False
    if event.status == ShipmentStatus.DELIVERED:
        _record_proof(shipment, event)
        changed += _PROOF_FIELDS
    _run_shipment_transition(
        shipment,
        f"mark_{event.status}",
        order=order,
        source=source,
        reason=event.reason or event.description,
        occurred_at=event.occurred_at,
        shipment_event=row,
        also_save=changed,
    )
    return True


_PROOF_FIELDS = ["delivered_at", "pod_signed_by", "pod_signature_ref", "pod_photo_ref", "pod_latitude", "pod_longitude"]


def _record_proof(shipment: Shipment, event: TrackingEvent) -> None:
    shipment.delivered_at = event.occurred_at
    shipment.pod_signed_by = event.signed_by
    shipment.pod_signature_ref = event.signature_ref
    shipment.pod_photo_ref = event.photo_ref
    shipment.pod_latitude = event.latitude
    shipment.pod_longitude = event.longitude


def shipment_mark_delayed(*, shipment: Shipment, reason: str, source: str = "system") -> bool:
    """A delay we inferred (no scan for too long, an ETA past the promise). False if it cannot apply."""
    now = timezone.now()
    with transaction.atomic():
        order = _lock_order(shipment.order_id)
        shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
        if shipment.status in SHIPMENT_EXCEPTIONS or not can_proceed(shipment.mark_delayed):
            return False
        _run_shipment_transition(shipment, "mark_delayed", order=order, source=source, reason=reason, occurred_at=now)
        _order_follow_shipments(order, source=source, occurred_at=now)
    return True


def shipment_clear_delay(*, shipment: Shipment, reason: str, source: str = "system") -> bool:
    """Undo an inferred delay: back to the last progress status. False if it no longer applies."""
    now = timezone.now()
    with transaction.atomic():
        order = _lock_order(shipment.order_id)
        shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
        if shipment.status != ShipmentStatus.DELAYED:
            return False
        _run_shipment_transition(
            shipment, "clear_exception", order=order, source=source, reason=reason, occurred_at=now
        )
        _order_follow_shipments(order, source=source, occurred_at=now)
    return True
