"""Order moves asked for by people and systems: transitions, flags, overrides, completion."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from orders import events
from orders.exceptions import TransitionRefused
from orders.models import (
    OVERRIDE_PERMISSION,
    Order,
)
from orders.services._core import _dispatch_target, _lock_order, _record_move, _run_order_transition
from orders.statuses import (
    HOLDABLE,
    OrderStatus,
)

logger = logging.getLogger(__name__)


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
        _record_move(
            event=events.ORDER_STATUS_CHANGED,
            payload={"from": before, "to": status, "transition": "override", "notify": notify},
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
