"""Drive orders through the real services, and read what notifications came out."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from notifications.models import Notification
from orders import services
from orders.models import Order, Shipment
from orders.tracking import TrackingEvent
from tests.factories import make_order

_clock = iter(range(1, 10**9))


def scan(shipment: Shipment, status: str, **extra) -> None:
    """A carrier event, each one a little later than the last (so it is news)."""
    services.shipment_apply_event(
        shipment=shipment,
        event=TrackingEvent(
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            status=status,
            occurred_at=timezone.now() - timedelta(minutes=5) + timedelta(seconds=next(_clock)),
            **extra,
        ),
    )


def confirmed_order(**kwargs) -> Order:
    order = make_order(inventory_allocated=True, **kwargs)
    services.order_transition(order=order, transition="confirm", source="api")
    return Order.objects.get(pk=order.pk)


def shipped_order(**kwargs) -> tuple[Order, Shipment]:
    order = confirmed_order(**kwargs)
    shipment = services.shipment_create(order=order, carrier="ups", tracking_number="1Z999AA10123456784", source="api")
    scan(shipment, "in_transit")
    return Order.objects.get(pk=order.pk), Shipment.objects.get(pk=shipment.pk)


def messages(order: Order, **filters) -> list[Notification]:
    return list(Notification.objects.filter(order=order, **filters).order_by("id"))


def events_of(order: Order, **filters) -> list[str]:
    seen: list[str] = []
    for n in messages(order, **filters):
        if n.event not in seen:
            seen.append(n.event)
    return seen


def reachable_everywhere(customer) -> None:
    """Consent on every channel and no quiet hours: the clock of the test run never matters."""
    from notifications.preferences import preferences_for
    from tests.notifications.conftest import consent_all

    consent_all(customer)
    prefs = preferences_for(customer)
    prefs.quiet_hours_enabled = False
    prefs.save()


def dispatched_order(django_capture_on_commit_callbacks, **kwargs) -> Order:
    """An order just dispatched to a customer reachable on every channel, its messages sent."""
    order = make_order(inventory_allocated=True, **kwargs)
    reachable_everywhere(order.customer)
    services.order_transition(order=order, transition="confirm", source="api")
    services.shipment_create(order=order, carrier="ups", tracking_number="1Z999AA10123456784", source="api")
    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, transition="dispatch", source="api")
    return Order.objects.get(pk=order.pk)
