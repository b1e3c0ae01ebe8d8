"""Everything that changes an order or a shipment goes through here.

Each write runs in one transaction that locks the order row first (then its shipments), writes
an append-only StatusChange for every move and publishes a domain event, so two concurrent moves
on one order never both win and listeners join the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from orders import events
from orders.exceptions import OrderConflict, TransitionRefused
from orders.models import (
    OVERRIDE_PERMISSION,
    Brand,
    Customer,
    Order,
    OrderLine,
    Shipment,
    ShipmentEvent,
    ShipmentLine,
    StatusChange,
)
from orders.statuses import (
    HOLDABLE,
    POST_DISPATCH,
    PRE_DISPATCH,
    SHIPMENT_EXCEPTIONS,
    UNKNOWN_EVENT_STATUS,
    OrderStatus,
    ShipmentStatus,
    order_status_for_shipments,
)
from orders.tracking import TrackingEvent

logger = logging.getLogger(__name__)

CLOSED_ORDER_STATUSES = [OrderStatus.CANCELLED, OrderStatus.COMPLETED, OrderStatus.RETURNED_TO_SENDER]


# --- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineIn:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


def brand_default() -> Brand:
    """The brand of orders that name none (a migration makes it; recreated if someone removed it)."""
    brand, _ = Brand.objects.get_or_create(
        slug=settings.DEFAULT_BRAND_SLUG, defaults={"name": "Default", "order_prefix": "ORD"}
    )
    return brand


def _fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def order_create(
    *,
    source: str,
    external_id: str,
    customer: dict,
    shipping_address: dict,
    lines: list[LineIn],
    currency: str,
    brand: Brand | None = None,
    source_account: str = "",
    source_number: str = "",
    total: Decimal | None = None,
    promised_from=None,
    promised_to=None,
    placed_at: datetime | None = None,
    inventory_allocated: bool = False,
    actor=None,
) -> tuple[Order, bool]:
    """Create an order once per (source, account, external id). Returns (order, created).

    A repeat with the same content returns the existing order; a repeat with different content
    raises OrderConflict. Concurrent repeats resolve on the unique constraint.
    """
    if not lines:
        raise ValidationError({"lines": "An order needs at least one line."})
    brand = brand or brand_default()
    fingerprint = _fingerprint(
        {
            "brand": brand.slug,
            "customer": customer,
            "shipping_address": shipping_address,
            "lines": [vars(line) for line in lines],
            "currency": currency,
            "total": total,
            "promised": [promised_from, promised_to],
            "source_number": source_number,
        }
    )
    key = {"source": source, "source_account": source_account, "external_id": external_id}

    existing = Order.objects.filter(**key).first()
    if existing is not None:
        return _existing_or_conflict(existing, fingerprint), False
    try:
        with transaction.atomic():
            order = _order_insert(
                brand=brand,
                key=key,
                fingerprint=fingerprint,
                customer=customer,
                shipping_address=shipping_address,
                lines=lines,
                currency=currency,
                source_number=source_number,
                total=total,
                promised_from=promised_from,
                promised_to=promised_to,
                placed_at=placed_at,
                inventory_allocated=inventory_allocated,
                actor=actor,
            )
    except IntegrityError:
        # Lost a race with an identical intake: the winner's row is the answer.
        existing = Order.objects.filter(**key).first()
        if existing is None:
            raise
        return _existing_or_conflict(existing, fingerprint), False
    return order, True


def _existing_or_conflict(order: Order, fingerprint: str) -> Order:
    if order.intake_fingerprint != fingerprint:
        raise OrderConflict(order)
    return order


def _order_insert(
    *,
    brand,
    key,
    fingerprint,
    customer,
    shipping_address,
    lines,
    currency,
    source_number,
    total,
    promised_from,
    promised_to,
    placed_at,
    inventory_allocated,
    actor,
) -> Order:
    brand = Brand.objects.select_for_update().get(pk=brand.pk)
    brand.order_sequence = F("order_sequence") + 1
    brand.save(update_fields=["order_sequence"])
    brand.refresh_from_db(fields=["order_sequence"])

    cust = _customer_upsert(brand=brand, **customer)
    computed_total = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    order = Order(
        number=f"{brand.order_prefix}-{brand.order_sequence:06d}",
        brand=brand,
        customer=cust,
        intake_fingerprint=fingerprint,
        source_number=source_number,
        ship_name=shipping_address.get("name", "") or cust.name,
        ship_line1=shipping_address["line1"],
        ship_line2=shipping_address.get("line2", ""),
        ship_city=shipping_address["city"],
        ship_region=shipping_address.get("region", ""),
        ship_postcode=shipping_address.get("postcode", ""),
        ship_country=shipping_address["country"],
        ship_latitude=shipping_address.get("latitude"),
        ship_longitude=shipping_address.get("longitude"),
        currency=currency,
        total=computed_total if total is None else total,
        promised_from=promised_from,
        promised_to=promised_to,
        placed_at=placed_at or timezone.now(),
        inventory_allocated=inventory_allocated,
        **key,
    )
    # Uniqueness is the database's job: a concurrent twin surfaces as IntegrityError, handled above.
    order.full_clean(
        exclude=["intake_fingerprint", "number", "tracking_token", "status"],
        validate_unique=False,
        validate_constraints=False,
    )
    order.save()
    for line in lines:
        OrderLine(order=order, **vars(line)).full_clean(exclude=["order"])
    OrderLine.objects.bulk_create(OrderLine(order=order, **vars(line)) for line in lines)
    change = _audit(
        order=order,
        from_status="",
        to_status=order.status,
        transition="create",
        source=key["source"],
        actor=actor,
        occurred_at=order.placed_at,
    )
    events.publish(
        name=events.ORDER_CREATED,
        order=order,
        status_change=change,
        payload={"number": order.number, "status": order.status},
    )
    return order


def _customer_upsert(
    *, brand: Brand, email: str, name: str = "", phone: str = "", locale: str = "", time_zone: str = ""
) -> Customer:
    email = email.strip().lower()
    cust = Customer.objects.select_for_update().filter(brand=brand, email=email).first()
    if cust is None:
        cust = Customer(
            brand=brand,
            email=email,
            name=name or email,
            phone=phone,
            locale=locale or brand.default_locale,
            time_zone=time_zone or brand.default_time_zone,
        )
    else:
        # The newest order carries the freshest contact details.
        cust.name = name or cust.name
        cust.phone = phone or cust.phone
        cust.locale = locale or cust.locale
        cust.time_zone = time_zone or cust.time_zone
    cust.full_clean(exclude=["brand"], validate_unique=False)
    cust.orders_count = (cust.orders_count or 0) + 1
    cust.save()
    return cust


# --- order moves ----------------------------------------------------------------------------


def _lock_order(order: Order | int) -> Order:
    pk = order.pk if isinstance(order, Order) else order
    return Order.objects.select_for_update().get(pk=pk)


def _audit(
    *,
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
    return StatusChange.objects.create(
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


def order_available_transitions(*, order: Order, user=None) -> list[dict]:
    """The moves this user may make on this order now (system moves excluded)."""
    candidates = (
        order.get_available_user_status_transitions(user)
        if user is not None
        else order.get_available_status_transitions()
    )
    return [{"name": t.name, "target": _target_label(order, t)} for t in candidates if not t.custom.get("system")]


def _target_label(order: Order, t) -> str:
    return str(_dispatch_target(order) if t.name == "dispatch" else t.target)


def order_transition(
    *,
    order: Order,
    transition: str,
    source: str,
    actor=None,
    reason: str = "",
    notify: bool = True,
    occurred_at: datetime | None = None,
) -> Order:
    """Perform a named lifecycle move, checking its conditions and the actor's permission."""
    with transaction.atomic():
        order = _lock_order(order)
        method = getattr(order, transition, None)
        meta = getattr(method, "_django_fsm", None)
        if meta is None or any(t.custom.get("system") for t in meta.transitions.values()):
            raise TransitionRefused(transition, "unknown_transition")
        # Who may ask comes before whether it is possible now: no status leaks to the unauthorised.
        permissions = {t.permission for t in meta.transitions.values() if t.permission}
        if actor is not None and not all(actor.has_perm(p) for p in permissions if isinstance(p, str)):
            raise PermissionDenied(f"You may not {transition} orders.")
        if not can_proceed(method):
            raise TransitionRefused(transition, _refusal_reason(order, meta))
        if actor is not None and not has_transition_perm(method, actor):
            raise PermissionDenied(f"You may not {transition} orders.")
        _run_order_transition(
            order,
            transition,
            source=source,
            actor=actor,
            reason=reason,
            notify=notify,
            occurred_at=occurred_at,
            hand_over=transition == "dispatch",
        )
    return order


def _refusal_reason(order: Order, meta) -> str:
    """A machine-readable why: the status does not allow it, or which condition failed."""
    candidate = meta.get_transition(order.status)
    if candidate is None:
        return f"not_allowed_from_{order.status}"
    failed = [condition.__name__ for condition in candidate.conditions if not condition(order)]
    return "condition_failed:" + ",".join(failed) if failed else "not_allowed_now"


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
    order.save()
    change = _audit(
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
    events.publish(
        name=events.ORDER_STATUS_CHANGED,
        order=order,
        status_change=change,
        payload={"from": before, "to": order.status, "transition": transition, "notify": notify},
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


def order_set_flags(
    *,
    order: Order,
    source: str,
    actor=None,
    inventory_allocated: bool | None = None,
    regulatory_hold: bool | None = None,
    regulatory_hold_reason: str | None = None,
) -> Order:
    """Set the warehouse and compliance flags; a hold parks the order, clearing it resumes it."""
    with transaction.atomic():
        order = _lock_order(order)
        if inventory_allocated is not None:
            order.inventory_allocated = inventory_allocated
        if regulatory_hold_reason is not None:
            order.regulatory_hold_reason = regulatory_hold_reason
        if regulatory_hold is not None:
            if regulatory_hold and not order.regulatory_hold_reason.strip():
                raise ValidationError({"regulatory_hold_reason": "A regulatory hold needs a reason."})
            order.regulatory_hold = regulatory_hold
            if not regulatory_hold:
                order.regulatory_hold_reason = ""
        order.save()
        reason = order.regulatory_hold_reason
        if order.regulatory_hold and order.status in HOLDABLE:
            _run_order_transition(order, "hold", source=source, actor=actor, reason=reason)
        elif not order.regulatory_hold and order.status == OrderStatus.ON_HOLD:
            _run_order_transition(order, "release", source=source, actor=actor, reason="regulatory hold cleared")
    return order


def order_override_status(
    *, order: Order, status: str, reason: str, notify: bool, actor, source: str = "admin"
) -> Order:
    """Support override: force any status, with a mandatory reason. Audited like any move."""
    if actor is None or not actor.has_perm(OVERRIDE_PERMISSION):
        raise PermissionDenied("Overriding a status needs the orders.override_status permission.")
    if status not in OrderStatus.values:
        raise ValidationError({"status": f"{status!r} is not an order status."})
    if not reason or not reason.strip():
        raise ValidationError({"reason": "An override needs a reason."})
    with transaction.atomic():
        order = _lock_order(order)
        before = order.status
        if status == before:
            raise ValidationError({"status": f"The order is already {status}."})
        now = timezone.now()
        updates = {"status": status, "status_changed_at": now}
        if status == OrderStatus.ON_HOLD:
            updates["status_before_hold"] = before if before in HOLDABLE else OrderStatus.PENDING
        if status == OrderStatus.DELIVERED and order.delivered_at is None:
            updates["delivered_at"] = now
        # The field is protected: the override is the one write that bypasses the machine.
        Order.objects.filter(pk=order.pk).update(**updates)
        order.refresh_from_db()
        change = _audit(
            order=order,
            from_status=before,
            to_status=status,
            transition="override",
            source=source,
            actor=actor,
            reason=reason.strip(),
            notify=notify,
            occurred_at=now,
        )
        events.publish(
            name=events.ORDER_STATUS_CHANGED,
            order=order,
            status_change=change,
            payload={"from": before, "to": status, "transition": "override", "notify": notify},
        )
    logger.warning(
        "order status overridden",
        extra={"order": order.number, "from": before, "to": status, "actor": actor.get_username()},
    )
    return order


def orders_complete_due(*, now: datetime | None = None) -> int:
    """Complete orders delivered ORDER_COMPLETE_AFTER_DAYS ago with nothing left open."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ORDER_COMPLETE_AFTER_DAYS)
    done = 0
    due = Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__lte=cutoff).values_list("pk", flat=True)
    for pk in due.iterator():
        with transaction.atomic():
            order = _lock_order(pk)
            if order.status == OrderStatus.DELIVERED and can_proceed(order.complete):
                _run_order_transition(
                    order,
                    "complete",
                    source="system",
                    reason=f"{settings.ORDER_COMPLETE_AFTER_DAYS} days after delivery",
                )
                done += 1
    return done


# --- shipments ------------------------------------------------------------------------------


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
        change = _audit(
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
        events.publish(
            name=events.SHIPMENT_CREATED,
            order=order,
            shipment=shipment,
            status_change=change,
            payload={
                "tracking_id": shipment.tracking_id,
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
            },
        )
    return shipment


def shipment_apply_event(
    *, shipment: Shipment, event: TrackingEvent, received_at: datetime | None = None, source: str = "carrier"
) -> tuple[ShipmentEvent, bool]:
    """Record a carrier event in the shipment's timeline and move the shipment if it is news.

    Returns (timeline row, created). A duplicate (same dedupe key) changes nothing. An event
    older than what the shipment already knows joins the history but never moves it backwards.
    """
    received_at = received_at or timezone.now()
    with transaction.atomic():
        order = _lock_order(shipment.order_id)
        shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
        try:
            with transaction.atomic():
                row = ShipmentEvent.objects.create(
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
        except IntegrityError:
            return ShipmentEvent.objects.get(shipment=shipment, dedupe_key=event.dedupe_key), False

        is_news = shipment.last_event_at is None or event.occurred_at >= shipment.last_event_at
        moved = first_scan = False
        if is_news:
            shipment.last_event_at = event.occurred_at
            if event.estimated_delivery:
                shipment.eta = event.estimated_delivery
            if event.status not in (UNKNOWN_EVENT_STATUS, ShipmentStatus.INFO_RECEIVED) and not shipment.dispatched_at:
                shipment.dispatched_at = event.occurred_at  # the carrier has the parcel
                first_scan = True
            if event.status not in (UNKNOWN_EVENT_STATUS, shipment.status):
                moved = _move_shipment_for_event(shipment, event, row, order=order, source=source)
            shipment.save()
            row.applied = shipment.status == event.status
            row.save(update_fields=["applied"])
        events.publish(
            name=events.SHIPMENT_EVENT_RECORDED,
            order=order,
            shipment=shipment,
            payload={"shipment_event_id": row.pk, "status": event.status, "moved": moved},
        )
        if moved or first_scan:
            _order_follow_shipments(order, source=source, occurred_at=event.occurred_at, shipment_event=row)
    return row, True


def _move_shipment_for_event(
    shipment: Shipment, event: TrackingEvent, row: ShipmentEvent, *, order: Order, source: str
) -> bool:
    method = getattr(shipment, f"mark_{event.status}")
    if not can_proceed(method):
        # e.g. a scan for a parcel we already know was returned: history only.
        logger.warning(
            "carrier event cannot move shipment",
            extra={"tracking_id": shipment.tracking_id, "from": shipment.status, "to": event.status},
        )
        return False
    if event.status == ShipmentStatus.DELIVERED:
        _record_proof(shipment, event)
    _run_shipment_transition(
        shipment,
        f"mark_{event.status}",
        order=order,
        source=source,
        reason=event.reason or event.description,
        occurred_at=event.occurred_at,
        shipment_event=row,
    )
    return True


def _record_proof(shipment: Shipment, event: TrackingEvent) -> None:
    shipment.delivered_at = event.occurred_at
    shipment.pod_signed_by = event.signed_by
    shipment.pod_signature_ref = event.signature_ref
    shipment.pod_photo_ref = event.photo_ref
    shipment.pod_latitude = event.latitude
    shipment.pod_longitude = event.longitude


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
) -> StatusChange:
    before = shipment.status
    getattr(shipment, transition)()
    if shipment.status not in SHIPMENT_EXCEPTIONS:
        shipment.last_progress_status = shipment.status
        shipment.status_reason = ""
    else:
        if before not in SHIPMENT_EXCEPTIONS:
            shipment.last_progress_status = before
        shipment.status_reason = reason[:200]
    shipment.save()
    change = _audit(
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
    events.publish(
        name=events.SHIPMENT_STATUS_CHANGED,
        order=order,
        shipment=shipment,
        status_change=change,
        payload={"from": before, "to": shipment.status, "tracking_id": shipment.tracking_id},
    )
    return change


def _dispatch_target(order: Order, handing_over: set[int] | None = None) -> str:
    """The status the order takes once its handed-over shipments (and those `handing_over`) count."""
    handing_over = handing_over or set()
    live = [s for s in order.shipments.all() if s.status != ShipmentStatus.CANCELLED]
    handed_over = [s for s in live if s.dispatched_at is not None or s.pk in handing_over] or live
    carried: dict[int, int] = defaultdict(int)
    for line in ShipmentLine.objects.filter(shipment__in=handed_over):
        carried[line.order_line_id] += line.quantity
    all_shipped = all(carried[line.pk] >= line.quantity for line in order.lines.all())
    return order_status_for_shipments([s.status for s in handed_over], all_lines_shipped=all_shipped)


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


# --- details from a source (issue 7) -----------------------------------------------------------

ORDER_DETAILS_CHANGED = "order.details_changed"
_ADDRESS_FIELDS = {
    "name": "ship_name",
    "line1": "ship_line1",
    "line2": "ship_line2",
    "city": "ship_city",
    "region": "ship_region",
    "postcode": "ship_postcode",
    "country": "ship_country",
    "latitude": "ship_latitude",
    "longitude": "ship_longitude",
}


@dataclass(frozen=True)
class DetailsOutcome:
    changed: tuple[str, ...] = ()
    refused: str = ""  # why nothing was applied (the order has left the building)


def order_update_details(
    *,
    order: Order,
    source: str,
    shipping_address: dict | None = None,
    customer: dict | None = None,
    actor=None,
) -> DetailsOutcome:
    """Apply a channel's newer shipping address and customer contact (name, phone, email) to an order.

    Only before dispatch: once a parcel has left, the address on the label is what we hold, so the
    change is refused (and the caller records why). The caller has decided the data is newer (the
    staleness check lives with the source state). No StatusChange: the status does not move; the
    audit is an `order.details_changed` domain event naming the changed fields (old and new values).
    Raises ValidationError for an address or contact our model would not accept.
    """
    with transaction.atomic():
        order = _lock_order(order)
        dispatched = order.shipments.filter(dispatched_at__isnull=False).exists()
        if order.status not in [*PRE_DISPATCH, OrderStatus.ON_HOLD]:
            return DetailsOutcome(refused=f"order {order.number} is {order.status}: details kept as they are")
        if dispatched:
            return DetailsOutcome(refused=f"a parcel of order {order.number} has left: details kept as they are")
        changes: dict[str, dict] = {}
        for key, value in (shipping_address or {}).items():
            field = _ADDRESS_FIELDS.get(key)
            if field is None or value is None:
                continue
            if key in ("latitude", "longitude"):
                try:
                    value = Decimal(str(value)).quantize(Decimal("0.000001"))
                except ArithmeticError:
                    raise ValidationError({field: "Not a coordinate."}) from None
            else:
                value = str(value).strip()
                if not value and key in ("name", "line1", "city", "country"):
                    continue  # a channel that drops a required part does not blank ours
            if getattr(order, field) != value:
                changes[field] = {"from": str(getattr(order, field) or ""), "to": str(value)}
                setattr(order, field, value)
        cust = order.customer
        new_email = str((customer or {}).get("email") or "").strip().lower()
        if new_email and new_email != cust.email:
            # Customers are one row per (brand, email): the order moves to the customer of the new address.
            other = Customer.objects.select_for_update().filter(brand=order.brand, email=new_email).first()
            if other is None:
                other = Customer(
                    brand=order.brand,
                    email=new_email,
                    name=cust.name,
                    phone=cust.phone,
                    locale=cust.locale,
                    time_zone=cust.time_zone,
                )
            Customer.objects.filter(pk=cust.pk, orders_count__gt=0).update(orders_count=F("orders_count") - 1)
            other.orders_count = (other.orders_count or 0) + 1
            changes["customer.email"] = {"from": cust.email, "to": new_email}
            cust = other
        for key in ("name", "phone"):
            value = str((customer or {}).get(key) or "").strip()
            if value and getattr(cust, key) != value:
                changes[f"customer.{key}"] = {"from": getattr(cust, key), "to": value}
                setattr(cust, key, value)
        if not changes:
            return DetailsOutcome()
        cust.full_clean(exclude=["brand"], validate_unique=False)
        cust.save()
        order.customer = cust
        order.full_clean(
            exclude=["intake_fingerprint", "number", "tracking_token", "status", "customer"],
            validate_unique=False,
            validate_constraints=False,
        )
        order.save()
        changed = tuple(sorted(changes))
        events.publish(
            name=ORDER_DETAILS_CHANGED,
            order=order,
            payload={
                "number": order.number,
                "source": source,
                "fields": list(changed),
                "changes": changes,
                "actor": actor.pk if getattr(actor, "is_authenticated", False) else None,
            },
        )
    logger.info("order details changed", extra={"order": order.number, "source": source, "fields": list(changed)})
    return DetailsOutcome(changed=changed)
