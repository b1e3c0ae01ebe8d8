"""Per customer: export everything held, and erase it (anonymise in place, keep what audit and metrics need).

Erasure rewrites rows rather than deleting them: order numbers, statuses, timestamps, channels,
providers and counts stay, so the audit trail and the delivery figures still add up. It is
idempotent (a second run finds nothing left to change) and recorded in PrivacyRequest without
any personal data.

Erasure is refused while one of the customer's orders is still in flight unless forced: the
address and contact are what the rest of the delivery needs, and the shop usually wants to finish
it first. Forced or not, every unsent message to the customer is suppressed and their consent
withdrawn, so nothing further reaches them.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from orders.models import Customer, Order
from orders.statuses import OrderStatus
from privacy.models import PrivacyRequest
from privacy.registry import (
    ERASED,
    ERASED_EMAIL_DOMAIN,
    ERASED_NAME,
    How,
    Policy,
    customer_policies,
)
from privacy.scrub import PURGED_HEADER, purge_marker, redact_text, scrub_bytes, scrub_headers, scrub_json

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "oms_notify.customer_export/1"
# Everything else can still change: the delivery needs the address, the customer wants the messages.
SETTLED_ORDER_STATUSES = (
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.CANCELLED,
    OrderStatus.RETURNED_TO_SENDER,
)
_UNSENT = ("pending", "scheduled", "held")
_SCAN_CHUNK = 500


class ErasureRefused(Exception):
    def __init__(self, code: str, detail: str, orders: list[str]):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.orders = orders


@dataclass
class ErasureResult:
    request: PrivacyRequest
    counts: dict[str, int] = field(default_factory=dict)


# --- lookup -------------------------------------------------------------------------------------


def customer_lookup(*, email: str, brand: str = "") -> list[Customer]:
    """The customers (one per brand) known by this e-mail address; erased ones no longer match."""
    found = Customer.objects.filter(email__iexact=email.strip()).select_related("brand").order_by("brand__slug", "pk")
    if brand:
        found = found.filter(brand__slug=brand)
    return list(found)


def customer_is_erased(customer: Customer) -> bool:
    return customer.email.endswith("@" + ERASED_EMAIL_DOMAIN)


def customer_orders_in_flight(*, customer: Customer) -> list[str]:
    return list(
        Order.objects.filter(customer=customer)
        .exclude(status__in=SETTLED_ORDER_STATUSES)
        .order_by("number")
        .values_list("number", flat=True)
    )


# --- which rows are the customer's --------------------------------------------------------------


def _rows(policy: Policy, customer: Customer) -> QuerySet:
    condition = Q()
    for path in policy.customer:
        condition |= Q(**{path: customer.pk})
    rows = policy.model_class._default_manager.filter(condition)
    if policy.model == "orders.RawIntake":
        # Intakes that never became an order still name the customer.
        rows = policy.model_class._default_manager.filter(
            condition
            | Q(customer_email__iexact=customer.email)
            & (Q(account__brand=customer.brand_id) | Q(account__isnull=True) | Q(account__brand__isnull=True))
        )
    return rows.distinct().order_by("pk")


def _tracking_numbers(customer: Customer) -> set[bytes]:
    from orders.models import Shipment

    numbers = Shipment.objects.filter(order__customer=customer).values_list("tracking_number", flat=True)
    return {n.encode() for n in numbers if n and len(n) >= 6}


def _raw_webhooks(customer: Customer) -> list[int]:
    """Raw carrier webhooks naming one of the customer's parcels (they have no link to an order).

    Scanned in chunks since the customer's first order, skipping purged bodies (nothing personal
    is left in them): the scan is bounded by the retention period, not by the table's size.
    """
    from carriers.models import RawWebhook

    numbers = _tracking_numbers(customer)
    first = Order.objects.filter(customer=customer).order_by("placed_at").values_list("placed_at", flat=True).first()
    if not numbers or first is None:
        return []
    candidates = (
        RawWebhook.objects.filter(received_at__gte=first - datetime.timedelta(days=7))
        .exclude(headers__has_key=PURGED_HEADER)
        .order_by("pk")
    )
    found, last = [], 0
    while True:
        chunk = list(candidates.filter(pk__gt=last).values_list("pk", "body")[:_SCAN_CHUNK])
        if not chunk:
            return found
        for pk, body in chunk:
            data = bytes(body or b"")
            if any(n in data for n in numbers):
                found.append(pk)
        last = chunk[-1][0]


def _log_entries(customer: Customer) -> QuerySet:
    customer_type = ContentType.objects.get_for_model(Customer)
    order_type = ContentType.objects.get_for_model(Order)
    order_ids = [str(pk) for pk in Order.objects.filter(customer=customer).values_list("pk", flat=True)]
    return LogEntry.objects.filter(
        Q(content_type=customer_type, object_id=str(customer.pk)) | Q(content_type=order_type, object_id__in=order_ids)
    ).order_by("pk")


# --- export -------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(data).decode()}
    return value


def _row(obj: models.Model) -> dict:
    return {f.attname: _plain(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def customer_export(*, customer: Customer, actor=None, via: str = PrivacyRequest.Via.API) -> dict:
    """Every row held about the customer, every field of it, as JSON-ready data; logged."""
    from carriers.models import RawWebhook

    records: dict[str, list[dict]] = {}
    for policy in customer_policies():
        rows = [_row(obj) for obj in _rows(policy, customer)]
        if rows:
            records[policy.model] = rows
    raws = [_row(obj) for obj in RawWebhook.objects.filter(pk__in=_raw_webhooks(customer)).order_by("pk")]
    if raws:
        records["carriers.RawWebhook"] = raws
    counts = {label: len(rows) for label, rows in records.items()}
    PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.EXPORT,
        via=via,
        customer_id=customer.pk,
        brand_id=customer.brand_id,
        actor=_user(actor),
        counts=counts,
    )
    logger.info("customer data exported", extra={"customer_id": customer.pk, "via": via, "rows": sum(counts.values())})
    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "customer_id": customer.pk,
        "brand": customer.brand.slug,
        "records": records,
    }


# --- erasure ------------------------------------------------------------------------------------


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _known_values(customer: Customer) -> list[str]:
    """The customer's own values, to be cut out of free text wherever they were quoted."""
    values = [customer.name, customer.email, customer.phone, *customer.name.split()]
    for row in Order.objects.filter(customer=customer).values("ship_name", "ship_line1", "ship_line2", "ship_postcode"):
        values += [v for v in row.values() if v]
        values += row["ship_name"].split()
    from orders.models import ShipmentEvent

    # Whoever signed for a parcel (often a neighbour) is named in scan descriptions and notes too.
    values += (
        ShipmentEvent.objects.filter(shipment__order__customer=customer)
        .exclude(signed_by="")
        .values_list("signed_by", flat=True)
    )
    if customer_is_erased(customer):
        values = [v for v in values if v != customer.email and ERASED not in v]
    return [v for v in values if v and v not in (ERASED_NAME, *ERASED_NAME.split())]


def _new_value(
    f: models.Field, how: How, value: Any, *, customer: Customer, known: list[str], also: frozenset[str]
) -> Any:
    if how == How.BLANK:
        return "" if f.blank else ERASED
    if how == How.NULL:
        return None
    if how == How.EMPTY:
        return [] if isinstance(value, list) else {}
    if how == How.NAME:
        return ERASED_NAME
    if how == How.EMAIL:
        return f"erased-{customer.pk}@{ERASED_EMAIL_DOMAIN}"
    if how == How.REDACT:
        return redact_text(value, known) if isinstance(value, str) else value
    if how == How.SCRUB:
        if isinstance(value, (bytes, memoryview)):
            return scrub_bytes(bytes(value))
        if f.name == "headers":
            return scrub_headers(value)
        if isinstance(value, str):
            # JSON kept as text (an outbound webhook's exact bytes).
            try:
                return json.dumps(scrub_json(json.loads(value), also=also), separators=(",", ":"))
            except ValueError:
                return redact_text(value, known)
        return scrub_json(value, also=also)
    raise ValueError(how)


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, memoryview):
        old = bytes(old)
    return old != new


def _rewrite(rows: QuerySet, policy: Policy, *, customer: Customer, known: list[str], now: str) -> int:
    """Anonymise each row in place with a queryset update (no save(): auto_now and audit rules stay put)."""
    model = rows.model
    erasable = policy.erasable
    fields = {name: model._meta.get_field(name) for name in erasable}
    has_payload = "body" in fields and "headers" in fields
    changed = 0
    for obj in rows.only("pk", *fields):
        updates = {}
        for name, how in erasable.items():
            old = getattr(obj, name)
            if old in (None, "", b"") and how != How.NAME:
                continue
            new = _new_value(fields[name], how, old, customer=customer, known=known, also=policy.scrub_keeps)
            if _differs(old, new):
                updates[name] = new
        if has_payload and "body" in updates and PURGED_HEADER not in (obj.headers or {}):
            headers = updates.get("headers", obj.headers) or {}
            updates["headers"] = {**headers, PURGED_HEADER: purge_marker(bytes(obj.body), at=now)}
        if updates:
            model._default_manager.filter(pk=obj.pk).update(**updates)
            changed += 1
    return changed


def customer_erase(
    *, customer_id: int, actor=None, via: str = PrivacyRequest.Via.API, force: bool = False
) -> ErasureResult:
    """Anonymise everything held about one customer; refused (and recorded) while orders are in flight."""
    now = timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("brand").get(pk=customer_id)
        in_flight = customer_orders_in_flight(customer=customer)
        base = {"via": via, "customer_id": customer.pk, "brand_id": customer.brand_id, "actor": _user(actor)}
        refused = bool(in_flight) and not force
        if not refused:
            counts = _erase_all(customer, now=now)
            request = PrivacyRequest.objects.create(
                kind=PrivacyRequest.Kind.ERASE, forced=bool(in_flight), counts=counts, **base
            )
    if refused:
        # Recorded outside the transaction the refusal would otherwise roll back.
        PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.ERASE,
            outcome=PrivacyRequest.Outcome.REFUSED,
            reason="orders_in_flight",
            counts={"orders_in_flight": len(in_flight)},
            **base,
        )
        raise ErasureRefused(
            "orders_in_flight",
            "Orders of this customer are still in flight; erase with force to go ahead anyway.",
            in_flight,
        )
    logger.warning(
        "customer data erased",
        extra={"customer_id": customer_id, "via": via, "forced": bool(in_flight), "rows": sum(counts.values())},
    )
    return ErasureResult(request=request, counts=counts)


def _erase_all(customer: Customer, *, now: datetime.datetime) -> dict[str, int]:
    from carriers.models import RawWebhook
    from notifications.models import CustomerPreferences, DeviceToken, Notification
    from privacy.registry import BY_MODEL

    known = _known_values(customer)
    counts: dict[str, int] = {}
    # Nothing more may reach them: unsent messages stop here, consent goes with the contact.
    suppressed = Notification.objects.filter(
        Q(customer=customer) | Q(order__customer=customer), status__in=_UNSENT
    ).update(status=Notification.Status.SUPPRESSED, status_reason="customer erased", due_at=None)
    if suppressed:
        counts["suppressed_messages"] = suppressed
    Customer.objects.filter(pk=customer.pk).update(
        consent_email=False, consent_sms=False, consent_whatsapp=False, consent_push=False, consent_updated_at=now
    )
    CustomerPreferences.objects.filter(customer=customer).update(
        email_opted_out=True, sms_opted_out=True, whatsapp_opted_out=True, push_opted_out=True
    )
    DeviceToken.objects.filter(customer=customer).update(active=False)
    stamp = now.isoformat()
    # The customer row last: the other rows are found through it and its orders.
    for policy in sorted(customer_policies(), key=lambda p: p.model == "orders.Customer"):
        n = _rewrite(_rows(policy, customer), policy, customer=customer, known=known, now=stamp)
        if n:
            counts[policy.model] = n
    raws = RawWebhook.objects.filter(pk__in=_raw_webhooks(customer)).order_by("pk")
    n = _rewrite(raws, BY_MODEL["carriers.RawWebhook"], customer=customer, known=known, now=stamp)
    if n:
        counts["carriers.RawWebhook"] = n
    n = _rewrite(_log_entries(customer), BY_MODEL["admin.LogEntry"], customer=customer, known=known, now=stamp)
    if n:
        counts["admin.LogEntry"] = n
    return counts
