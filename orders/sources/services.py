"""Order intake use cases: secrets, storing raw payloads, applying them, dead letters, health.

The path of one payload: the view verifies it and stores the exact bytes (`intake_store`), a task
applies it (`intake_process`): the adapter turns it into an Intake, the REST API's serializer and
the source's validation rules check it, and orders.services creates or moves the order. One
payload is processed in one transaction holding its row lock (SKIP LOCKED), so a task, the
sweeper and a staff retry never apply it twice at once; the order state row of the source order
is locked too, so a stale update that races a newer one never wins.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from orders import services as order_services
from orders.api.serializers import OrderCreateSerializer
from orders.exceptions import OrderConflict, TransitionRefused
from orders.models import Customer, Order
from orders.sources import validation
from orders.sources.base import Intake, ParseError, load_json
from orders.sources.models import RawIntake, SourceAccount, SourceOrderState
from orders.sources.registry import get_adapter
from orders.sources.shopify import SHIPMENT_STATUS
from orders.tracking import TrackingEvent

logger = logging.getLogger(__name__)
# Staff alerts for high-impact intake failures: a named logger that log routing (or the
# notifications side) can send to a chat channel; every record carries the intake id and impact.
alerts = logging.getLogger("oms_notify.alerts.intake")

S = RawIntake.Status
_REDACTED_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
TIER_WEIGHTS = {"vip": Decimal(3), "repeat": Decimal(2), "new": Decimal(1)}
WAITING_FOR_ORDER = "waiting for the order"


class InactiveAccount(Exception):
    pass


# Who tells people about a high-impact failure, beyond the log record: `orders` imports no
# notifications code, so the notifications app registers its staff alert here at start-up.
AlertHandler = Callable[[RawIntake, dict], None]
_alert_handlers: list[AlertHandler] = []


def register_alert_handler(handler: AlertHandler) -> AlertHandler:
    if handler not in _alert_handlers:
        _alert_handlers.append(handler)
    return handler


# --- accounts and secrets ------------------------------------------------------------------------


def source_account_set_secret(*, account: SourceAccount, secret: str, keep_previous: bool = True) -> SourceAccount:
    """Install a new secret; the current one stays valid as the second while the shop moves over."""
    account.rotate_secret(secret, keep_previous=keep_previous)
    return account


def source_account_drop_previous_secret(*, account: SourceAccount) -> SourceAccount:
    account.drop_previous_secret()
    return account


def source_secrets(*, source: str, identifier: str) -> tuple[SourceAccount | None, list[str]]:
    """The environment's bootstrap secret plus the account's two (current, previous)."""
    env_secret = settings.SOURCE_WEBHOOK_SECRETS.get(source, "")
    secrets = [env_secret] if env_secret else []
    account = SourceAccount.objects.filter(source=source, identifier=identifier).first() if identifier else None
    if account is not None:
        if not account.is_active:
            raise InactiveAccount(identifier)
        secrets.extend(account.active_secrets())
    return account, secrets


# --- storing -----------------------------------------------------------------------------------


def intake_store(
    *,
    source: str,
    body: bytes,
    headers: dict,
    account: SourceAccount | None = None,
    account_identifier: str = "",
    source_address: str | None = None,
    received_at: datetime | None = None,
) -> tuple[RawIntake, bool]:
    """Store the exact bytes before anything can fail. Returns (row, created); a redelivery of a
    delivery id we hold is counted on the first row instead (Shopify and WooCommerce retry)."""
    adapter = get_adapter(source)
    if account is None and account_identifier:
        # Verified with the bootstrap secret: the shop gets an account row (rules, health, secrets).
        account, _ = SourceAccount.objects.get_or_create(source=source, identifier=account_identifier)
    kept = {k: v for k, v in headers.items() if k.lower() not in _REDACTED_HEADERS}
    try:
        payload = load_json(body)
    except ParseError:
        payload = None
    delivery_id = adapter.delivery_id(headers, body) if adapter else ""
    try:
        with transaction.atomic():
            raw = RawIntake.objects.create(
                source=source,
                account=account,
                topic=(adapter.topic(headers, payload) if adapter else "")[:64],
                delivery_id=delivery_id,
                headers=kept,
                body=body,
                source_address=source_address,
                received_at=received_at or timezone.now(),
            )
    except IntegrityError:
        RawIntake.objects.filter(source=source, delivery_id=delivery_id).update(redeliveries=F("redeliveries") + 1)
        return RawIntake.objects.get(source=source, delivery_id=delivery_id), False
    return raw, True


# --- processing --------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    detail: str = ""
    order_number: str = ""


def intake_process(*, intake_id: int, retry: bool = False) -> Outcome:
    """Apply one stored payload. Idempotent: only a received (or, on retry, dead-lettered) row runs."""
    with transaction.atomic():
        raw = RawIntake.objects.select_for_update(skip_locked=True).filter(pk=intake_id).first()
        if raw is None:
            return Outcome(status="busy")
        if not (raw.status == S.RECEIVED or (retry and raw.status in RawIntake.DEAD)):
            return Outcome(status=raw.status)
        raw.attempts += 1
        raw.processed_at = timezone.now()
        adapter = get_adapter(raw.source)
        try:
            payload = raw.edited_payload if raw.edited_payload is not None else load_json(bytes(raw.body))
            intake = adapter.parse(raw.topic, payload, raw.headers)
            _describe(raw, intake)
        except ParseError as exc:
            return _finish(raw, S.FAILED, f"unparseable: {exc}")
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
            # A field of an unexpected type (a quantity "two"): the same every time, a dead letter.
            return _finish(raw, S.FAILED, f"unparseable: {type(exc).__name__}: {exc}")
        try:
            with transaction.atomic():
                status, detail, findings = _apply(raw, intake)
        except Exception as exc:  # stored: a dead letter staff can retry; the sender got its 2xx
            logger.exception("intake failed", extra={"intake": raw.pk, "source": raw.source})
            return _finish(raw, S.FAILED, f"{type(exc).__name__}: {exc}")
        raw.findings = findings
        return _finish(raw, status, detail)


def _describe(raw: RawIntake, intake: Intake) -> None:
    """What the dead-letter list sorts and shows: value, customer, tier, the source's timestamp."""
    raw.external_id = intake.external_id[:200]
    raw.source_updated_at = intake.source_updated_at
    order = intake.order or {}
    raw.order_value = intake.order_value
    raw.currency = str(order.get("currency") or "")[:3].upper()
    email = str((order.get("customer") or {}).get("email") or "").strip().lower()
    raw.customer_email = email[:254]
    raw.customer_tier = _tier(raw, email)


def _tier(raw: RawIntake, email: str) -> str:
    if not email:
        return "new"
    brand_id = raw.account.brand_id if raw.account_id and raw.account.brand_id else None
    customers = Customer.objects.filter(email=email)
    if brand_id:
        customers = customers.filter(brand_id=brand_id)
    count = customers.aggregate(n=Max("orders_count"))["n"] or 0
    if count >= settings.SOURCE_VIP_ORDER_COUNT:
        return "vip"
    return "repeat" if count >= 1 else "new"


def _finish(raw: RawIntake, status: str, detail: str = "") -> Outcome:
    raw.status = status
    # A dead letter's reason, or what an applied payload did not change (notes).
    raw.error = detail[:5000]
    if status in RawIntake.DEAD:
        raw.impact = (raw.order_value or Decimal(0)) * TIER_WEIGHTS.get(raw.customer_tier, Decimal(1))
    raw.save()
    if status in RawIntake.DEAD:
        logger.warning(
            "intake dead-lettered",
            extra={"intake": raw.pk, "source": raw.source, "status": status, "external_id": raw.external_id},
        )
        _alert_if_high_impact(raw)
    return Outcome(status=status, detail=detail, order_number=raw.order.number if raw.order_id else "")


def _alert_if_high_impact(raw: RawIntake) -> None:
    high = raw.order_value >= settings.SOURCE_HIGH_IMPACT_VALUE or raw.customer_tier == "vip"
    if not high or raw.alerted_at is not None or raw.error.startswith(WAITING_FOR_ORDER):
        return
    alert = {
        "event": "intake.high_impact_failure",
        "intake": raw.pk,
        "source": raw.source,
        "account": raw.account.identifier if raw.account_id else "",
        "external_id": raw.external_id,
        "order_value": str(raw.order_value),
        "currency": raw.currency,
        "customer_tier": raw.customer_tier,
        "status": raw.status,
        "reason": raw.error[:300],
        "admin_url": f"{settings.SITE_URL}/admin/orders/rawintake/{raw.pk}/change/",
    }
    alerts.error("high-impact order intake failed", extra=alert)
    # Once per dead letter: the row is locked by intake_process, and alerted_at survives retries.
    raw.alerted_at = timezone.now()
    RawIntake.objects.filter(pk=raw.pk).update(alerted_at=raw.alerted_at)
    for handler in list(_alert_handlers):
        try:
            with transaction.atomic():
                handler(raw, alert)
        except Exception:  # a broken alert path must not turn a dead letter into a lost payload
            logger.exception("intake alert handler failed", extra={"intake": raw.pk})


def _is_stale(incoming: datetime | None, held: datetime | None) -> bool:
    return incoming is not None and held is not None and incoming < held


def _apply(raw: RawIntake, intake: Intake) -> tuple[str, str, list[dict]]:
    if intake.kind == "ignore":
        return S.IGNORED, "; ".join(intake.notes), []
    if intake.kind == "fulfillment":
        return _apply_fulfillment(raw, intake)
    key = {"source": intake.order_source, "source_account": intake.source_account, "external_id": intake.external_id}
    state = SourceOrderState.objects.select_for_update().filter(**key).first()
    if state is not None and _is_stale(intake.source_updated_at, state.source_updated_at):
        return S.STALE, f"older than the version we hold ({state.source_updated_at.isoformat()})", []
    order = state.order if state is not None else Order.objects.filter(**key).first()
    findings: list[dict] = []
    conflict = False
    if order is None:
        if intake.order is None:
            return S.FAILED, f"{WAITING_FOR_ORDER} {intake.external_id} (not received yet)", []
        serializer = OrderCreateSerializer(data=intake.order)
        if not serializer.is_valid():
            return S.REJECTED, "invalid: " + json.dumps(serializer.errors, default=str), []
        found = validation.evaluate(
            rules=validation.rules_for(source=raw.source, account=raw.account), data=intake.order
        )
        findings = [f.as_dict() for f in found]
        refused = validation.blocking(found)
        if refused:
            return S.REJECTED, "rules: " + "; ".join(f"{f.rule}: {f.field} {f.message}" for f in refused), findings
        kwargs = serializer.intake()
        if "brand" not in kwargs and raw.account_id and raw.account.brand_id:
            kwargs["brand"] = raw.account.brand
        try:
            order, _ = order_services.order_create(**kwargs)
        except OrderConflict as exc:  # an update that overtook its create: same order, newer content
            order = exc.order
            conflict = True
    details_notes: list[str] = []
    if state is not None and intake.order is not None:
        # A newer version of an order we hold: address and contact follow it until dispatch.
        details_notes = _update_details(order, intake, source=raw.source)
        order.refresh_from_db()
    if not conflict and intake.order is not None and _lines_differ(order, intake.order):
        conflict = True
    notes = _move(order, intake, source=raw.source)
    if conflict:
        # Lines are never rewritten by a channel: its moves apply, the content stays ours.
        notes.insert(0, f"content differs from order {order.number}: moves applied, lines kept")
    notes[:0] = details_notes
    if intake.strict and notes:
        return S.REJECTED, "; ".join(notes), findings
    if state is None:
        try:
            with transaction.atomic():
                state = SourceOrderState.objects.create(
                    **key, order=order, source_updated_at=intake.source_updated_at, last_intake=raw
                )
        except IntegrityError:  # a concurrent first payload of the same order made it
            state = SourceOrderState.objects.select_for_update().get(**key)
    if state.last_intake_id != raw.pk and not _is_stale(intake.source_updated_at, state.source_updated_at):
        state.source_updated_at = intake.source_updated_at or state.source_updated_at
        state.last_intake = raw
        state.save(update_fields=["source_updated_at", "last_intake", "updated_at"])
    raw.order = order
    return S.APPLIED, "; ".join(notes), findings


def _lines_differ(order: Order, data: dict) -> bool:
    """Whether the channel's lines no longer match ours: worth a note (lines change through support)."""
    lines = {str(line.get("sku")): int(line.get("quantity") or 0) for line in data.get("lines") or []}
    return lines != dict(order.lines.values_list("sku", "quantity"))


def _update_details(order: Order, intake: Intake, *, source: str) -> list[str]:
    """Shipping address and customer contact from a newer payload; the notes say what happened."""
    data = intake.order or {}
    try:
        outcome = order_services.order_update_details(
            order=order,
            source=source,
            shipping_address=data.get("shipping_address") if isinstance(data.get("shipping_address"), dict) else None,
            customer=data.get("customer") if isinstance(data.get("customer"), dict) else None,
        )
    except ValidationError as exc:
        return [f"details not applied: {'; '.join(exc.messages)[:300]}"]
    if outcome.refused:
        if _details_differ(order, data):
            return [f"details not applied: {outcome.refused}"]
        return []
    if outcome.changed:
        return [f"details updated: {', '.join(outcome.changed)}"]
    return []


def _details_differ(order: Order, data: dict) -> bool:
    """Whether the channel's address or contact differs from ours (a refused update worth recording)."""
    address = data.get("shipping_address") or {}
    ours = (order.ship_line1, order.ship_city, order.ship_postcode, order.ship_country)
    theirs = tuple(str(address.get(k) or "") for k in ("line1", "city", "postcode", "country"))
    contact = data.get("customer") or {}
    email = str(contact.get("email") or "").strip().lower()
    return ours != theirs or bool(email and email != order.customer.email)


def _move(order: Order, intake: Intake, *, source: str) -> list[str]:
    """The lifecycle moves the channel asks for; a move the order has already made is no news."""
    notes = []
    for name in intake.transitions:
        try:
            order_services.order_transition(order=order, transition=name, source=source, reason=intake.reason)
        except TransitionRefused as exc:
            if intake.strict or not exc.reason.startswith("not_allowed_from_"):
                notes.append(f"{name} not applied: {exc.reason}")
            # else: the order is past that point already (a paid order we have shipped): no news.
        order.refresh_from_db()
    return notes


def _carrier_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())[:40] or "unknown"


def _apply_fulfillment(raw: RawIntake, intake: Intake) -> tuple[str, str, list[dict]]:
    f = intake.fulfillment
    order = Order.objects.filter(
        source=intake.order_source, source_account=intake.source_account, external_id=f.order_external_id
    ).first()
    if order is None:
        return S.FAILED, f"{WAITING_FOR_ORDER} {f.order_external_id} (not received yet)", []
    raw.order = order
    if f.status in ("cancelled", "error", "failure"):
        return S.IGNORED, f"fulfillment {f.fulfillment_id} is {f.status}", []
    if not f.tracking_numbers:
        return S.IGNORED, f"fulfillment {f.fulfillment_id} has no tracking number yet", []
    number = f.tracking_numbers[0]
    shipment = order.shipments.filter(tracking_number=number).first()
    notes = []
    if shipment is None:
        skus = set(order.lines.values_list("sku", flat=True))
        lines = [(sku, qty) for sku, qty in f.lines if sku in skus] or None
        try:
            shipment = order_services.shipment_create(
                order=order, carrier=_carrier_slug(f.carrier), tracking_number=number, source=raw.source, lines=lines
            )
        except ValidationError as exc:
            return S.REJECTED, f"shipment refused: {exc.messages}", []
        if len(f.tracking_numbers) > 1:
            notes.append("more tracking numbers than parcels we can split: " + ", ".join(f.tracking_numbers[1:]))
    status = SHIPMENT_STATUS.get(f.shipment_status)
    if status and f.occurred_at is not None:
        order_services.shipment_apply_event(
            shipment=shipment,
            event=TrackingEvent(
                carrier=shipment.carrier,
                tracking_number=number,
                status=status,
                occurred_at=f.occurred_at,
                carrier_code=f.shipment_status,
                description=f"{raw.source} fulfillment {f.shipment_status}",
                event_id=f"{raw.source}:{f.fulfillment_id}:{f.shipment_status}",
            ),
            received_at=raw.received_at,
            source=raw.source,
        )
    return S.APPLIED, "; ".join(notes), []


# --- dead letters ------------------------------------------------------------------------------


def dead_letters():
    """Open dead letters, most impact first (value x customer tier), then the oldest."""
    return RawIntake.objects.filter(status__in=RawIntake.DEAD).order_by("-impact", "received_at", "id")


def intake_retry(*, intake: RawIntake, actor=None) -> Outcome:
    outcome = intake_process(intake_id=intake.pk, retry=True)
    if actor is not None and outcome.status not in RawIntake.DEAD:
        RawIntake.objects.filter(pk=intake.pk).update(resolved_by=actor)
    return outcome


def intake_edit_and_retry(*, intake: RawIntake, payload: dict, actor=None) -> Outcome:
    """Staff correct the payload (the original bytes stay as received) and apply it again."""
    if not isinstance(payload, dict):
        raise ValidationError({"payload": "The corrected payload must be a JSON object."})
    RawIntake.objects.filter(pk=intake.pk).update(edited_payload=payload)
    logger.info("intake edited", extra={"intake": intake.pk, "actor": getattr(actor, "pk", None)})
    return intake_retry(intake=intake, actor=actor)


def intake_discard(*, intake: RawIntake, actor=None, reason: str = "") -> None:
    RawIntake.objects.filter(pk=intake.pk, status__in=RawIntake.DEAD).update(
        status=S.DISCARDED, resolved_by=actor, error=F("error")
    )
    logger.info("intake discarded", extra={"intake": intake.pk, "reason": reason[:200]})


# --- sweeping and health -----------------------------------------------------------------------


def intakes_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: apply what a lost task left behind; retry payloads that waited for their order."""
    from orders.sources import tasks

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.SOURCE_SWEEP_AFTER_SECONDS)
    batch = settings.SOURCE_SWEEP_BATCH
    left = list(
        RawIntake.objects.filter(status=S.RECEIVED, received_at__lte=stale)
        .order_by("received_at")
        .values_list("pk", flat=True)[:batch]
    )
    for pk in left:
        tasks.process_intake.delay(pk)
    waiting = list(
        RawIntake.objects.filter(
            status=S.FAILED,
            error__startswith=WAITING_FOR_ORDER,
            attempts__lt=settings.SOURCE_WAITING_MAX_ATTEMPTS,
            processed_at__lte=stale,
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:batch]
    )
    retried = sum(1 for pk in waiting if intake_process(intake_id=pk, retry=True).status == S.APPLIED)
    return {"requeued": len(left), "waiting_retried": len(waiting), "waiting_applied": retried}


def sources_health(*, now: datetime | None = None, hours: int = 24) -> list[dict]:
    """Per source and account: last payload, volume and error rate over `hours`, backlog."""
    now = now or timezone.now()
    since = now - timedelta(hours=hours)
    recent = Q(received_at__gte=since)
    rows = (
        RawIntake.objects.values("source", "account__identifier")
        .annotate(
            last_received_at=Max("received_at"),
            received=Count("id", filter=recent),
            dead=Count("id", filter=recent & Q(status__in=RawIntake.DEAD)),
            backlog=Count("id", filter=Q(status=S.RECEIVED)),
            open_dead_letters=Count("id", filter=Q(status__in=RawIntake.DEAD)),
        )
        .order_by("source", "account__identifier")
    )
    report = []
    for row in rows:
        oldest = (
            RawIntake.objects.filter(
                source=row["source"], account__identifier=row["account__identifier"], status=S.RECEIVED
            )
            .order_by("received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        report.append(
            {
                "source": row["source"],
                "account": row["account__identifier"] or "",
                "last_received_at": row["last_received_at"],
                "received": row["received"],
                "error_rate": round(row["dead"] / row["received"], 4) if row["received"] else 0.0,
                "backlog": row["backlog"],
                "oldest_backlog_seconds": int((now - oldest).total_seconds()) if oldest else 0,
                "open_dead_letters": row["open_dead_letters"],
            }
        )
    return report


def rules_dry_run(*, rules: list, since: datetime, limit: int = 2000) -> dict:
    """What these rules would have rejected among the orders received since `since` (nothing changes)."""
    checked = would_reject = 0
    examples: list[dict] = []
    for raw in RawIntake.objects.filter(received_at__gte=since).exclude(status=S.DISCARDED).order_by("-id")[:limit]:
        adapter = get_adapter(raw.source)
        try:
            payload = raw.edited_payload if raw.edited_payload is not None else load_json(bytes(raw.body))
            intake = adapter.parse(raw.topic, payload, raw.headers)
        except ParseError:
            continue
        if intake.order is None:
            continue
        applicable = [
            r
            for r in rules
            if (not r.source or r.source == raw.source) and (not r.account_id or r.account_id == raw.account_id)
        ]
        found = validation.evaluate(rules=applicable, data=intake.order)
        checked += 1
        if found:
            would_reject += 1
            if len(examples) < 20:
                examples.append(
                    {"intake": raw.pk, "external_id": intake.external_id, "findings": [f.as_dict() for f in found]}
                )
    return {"checked": checked, "would_reject": would_reject, "examples": examples}
