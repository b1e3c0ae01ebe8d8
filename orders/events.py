"""Domain events: what happened to an order, recorded in the transaction that made it happen.

Other apps register handlers at start-up (in their AppConfig.ready). `publish` writes the event
row and calls every handler inside the caller's transaction, so a handler's rows (an outbox)
commit or roll back with the change itself. Handlers must not call providers: they enqueue with
`transaction.on_commit` / `delay_on_commit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from oms_notify.fastsql import insert_pair, insert_returning
from oms_notify.logging import get_correlation_id
from orders.models import DomainEvent, Order, Shipment, StatusChange

logger = logging.getLogger(__name__)

Handler = Callable[[DomainEvent], None]
_handlers: list[Handler] = []

ORDER_CREATED = "order.created"
ORDER_STATUS_CHANGED = "order.status_changed"
SHIPMENT_CREATED = "shipment.created"
SHIPMENT_STATUS_CHANGED = "shipment.status_changed"
SHIPMENT_EVENT_RECORDED = "shipment.event_recorded"


def register(handler: Handler) -> Handler:
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unregister(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def publish(
    *,
    name: str,
    order: Order,
    shipment: Shipment | None = None,
    status_change: StatusChange | None = None,
    payload: dict | None = None,
) -> DomainEvent:
    """Write the event (and `status_change`, when not written yet) and run the handlers."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("domain events are published inside the transaction of the change")
    event = DomainEvent(
        name=name,
        order=order,
        shipment=shipment,
        status_change=status_change,
        payload=payload or {},
        correlation_id=get_correlation_id(),
    )
    # Statements built once (three events per carrier event); an audit row not yet written is
    # written with its event, in one statement.
    if status_change is not None and status_change.pk is None:
        insert_pair(status_change, event, link="status_change")
    else:
        insert_returning(event)
    for handler in list(_handlers):
        handler(event)
    logger.info("domain event", extra={"event": name, "order": order.number, "domain_event_id": event.pk})
    return event
