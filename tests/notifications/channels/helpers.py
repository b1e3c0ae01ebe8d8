"""Drive an order into an exception with every side reachable, and read what came out."""

from __future__ import annotations

from notifications.models import Notification
from orders.models import Order
from tests.notifications.helpers import reachable_everywhere, scan, shipped_order


def delayed_order(capture, **kwargs) -> Order:
    """A shipped order whose parcel the carrier reports delayed ("weather"); every message dispatched."""
    order, shipment = shipped_order(**kwargs)
    reachable_everywhere(order.customer)
    with capture(execute=True):
        scan(shipment, "delayed", reason="weather")
    return Order.objects.get(pk=order.pk)


def staff_chat(order: Order, **filters) -> list[Notification]:
    return list(Notification.objects.filter(order=order, audience="staff", channel="chat", **filters).order_by("id"))


def customer(order: Order, channel: str, event: str = "delayed") -> Notification:
    return Notification.objects.get(order=order, audience="customer", channel=channel, event=event)
