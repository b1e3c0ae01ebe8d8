"""Known source records for the KPI tests, with the timestamps each test needs.

Rows are written straight to the tables (the moments matter, not the path that made them: that
path has its own tests); auto_now fields are set afterwards with update().
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from django.utils import timezone

from notifications.models import Notification
from orders.models import Brand, Order, Shipment, ShipmentEvent, StatusChange
from orders.tracking.models import DeliveryFeedback, TrackingVisit
from tests.factories import make_order

_seq = itertools.count(1)
NOW = timezone.now().replace(microsecond=0)


def days_ago(n: int, *, hour: int = 12) -> datetime:
    return (NOW - timedelta(days=n)).replace(hour=hour, minute=0, second=0)


def order(*, brand: Brand | None = None, promised: tuple[date | None, date | None] = (None, None)) -> Order:
    o = make_order(brand=brand)
    Order.objects.filter(pk=o.pk).update(promised_from=promised[0], promised_to=promised[1])
    o.refresh_from_db()
    return o


def shipment(
    o: Order, *, carrier: str = "ups", delivered_at: datetime | None = None, eta: date | None = None
) -> Shipment:
    s = Shipment.objects.create(order=o, carrier=carrier, tracking_number=f"1Z{next(_seq):08d}")
    Shipment.objects.filter(pk=s.pk).update(delivered_at=delivered_at, eta=eta, updated_at=timezone.now())
    s.refresh_from_db()
    return s


def scan(
    s: Shipment, status: str, *, occurred_at: datetime, received_at: datetime | None = None, eta: date | None = None
) -> tuple[ShipmentEvent, StatusChange]:
    event = ShipmentEvent.objects.create(
        shipment=s,
        carrier=s.carrier,
        status=status,
        occurred_at=occurred_at,
        received_at=received_at or occurred_at,
        estimated_delivery=eta,
        dedupe_key=f"k{next(_seq)}",
        applied=True,
    )
    change = StatusChange.objects.create(
        order=s.order,
        shipment=s,
        from_status="in_transit",
        to_status=status,
        transition=f"mark_{status}",
        source="carrier",
        shipment_event=event,
        occurred_at=occurred_at,
    )
    return event, change


def message(
    *,
    o: Order | None = None,
    s: Shipment | None = None,
    channel: str = "sms",
    provider: str = "twilio",
    status: str = Notification.Status.SENT,
    created_at: datetime | None = None,
    sent_at: datetime | None = None,
    delivered_at: datetime | None = None,
    event: str = "out_for_delivery",
    change: StatusChange | None = None,
    due_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> Notification:
    created_at = created_at or days_ago(1)
    n = Notification.objects.create(
        idempotency_key=f"kpi-test-{next(_seq)}",
        order=o,
        shipment=s,
        customer=o.customer if o else None,
        status_change=change,
        event=event,
        audience="customer",
        channel=channel,
        provider=provider,
        status=status,
        sent_at=sent_at,
        delivered_at=delivered_at,
        due_at=due_at,
    )
    Notification.objects.filter(pk=n.pk).update(created_at=created_at, updated_at=updated_at or timezone.now())
    n.refresh_from_db()
    return n


def feedback(
    o: Order, *, score: int | None, carrier: str = "ups", route: str = "", received: bool = True, at: datetime
):
    f = DeliveryFeedback.objects.create(order=o, received=received, score=score, carrier=carrier, route=route)
    DeliveryFeedback.objects.filter(pk=f.pk).update(created_at=at, updated_at=timezone.now())
    return f


def visit(o: Order, *, at: datetime, status: str = "in_transit", exception: bool = False) -> TrackingVisit:
    v = TrackingVisit.objects.create(order=o, order_status=status, exception=exception)
    TrackingVisit.objects.filter(pk=v.pk).update(visited_at=at)
    return v
