"""The orders domain-event handler: runs inside the orders transaction and writes the outbox rows."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications import delivery_gate, rules, services
from notifications.models import Audience, Event
from oms_notify.fastsql import JoinedLoader
from orders import events
from orders.models import Customer, DomainEvent, Order
from orders.statuses import OrderStatus as OS

logger = logging.getLogger(__name__)
DELIVERY_VERIFIED = "shipment.delivery_verified"
# After dispatch these are already covered by the "dispatched" message.
_QUIET_AFTER_DISPATCH = {OS.DISPATCHED, OS.PARTIALLY_SHIPPED, OS.IN_TRANSIT}


def on_domain_event(event: DomainEvent) -> None:
    if event.name not in (events.ORDER_STATUS_CHANGED, DELIVERY_VERIFIED):
        return
    # In a savepoint: a bug here must not roll back (or block) the order's own change; it is
    # logged loudly instead, with the domain event's id to replay it from.
    try:
        with transaction.atomic():
            _handle(event)
    except Exception:
        logger.exception("notifications handler failed", extra={"domain_event_id": event.pk, "event": event.name})


def _handle(event: DomainEvent) -> None:
    if event.name == events.ORDER_STATUS_CHANGED:
        _on_order_status_changed(event)
    else:
        delivery_gate.delivery_verdict_apply(
            order=event.order, shipment=event.shipment, payload=event.payload or {}, domain_event=event
        )


def _on_order_status_changed(event: DomainEvent) -> None:
    payload = event.payload or {}
    to, transition = payload.get("to", ""), payload.get("transition", "")
    # A support override with "don't notify" tells the customer nothing; staff still hear of exceptions.
    audiences = (Audience.CUSTOMER, Audience.STAFF) if payload.get("notify", True) else (Audience.STAFF,)
    order = event.order
    _attach_customer(order)
    change = event.status_change
    source = f"sc{change.pk}" if change else f"de{event.pk}"
    common = {"order": order, "domain_event": event, "status_change": change, "audiences": audiences}
    shipment = change.shipment_event.shipment if change and change.shipment_event_id else None

    wanted: list[str] = []
    if transition == "dispatch":
        # A carrier's first scan may take the order straight to in transit: still "dispatched" to the customer.
        wanted.append(Event.ORDER_DISPATCHED)
        if to not in _QUIET_AFTER_DISPATCH and to in rules.EVENT_FOR_ORDER_STATUS:
            wanted.append(rules.EVENT_FOR_ORDER_STATUS[to])
        parcels = order.shipments.exclude(status="cancelled").count()
        if parcels > 1:
            services.notifications_create(
                event=Event.SPLIT_SHIPMENT, key_source=f"o{order.pk}:parcels{parcels}", shipment=shipment, **common
            )
    elif to in rules.EVENT_FOR_ORDER_STATUS:
        wanted.append(rules.EVENT_FOR_ORDER_STATUS[to])

    for name in wanted:
        if name == Event.DELIVERED:
            _on_delivered(event, source=source, shipment=shipment, common=common)
        else:
            services.notifications_create(event=name, key_source=source, shipment=shipment, **common)


# The customer with their brand and preferences in one statement built once (oms_notify/fastsql.py),
# instead of three lazy loads while the rows are written.
_customer_loader = JoinedLoader(Customer, "brand", "notification_preferences")


def _attach_customer(order: Order) -> None:
    if Order.customer.field.is_cached(order):
        return
    customer = _customer_loader.first(order.customer_id)
    if customer is None:
        return
    Order.customer.field.set_cached_value(order, customer)
    if customer.brand_id == order.brand_id and not Order.brand.field.is_cached(order):
        Order.brand.field.set_cached_value(order, customer.brand)


def _on_delivered(event: DomainEvent, *, source: str, shipment, common: dict) -> None:
    # A carrier's delivered scan waits for the proof-of-delivery verdict; staff overrides do not.
    # The wait counts from the delivery itself: an old scan replayed without a verdict waits no more.
    gated = shipment is not None
    change = event.status_change
    delivered_at = (change.occurred_at if change else None) or timezone.now()
    services.notifications_create(
        event=Event.DELIVERED,
        key_source=source,
        shipment=shipment,
        hold_reason="awaiting_pod" if gated else "",
        due_at=delivered_at + timedelta(seconds=settings.NOTIFY_POD_WAIT_SECONDS) if gated else None,
        **common,
    )
    services.notifications_create(
        event=Event.FEEDBACK_REQUEST,
        key_source=source,
        shipment=shipment,
        due_at=delivered_at + timedelta(hours=settings.NOTIFY_FEEDBACK_DELAY_HOURS),
        **common,
    )
