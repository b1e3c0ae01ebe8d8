"""Drive an order to any status through the services, as production would."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from orders import services
from orders.models import Order
from orders.statuses import OrderStatus
from orders.tracking import TrackingEvent
from tests.factories import make_order

_T0 = timezone.now() - timedelta(days=3)


def carrier_event(shipment, status: str, *, minutes: int = 0, **extra) -> TrackingEvent:
    return TrackingEvent(
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        status=status,
        occurred_at=_T0 + timedelta(minutes=minutes),
        **extra,
    )


def apply(shipment, status: str, *, minutes: int = 0, **extra):
    row, created = services.shipment_apply_event(
        shipment=shipment, event=carrier_event(shipment, status, minutes=minutes, **extra)
    )
    return row, created


def order_in(status: str, **kwargs) -> Order:
    """An order in `status`, reached the way production reaches it."""
    split = status == OrderStatus.PARTIALLY_SHIPPED
    order = make_order(lines=[("A", 1), ("B", 1)] if split else [("A", 2)], inventory_allocated=True, **kwargs)
    if status == OrderStatus.PENDING:
        return order
    if status == OrderStatus.ON_HOLD:
        return services.order_set_flags(
            order=order, source="api", regulatory_hold=True, regulatory_hold_reason="export licence check"
        )
    if status == OrderStatus.CANCELLED:
        return services.order_transition(order=order, transition="cancel", source="api")
    services.order_transition(order=order, transition="confirm", source="api")
    if status == OrderStatus.CONFIRMED:
        return _fresh(order)
    services.order_transition(order=order, transition="start_processing", source="api")
    if status == OrderStatus.PROCESSING:
        return _fresh(order)
    shipment = services.shipment_create(
        order=order, carrier="ups", tracking_number="1Z999", source="api", lines=[("A", 1)] if split else None
    )
    services.order_transition(order=order, transition="dispatch", source="api")
    if split:
        # The rest waits at the dock: a second parcel not yet handed over.
        services.shipment_create(order=order, carrier="ups", tracking_number="1Z998", source="api")
        return _fresh(order)
    event_for = {
        OrderStatus.IN_TRANSIT: ["in_transit"],
        OrderStatus.OUT_FOR_DELIVERY: ["in_transit", "out_for_delivery"],
        OrderStatus.DELAYED: ["in_transit", "delayed"],
        OrderStatus.DELIVERY_FAILED: ["in_transit", "out_for_delivery", "attempt_failed"],
        OrderStatus.DELIVERED: ["in_transit", "delivered"],
        OrderStatus.COMPLETED: ["in_transit", "delivered"],
        OrderStatus.RETURNED_TO_SENDER: ["in_transit", "returned_to_sender"],
        OrderStatus.DISPATCHED: [],
    }[status]
    for minutes, event_status in enumerate(event_for):
        apply(shipment, event_status, minutes=minutes * 60)
    if status == OrderStatus.COMPLETED:
        services.order_transition(order=order, transition="complete", source="api")
    return _fresh(order)


def _fresh(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)
