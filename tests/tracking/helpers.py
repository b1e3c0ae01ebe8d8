"""Orders at each stage of their life, made through the services as real ones are."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

from orders import services
from orders.models import Order, Shipment
from orders.tracking import TrackingEvent

_numbers = count(1)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

STAGES = ("pending", "confirmed", "dispatched", "in_transit", "out_for_delivery", "delayed", "delivered")


def scan(shipment: Shipment, status: str, *, hours: float, **fields) -> None:
    fields.setdefault("city", "Memphis")
    fields.setdefault("country", "US")
    services.shipment_apply_event(
        shipment=shipment,
        event=TrackingEvent(
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            status=status,
            occurred_at=T0 + timedelta(hours=hours),
            event_id=f"{shipment.tracking_number}-{next(_numbers)}",
            **fields,
        ),
        received_at=T0 + timedelta(hours=hours, minutes=1),
    )


def order_at(stage: str, *, make_order, carrier: str = "ups", **order_kwargs) -> Order:
    """An order at `stage` with one UPS parcel (from dispatched on)."""
    order_kwargs.setdefault("promised_from", date(2026, 11, 22))
    order_kwargs.setdefault("promised_to", date(2026, 11, 24))
    order = make_order(inventory_allocated=True, **order_kwargs)
    if stage == "pending":
        return order
    services.order_transition(order=order, transition="confirm", source="api")
    if stage == "confirmed":
        return Order.objects.get(pk=order.pk)
    services.order_transition(order=order, transition="start_processing", source="api")
    shipment = services.shipment_create(
        order=order,
        carrier=carrier,
        tracking_number=f"1Z{next(_numbers):010d}",
        source="api",
        service_level="Ground",
        eta=date(2026, 11, 23),
    )
    services.order_transition(order=order, transition="dispatch", source="api")
    shipment.refresh_from_db()
    if stage != "dispatched":
        scan(shipment, "in_transit", hours=2, city="Louisville", region="KY", description="Arrived at hub")
    if stage in ("out_for_delivery", "delivered"):
        scan(shipment, "out_for_delivery", hours=20, city="Springfield", description="Out for delivery")
    if stage == "delayed":
        scan(
            shipment,
            "delayed",
            hours=10,
            city="Louisville",
            description="Weather delay",
            estimated_delivery=date(2026, 11, 27),
        )
    if stage == "delivered":
        scan(shipment, "delivered", hours=24, city="Springfield", description="Left at front door", signed_by="A. L.")
    return Order.objects.get(pk=order.pk)
