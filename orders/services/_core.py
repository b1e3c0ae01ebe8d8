"""The shared machinery of the services: the order row lock, the audit row, running a move on
a locked order or shipment, and the order following its shipments."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from django.db import connection
from django.utils import timezone
from django_fsm import can_proceed

from oms_notify import fastsql
from oms_notify.fastsql import lock_row, update_row
from orders import events
from orders.models import (
    Order,
    OrderLine,
    Shipment,
    ShipmentEvent,
    ShipmentLine,
    StatusChange,
)
from orders.statuses import (
    POST_DISPATCH,
    PRE_DISPATCH,
    SHIPMENT_EXCEPTIONS,
    OrderStatus,
    ShipmentStatus,
    order_status_for_shipments,
)

logger = logging.getLogger(__name__)


CLOSED_ORDER_STATUSES = [OrderStatus.CANCELLED, OrderStatus.COMPLETED, OrderStatus.RETURNED_TO_SENDER]
# What a move changes on the locked row (callers that change more save it themselves first).
_ORDER_MOVE_FIELDS = ["status", "status_before_hold", "delivered_at", "status_changed_at", "updated_at"]
_SHIPMENT_MOVE_FIELDS = ["status", "last_progress_status", "status_reason", "updated_at"]


def _lock_order(order: Order | int) -> Order:
    # A statement built once (oms_notify/fastsql.py): every move starts here.
    return lock_row(Order, order.pk if isinstance(order, Order) else order)


def _save_fields(instance: Order | Shipment, fields: list[str]) -> None:
    """`save(update_fields=fields)` of a locked row as one statement built once (oms_notify/fastsql.py):
    only what a move changed, not every column, and no compile per call. Like QuerySet.update it
    sends no signals (nothing listens to these models' saves); `updated_at` is stamped here."""
    if "updated_at" in fields:
        instance.updated_at = timezone.now()
    update_row(type(instance), instance.pk, **{name: getattr(instance, name) for name in dict.fromkeys(fields)})


def _lock_shipment(pk: int) -> Shipment:
    return lock_row(Shipment, pk)


def _record_move(
    *,
    event: str,
    payload: dict,
    order: Order,
    to_status: str,
    from_status: str,
    transition: str,
    source: str,
    actor=None,
    reason: str = "",
    notify: bool = True,
    shipment: Shipment | None = None,
    shipment_event: ShipmentEvent | None = None,
    occurred_at: datetime | None = None,
) -> StatusChange:
    """A move's append-only audit row and its domain event, in the caller's transaction."""
    change = StatusChange(
        order=order,
        shipment=shipment,
        from_status=from_status,
        to_status=to_status,
        transition=transition,
        source=source,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        reason=reason[:500],
        notify_customer=notify,
        shipment_event=shipment_event,
        occurred_at=occurred_at or timezone.now(),
    )
    # Append-only, so no save() to guard: written with its domain event by publish, in one statement.
    events.publish(name=event, order=order, shipment=shipment, status_change=change, payload=payload)
    return change


def _run_order_transition(
    order: Order,
    transition: str,
    *,
    source: str,
    actor=None,
    reason: str = "",
    notify: bool = True,
    occurred_at: datetime | None = None,
    shipment_event: ShipmentEvent | None = None,
    hand_over: bool = False,
    **kwargs,
) -> StatusChange:
    """Call the FSM method on a locked order, then audit and publish. The caller holds the lock.

    `hand_over` (staff or warehouse dispatch) hands every parcel still waiting at the dock to the
    carrier; a carrier-driven dispatch counts only the parcels the carrier has scanned.
    """
    occurred_at = occurred_at or timezone.now()
    before = order.status
    waiting: list[int] = []
    if transition == "dispatch":
        if hand_over:
            waiting = list(
                order.shipments.filter(dispatched_at__isnull=True)
                .exclude(status=ShipmentStatus.CANCELLED)
                .values_list("pk", flat=True)
            )
        kwargs["follow"] = _dispatch_target(order, handing_over=set(waiting))
    elif transition == "hold":
        order.status_before_hold = before
    elif transition == "cancel":
        for shipment in order.shipments.select_for_update().filter(status=ShipmentStatus.INFO_RECEIVED):
            _run_shipment_transition(
                shipment,
                "mark_cancelled",
                order=order,
                source=source,
                actor=actor,
                reason=reason,
                occurred_at=occurred_at,
            )
    getattr(order, transition)(**kwargs)
    if waiting:
        Shipment.objects.filter(pk__in=waiting).update(dispatched_at=occurred_at)
    if order.status == OrderStatus.DELIVERED and order.delivered_at is None:
        order.delivered_at = _latest_delivery(order) or occurred_at
    if transition == "release":
        order.status_before_hold = ""
    order.status_changed_at = occurred_at
    _save_fields(order, _ORDER_MOVE_FIELDS)
    change = _record_move(
        event=events.ORDER_STATUS_CHANGED,
        payload={"from": before, "to": order.status, "transition": transition, "notify": notify},
        order=order,
        from_status=before,
        to_status=order.status,
        transition=transition,
        source=source,
        actor=actor,
        reason=reason,
        notify=notify,
        shipment_event=shipment_event,
        occurred_at=occurred_at,
    )
    logger.info(
        "order moved",
        extra={"order": order.number, "from": before, "to": order.status, "transition": transition, "source": source},
    )
    return change


def _latest_delivery(order: Order) -> datetime | None:
    return (
        order.shipments.filter(status=ShipmentStatus.DELIVERED)
        .order_by("-delivered_at")
        .values_list("delivered_at", flat=True)
        .first()
    )


def _run_shipment_transition(
    shipment: Shipment,
    transition: str,
    *,
    order: Order,
    source: str,
    actor=None,
    reason: str = "",
    occurred_at: datetime | None = None,
    shipment_event: ShipmentEvent | None = None,
    also_save: list[str] | None = None,
) -> StatusChange:
    """`also_save`: fields the caller changed on the locked shipment before the move, saved with it."""
    before = shipment.status
    getattr(shipment, transition)()
    if shipment.status not in SHIPMENT_EXCEPTIONS:
        shipment.last_progress_status = shipment.status
        shipment.status_reason = ""
    else:
        if before not in SHIPMENT_EXCEPTIONS:
            shipment.last_progress_status = before
        shipment.status_reason = reason[:200]
    _save_fields(shipment, [*_SHIPMENT_MOVE_FIELDS, *(also_save or ())])
    change = _record_move(
        event=events.SHIPMENT_STATUS_CHANGED,
        payload={"from": before, "to": shipment.status, "tracking_id": shipment.tracking_id},
        order=order,
        shipment=shipment,
        from_status=before,
        to_status=shipment.status,
        transition=transition,
        source=source,
        actor=actor,
        reason=reason,
        shipment_event=shipment_event,
        occurred_at=occurred_at,
    )
    return change


def _dispatch_target(order: Order, handing_over: set[int] | None = None) -> str:
    """The status the order takes once its handed-over shipments (and those `handing_over`) count."""
    handing_over = handing_over or set()
    live: list[tuple[int, str, bool]] = []
    lines: list[tuple[int, int, int | None, int]] = []
    with connection.cursor() as cursor:
        fastsql.execute(cursor, _dispatch_rows_sql(), [order.pk, ShipmentStatus.CANCELLED, order.pk])
        for kind, pk, status, ref, quantity, shipped in cursor.fetchall():
            if kind == 1:
                live.append((pk, status, bool(ref)))
            else:
                lines.append((pk, quantity, ref, shipped))
    handed_over = [(pk, status) for pk, status, dispatched in live if dispatched or pk in handing_over]
    handed_over = handed_over or [(pk, status) for pk, status, _ in live]
    counted = {pk for pk, _ in handed_over}
    needed: dict[int, int] = {}
    carried: dict[int, int] = defaultdict(int)
    for line_pk, quantity, shipment_pk, shipped in lines:
        needed[line_pk] = quantity
        if shipment_pk in counted:
            carried[line_pk] += shipped
    all_shipped = all(carried[pk] >= quantity for pk, quantity in needed.items())
    return order_status_for_shipments([status for _, status in handed_over], all_lines_shipped=all_shipped)


_dispatch_sql: list[str] = []


def _dispatch_rows_sql() -> str:
    """The order's live shipments and every line with what each shipment carries of it, in one
    statement built once: this runs on every carrier event that moves a parcel."""
    if not _dispatch_sql:
        qn = connection.ops.quote_name
        s, ol, sl = Shipment._meta.db_table, OrderLine._meta.db_table, ShipmentLine._meta.db_table
        _dispatch_sql.append(
            f"SELECT 1, s.id, s.status, CASE WHEN s.dispatched_at IS NULL THEN 0 ELSE 1 END, 0, 0 "
            f"FROM {qn(s)} s WHERE s.order_id = %s AND s.status <> %s "
            f"UNION ALL SELECT 2, ol.id, '', sl.shipment_id, ol.quantity, COALESCE(sl.quantity, 0) "
            f"FROM {qn(ol)} ol LEFT OUTER JOIN {qn(sl)} sl ON sl.order_line_id = ol.id WHERE ol.order_id = %s"
        )
    return _dispatch_sql[0]


def _order_follow_shipments(
    order: Order, *, source: str, occurred_at: datetime, shipment_event: ShipmentEvent | None = None
) -> None:
    """After a shipment moved: the order follows. Before dispatch, our dispatch rules still apply."""
    if order.status in PRE_DISPATCH:
        if can_proceed(order.dispatch):
            _run_order_transition(
                order,
                "dispatch",
                source=source,
                occurred_at=occurred_at,
                shipment_event=shipment_event,
                reason="carrier scanned the parcel",
            )
        else:
            logger.warning(
                "carrier moved a parcel of an order we have not dispatched",
                extra={"order": order.number, "status": order.status},
            )
        return
    if order.status not in POST_DISPATCH:
        return
    target = _dispatch_target(order)
    if target != order.status:
        _run_order_transition(
            order,
            "follow_shipments",
            source=source,
            occurred_at=occurred_at,
            shipment_event=shipment_event,
            follow=target,
        )
