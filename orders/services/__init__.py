"""Everything that changes an order or a shipment goes through here.

Each write runs in one transaction that locks the order row first (then its shipments), writes
an append-only StatusChange for every move and publishes a domain event, so two concurrent moves
on one order never both win and listeners join the same transaction.

- intake: `order_create`, `brand_default`
- lifecycle: `order_transition`, `order_available_transitions`, `order_set_flags`,
  `order_override_status`, `orders_complete_due`
- shipments: `shipment_create`, `shipment_apply_event`, `shipment_mark_delayed`, `shipment_clear_delay`
- details: `order_update_details`
"""

from orders.services._core import CLOSED_ORDER_STATUSES
from orders.services.details import ORDER_DETAILS_CHANGED, DetailsOutcome, order_update_details
from orders.services.intake import LineIn, brand_default, order_create
from orders.services.lifecycle import (
    order_available_transitions,
    order_override_status,
    order_set_flags,
    order_transition,
    orders_complete_due,
)
from orders.services.shipments import (
    shipment_apply_event,
    shipment_clear_delay,
    shipment_create,
    shipment_mark_delayed,
)

__all__ = [
    "CLOSED_ORDER_STATUSES",
    "ORDER_DETAILS_CHANGED",
    "DetailsOutcome",
    "LineIn",
    "brand_default",
    "order_available_transitions",
    "order_create",
    "order_override_status",
    "order_set_flags",
    "order_transition",
    "order_update_details",
    "orders_complete_due",
    "shipment_apply_event",
    "shipment_clear_delay",
    "shipment_create",
    "shipment_mark_delayed",
]
