"""A channel's newer shipping address and customer contact, applied before dispatch."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from orders import events
from orders.models import (
    Customer,
    Order,
)
from orders.services._core import _lock_order
from orders.statuses import (
    PRE_DISPATCH,
    OrderStatus,
)

logger = logging.getLogger(__name__)


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
