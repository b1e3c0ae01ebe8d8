"""Order intake: one order per (source, account, external id), whatever arrives twice."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from orders import events
from orders.exceptions import OrderConflict
from orders.models import (
    Brand,
    Customer,
    Order,
    OrderLine,
)
from orders.services._core import _record_move

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineIn:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


def brand_default() -> Brand:
    """The brand of orders that name none (a migration makes it; recreated if someone removed it)."""
    brand, _ = Brand.objects.get_or_create(
        slug=settings.DEFAULT_BRAND_SLUG, defaults={"name": "Default", "order_prefix": "ORD"}
    )
    return brand


def _fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def order_create(
    *,
    source: str,
    external_id: str,
    customer: dict,
    shipping_address: dict,
    lines: list[LineIn],
    currency: str,
    brand: Brand | None = None,
    source_account: str = "",
    source_number: str = "",
    total: Decimal | None = None,
    promised_from=None,
    promised_to=None,
    placed_at: datetime | None = None,
    inventory_allocated: bool = False,
    actor=None,
) -> tuple[Order, bool]:
    """Create an order once per (source, account, external id). Returns (order, created).

    A repeat with the same content returns the existing order; a repeat with different content
    raises OrderConflict. Concurrent repeats resolve on the unique constraint.
    """
    if not lines:
        raise ValidationError({"lines": "An order needs at least one line."})
    brand = brand or brand_default()
    fingerprint = _fingerprint(
        {
            "brand": brand.slug,
            "customer": customer,
            "shipping_address": shipping_address,
            "lines": [vars(line) for line in lines],
            "currency": currency,
            "total": total,
            "promised": [promised_from, promised_to],
            "source_number": source_number,
        }
    )
    key = {"source": source, "source_account": source_account, "external_id": external_id}

    existing = Order.objects.filter(**key).first()
    if existing is not None:
        return _existing_or_conflict(existing, fingerprint), False
    try:
        with transaction.atomic():
            order = _order_insert(
                brand=brand,
                key=key,
                fingerprint=fingerprint,
                customer=customer,
                shipping_address=shipping_address,
                lines=lines,
                currency=currency,
                source_number=source_number,
                total=total,
                promised_from=promised_from,
                promised_to=promised_to,
                placed_at=placed_at,
                inventory_allocated=inventory_allocated,
                actor=actor,
            )
    except IntegrityError:
        # Lost a race with an identical intake: the winner's row is the answer.
        existing = Order.objects.filter(**key).first()
        if existing is None:
            raise
        return _existing_or_conflict(existing, fingerprint), False
    return order, True


def _existing_or_conflict(order: Order, fingerprint: str) -> Order:
    if order.intake_fingerprint != fingerprint:
        raise OrderConflict(order)
    return order


def _order_insert(
    *,
    brand,
    key,
    fingerprint,
    customer,
    shipping_address,
    lines,
    currency,
    source_number,
    total,
    promised_from,
    promised_to,
    placed_at,
    inventory_allocated,
    actor,
) -> Order:
    brand = Brand.objects.select_for_update().get(pk=brand.pk)
    brand.order_sequence = F("order_sequence") + 1
    brand.save(update_fields=["order_sequence"])
    brand.refresh_from_db(fields=["order_sequence"])

    cust = _customer_upsert(brand=brand, **customer)
    computed_total = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    order = Order(
        number=f"{brand.order_prefix}-{brand.order_sequence:06d}",
        brand=brand,
        customer=cust,
        intake_fingerprint=fingerprint,
        source_number=source_number,
        ship_name=shipping_address.get("name", "") or cust.name,
        ship_line1=shipping_address["line1"],
        ship_line2=shipping_address.get("line2", ""),
        ship_city=shipping_address["city"],
        ship_region=shipping_address.get("region", ""),
        ship_postcode=shipping_address.get("postcode", ""),
        ship_country=shipping_address["country"],
        ship_latitude=shipping_address.get("latitude"),
        ship_longitude=shipping_address.get("longitude"),
        currency=currency,
        total=computed_total if total is None else total,
        promised_from=promised_from,
        promised_to=promised_to,
        placed_at=placed_at or timezone.now(),
        inventory_allocated=inventory_allocated,
        **key,
    )
    # Uniqueness is the database's job: a concurrent twin surfaces as IntegrityError, handled above.
    order.full_clean(
        exclude=["intake_fingerprint", "number", "tracking_token", "status"],
        validate_unique=False,
        validate_constraints=False,
    )
    order.save()
    for line in lines:
        OrderLine(order=order, **vars(line)).full_clean(exclude=["order"])
    OrderLine.objects.bulk_create(OrderLine(order=order, **vars(line)) for line in lines)
    _record_move(
        event=events.ORDER_CREATED,
        payload={"number": order.number, "status": order.status},
        order=order,
        from_status="",
        to_status=order.status,
        transition="create",
        source=key["source"],
        actor=actor,
        occurred_at=order.placed_at,
    )
    return order


def _customer_upsert(
    *, brand: Brand, email: str, name: str = "", phone: str = "", locale: str = "", time_zone: str = ""
) -> Customer:
    email = email.strip().lower()
    cust = Customer.objects.select_for_update().filter(brand=brand, email=email).first()
    if cust is None:
        cust = Customer(
            brand=brand,
            email=email,
            name=name or email,
            phone=phone,
            locale=locale or brand.default_locale,
            time_zone=time_zone or brand.default_time_zone,
        )
    else:
        # The newest order carries the freshest contact details.
        cust.name = name or cust.name
        cust.phone = phone or cust.phone
        cust.locale = locale or cust.locale
        cust.time_zone = time_zone or cust.time_zone
    cust.full_clean(exclude=["brand"], validate_unique=False)
    cust.orders_count = (cust.orders_count or 0) + 1
    cust.save()
    return cust
