"""The carrier edge's use cases: secrets, storing raw webhooks, dedupe, matching, applying, replay.

One raw webhook is processed in one transaction that holds its row lock, so the sweeper, a task
and a replay never process it twice at once. Each event runs in its own savepoint (a webhook of one
event in the transaction itself): its dedupe key, the orders timeline write, the PoD verdict and
their domain events commit or roll back together.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, connections, router, transaction
from django.db.models import F
from django.utils import timezone

from carriers import pod
from carriers.adapters import get_adapter, parse_payload
from carriers.adapters.base import Adapter, ParseError, carrier_slug
from carriers.models import CarrierAccount, EventKey, PendingEvent, RawWebhook, UnmappedCode
from oms_notify import fastsql
from oms_notify.fastsql import insert_returning, load_for_update, update_row
from orders import services as order_services
from orders.models import Shipment
from orders.statuses import UNKNOWN_EVENT_STATUS, ShipmentStatus
from orders.tracking import TrackingEvent

logger = logging.getLogger(__name__)

# Headers that carry credentials: never stored with the raw payload.
_REDACTED_HEADERS = {"authorization", "credential", "cookie", "x-api-key", "proxy-authorization"}


# --- secrets --------------------------------------------------------------------------------

_secret_cache: dict[tuple[str, str], tuple[float, CarrierAccount | None, list[str]]] = {}
_secret_lock = threading.Lock()


class UnknownAccount(Exception):
    pass


def carrier_account_set_secrets(*, account: CarrierAccount, secret: str, keep_previous: bool = True) -> CarrierAccount:
    """Install a new secret; the current one stays valid as the second secret while senders move."""
    account.rotate_secret(secret, keep_previous=keep_previous)
    secrets_cache_clear()
    return account


def carrier_account_drop_previous_secret(*, account: CarrierAccount) -> CarrierAccount:
    account.drop_previous_secret()
    secrets_cache_clear()
    return account


def secrets_cache_clear() -> None:
    with _secret_lock:
        _secret_cache.clear()


def webhook_secrets(*, carrier: str, account_slug: str = "") -> tuple[CarrierAccount | None, list[str]]:
    """The secrets a request may be signed with.

    /<carrier>/ takes the environment secret or any active account secret of that carrier;
    /<carrier>/<account>/ only that account's. Decrypted secrets are cached briefly per process
    (a hot path under load); saving an account clears the cache.
    """
    cache_key = (carrier, account_slug)
    cached = _secret_cache.get(cache_key)
    if cached and cached[0] > time.monotonic():
        return cached[1], cached[2]
    account = None
    if account_slug:
        account = CarrierAccount.objects.filter(carrier=carrier, slug=account_slug, is_active=True).first()
        if account is None:
            raise UnknownAccount(account_slug)
        secrets = account.active_secrets()
    else:
        env_secret = settings.CARRIER_WEBHOOK_SECRETS.get(carrier, "")
        secrets = [env_secret] if env_secret else []
        for acc in CarrierAccount.objects.filter(carrier=carrier, is_active=True):
            secrets.extend(acc.active_secrets())
    with _secret_lock:
        _secret_cache[cache_key] = (time.monotonic() + settings.CARRIER_SECRET_CACHE_SECONDS, account, secrets)
    return account, secrets


# --- storing ----------------------------------------------------------------------------------


def raw_webhook_store(
    *,
    carrier: str,
    body: bytes,
    headers: dict,
    account: CarrierAccount | None = None,
    source_address: str | None = None,
    source: str = RawWebhook.Source.WEBHOOK,
    received_at: datetime | None = None,
) -> RawWebhook:
    kept = {k: v for k, v in headers.items() if k.lower() not in _REDACTED_HEADERS}
    raw = RawWebhook(
        carrier=carrier,
        account=account,
        source=source,
        headers=kept,
        body=body,
        source_address=source_address,
        received_at=received_at or timezone.now(),
    )
    insert_returning(raw)  # a statement built once (oms_notify/fastsql.py): one per request
    return raw


def raw_webhook_fail(*, raw: RawWebhook, error: str) -> None:
    RawWebhook.objects.filter(pk=raw.pk).update(
        status=RawWebhook.Status.FAILED, error=error[:5000], attempts=F("attempts") + 1, processed_at=timezone.now()
    )


# --- processing -------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    applied: int = 0
    duplicates: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)


class _LoneEventFailed(Exception):
    """The only event of a webhook failed: its transaction rolls back whole, the error is kept."""


def raw_webhook_process(*, raw_id: int, events: list[TrackingEvent] | None = None, replay: bool = False) -> Outcome:
    """Parse (unless given the events), dedupe and apply one stored webhook. Idempotent."""
    try:
        return _process(raw_id=raw_id, events=events, replay=replay)
    except _LoneEventFailed as failed:
        # Rolled back, the delivery's dedupe key too (a replay claims it again): record the failure
        # in a transaction of its own, unless another worker took the webhook in between.
        with transaction.atomic():
            raw, taken = _lock_to_process(raw_id, replay=replay)
            if taken is not None:
                return taken
            return _finish(raw, Outcome(status=RawWebhook.Status.FAILED, errors=[str(failed)]), count=1)


def _lock_to_process(raw_id: int, *, replay: bool) -> tuple[RawWebhook | None, Outcome | None]:
    """The webhook's row, locked; or, when it is not this caller's to process, the outcome to return
    (busy: another worker holds it; processed already, unless this is a replay)."""
    raw = load_for_update(RawWebhook, raw_id, skip_locked=True)
    if raw is None:
        return None, Outcome(status="busy")
    if raw.status != RawWebhook.Status.RECEIVED and not replay:
        return None, Outcome(status=raw.status)
    return raw, None


def _process(*, raw_id: int, events: list[TrackingEvent] | None, replay: bool) -> Outcome:
    with transaction.atomic():
        raw, taken = _lock_to_process(raw_id, replay=replay)
        if taken is not None:
            return taken
        adapter = get_adapter(raw.carrier)
        if adapter is None:
            return _finish(raw, Outcome(status=RawWebhook.Status.FAILED, errors=[f"no adapter {raw.carrier}"]))
        body = bytes(raw.body)
        if events is None:
            try:
                events = parse_payload(adapter, body)
            except ParseError as exc:
                return _finish(raw, Outcome(status=RawWebhook.Status.FAILED, errors=[f"parse error: {exc}"]))
        if not _claim_delivery(raw, adapter, body):
            return _finish(raw, Outcome(status=RawWebhook.Status.DUPLICATE), count=len(events))
        outcome = Outcome(status=RawWebhook.Status.PROCESSED)
        # Each event in a savepoint, so that one bad event does not hide the others. A webhook of one
        # event (most of them) needs none: the whole transaction is its savepoint, two round trips fewer.
        lone = len(events) == 1
        for event in events:
            try:
                with transaction.atomic(savepoint=not lone):
                    result = _record_event(raw, adapter, event, replay=replay)
            except Exception as exc:  # one bad event must not hide the others; it is dead-lettered
                logger.exception("carrier event failed", extra={"raw_id": raw.pk, "carrier": raw.carrier})
                error = f"{event.tracking_number} {event.status}: {type(exc).__name__}: {exc}"
                if lone:
                    raise _LoneEventFailed(error) from exc
                outcome.errors.append(error)
                continue
            setattr(outcome, result, getattr(outcome, result) + 1)
        if outcome.errors:
            outcome.status = RawWebhook.Status.FAILED
        elif outcome.pending:
            outcome.status = RawWebhook.Status.PENDING
            numbers = sorted({e.tracking_number for e in events})
            outcome.errors.append("waiting for a shipment with tracking number " + ", ".join(numbers))
        return _finish(raw, outcome, count=len(events))


def _finish(raw: RawWebhook, outcome: Outcome, count: int = 0) -> Outcome:
    raw.status = outcome.status
    raw.error = "\n".join(outcome.errors)[:5000]
    raw.events_count = count
    raw.attempts += 1
    raw.processed_at = timezone.now()
    # save(update_fields=...) as a statement built once (oms_notify/fastsql.py): one per webhook.
    update_row(
        RawWebhook,
        raw.pk,
        status=raw.status,
        error=raw.error,
        events_count=raw.events_count,
        attempts=raw.attempts,
        processed_at=raw.processed_at,
    )
    return outcome


def _insert_key(carrier: str, key: str, raw: RawWebhook) -> bool:
    """Record (carrier, key) once. True if this call recorded it.

    ON CONFLICT DO NOTHING instead of catching IntegrityError: no savepoint round trips on the hot
    path, and a concurrent insert of the same key waits for the first transaction, then yields.
    """
    with connection.cursor() as cursor:
        fastsql.execute(
            cursor,
            f'INSERT INTO {EventKey._meta.db_table} ("carrier", "key", "raw_id", "created_at") VALUES (%s, %s, %s, %s) '
            'ON CONFLICT ("carrier", "key") DO NOTHING RETURNING "id"',
            [carrier, key, raw.pk, timezone.now()],
        )
        return cursor.fetchone() is not None


def _claim_delivery(raw: RawWebhook, adapter: Adapter, body: bytes) -> bool:
    """False when another stored request is the same delivery (a carrier retry)."""
    key = "d:" + adapter.delivery_id(raw.headers, body)[:150]
    if _insert_key(raw.carrier, key, raw):
        return True
    owner = EventKey.objects.filter(carrier=raw.carrier, key=key).values_list("raw_id", flat=True).first()
    return owner == raw.pk


def _record_event(raw: RawWebhook, adapter: Adapter, event: TrackingEvent, *, replay: bool) -> str:
    """One event: 'applied', 'duplicates' or 'pending'. Runs in the caller's savepoint."""
    key = ("e:" + event.dedupe_key)[:160]
    shipments = shipments_matching(event=event, adapter=adapter)
    if not shipments:
        PendingEvent.objects.get_or_create(
            carrier=raw.carrier,
            dedupe_key=key,
            defaults={
                "tracking_number": event.tracking_number,
                "underlying_carrier": event.extra.get("underlying_carrier", "") or event.carrier,
                "status_reported": event.status,
                "occurred_at": event.occurred_at,
                "raw": raw,
            },
        )
        return "pending"
    if not _insert_key(raw.carrier, key, raw):
        if replay:
            _resolve_pending(raw.carrier, key)
        return "duplicates"
    if event.status == UNKNOWN_EVENT_STATUS:
        _count_unmapped(raw.carrier, event)
    for shipment in shipments:
        # Our own savepoint (raw_webhook_process, one per event) already wraps this: no second one.
        row, created = order_services.shipment_apply_event(
            shipment=shipment, event=event, received_at=raw.received_at, source="carrier", savepoint=False
        )
        delivered_now = created and row.applied and row.status == ShipmentStatus.DELIVERED
        if delivered_now and not hasattr(row.shipment, "delivery_verification"):
            pod.delivery_verify(shipment=row.shipment, shipment_event=row, received_at=raw.received_at)
    if replay:  # pending events are only ever applied by re-running their webhook
        _resolve_pending(raw.carrier, key)
    return "applied"


def _resolve_pending(carrier: str, key: str) -> None:
    PendingEvent.objects.filter(carrier=carrier, dedupe_key=key, status=PendingEvent.Status.PENDING).update(
        status=PendingEvent.Status.APPLIED, resolved_at=timezone.now()
    )


def _count_unmapped(carrier: str, event: TrackingEvent) -> None:
    code = str(event.extra.get("source_code") or event.carrier_code or "(none)")[:200]
    updated = UnmappedCode.objects.filter(carrier=carrier, code=code).update(count=F("count") + 1)
    if not updated:
        try:
            with transaction.atomic():
                UnmappedCode.objects.create(carrier=carrier, code=code, example=event.description[:500], count=1)
        except IntegrityError:
            UnmappedCode.objects.filter(carrier=carrier, code=code).update(count=F("count") + 1)
    logger.warning("unmapped carrier code", extra={"carrier": carrier, "code": code})


def shipments_matching(*, event: TrackingEvent, adapter: Adapter) -> list[Shipment]:
    """Shipments with this tracking number, registered under the aggregator's or the carrier's name.

    Matching on the carrier too only where both sides name one: a generic (3PL) event that names
    no carrier matches on the tracking number alone.
    """
    number = event.tracking_number.strip()
    candidates = _shipments_numbered([number, number.upper(), number.replace(" ", "")])
    if not candidates:
        return []
    underlying = event.extra.get("underlying_carrier", "")
    if adapter.name == "generic" and not underlying:
        return candidates
    names = {adapter.name, carrier_slug(event.carrier), underlying} - {""}
    return [s for s in candidates if carrier_slug(s.carrier) in names]


_MATCH_FIELDS = ("id", "order_id", "carrier", "tracking_number")
_match_sql: dict[str, str] = {}


def _shipments_numbered(numbers: list[str]) -> list[Shipment]:
    """Shipments with one of these three tracking numbers, only the fields matching and applying
    read (the rest load on access): a statement built once, run for every carrier event."""
    alias = router.db_for_read(Shipment)
    connection = connections[alias]
    sql = _match_sql.get(connection.vendor)
    if sql is None:
        qn = connection.ops.quote_name
        sql = _match_sql[connection.vendor] = (
            f"SELECT {', '.join(qn(c) for c in _MATCH_FIELDS)} FROM {qn(Shipment._meta.db_table)} "
            f"WHERE {qn('tracking_number')} IN (%s, %s, %s) ORDER BY {qn('id')}"
        )
    with connection.cursor() as cursor:
        fastsql.execute(cursor, sql, numbers)
        rows = cursor.fetchall()
    return [Shipment.from_db(alias, _MATCH_FIELDS, row) for row in rows]


# --- pending, sweeping, replay ----------------------------------------------------------------


def pending_apply_for_shipment(*, shipment_id: int) -> int:
    """Re-run the webhooks whose events waited for this shipment's tracking number."""
    shipment = Shipment.objects.filter(pk=shipment_id).first()
    if shipment is None:
        return 0
    raw_ids = list(
        PendingEvent.objects.filter(status=PendingEvent.Status.PENDING, tracking_number=shipment.tracking_number)
        .order_by("raw__received_at", "raw_id")
        .values_list("raw_id", flat=True)
        .distinct()
    )
    for raw_id in dict.fromkeys(raw_ids):
        raw_webhook_process(raw_id=raw_id, replay=True)
    return len(raw_ids)


def pending_exists_for(tracking_number: str) -> bool:
    return PendingEvent.objects.filter(status=PendingEvent.Status.PENDING, tracking_number=tracking_number).exists()


def raw_webhook_replay(*, raw_ids: list[int]) -> dict[str, int]:
    """Staff replay (admin, command): same path, the original received_at is kept."""
    counts: dict[str, int] = {}
    for raw_id in raw_ids:
        outcome = raw_webhook_process(raw_id=raw_id, replay=True)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: process what a lost task left behind, apply pending events whose shipment exists,
    expire old pending events and forget dedupe keys past their retention."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CARRIER_SWEEP_AFTER_SECONDS)
    left = RawWebhook.objects.filter(status=RawWebhook.Status.RECEIVED, received_at__lte=stale)
    unprocessed = list(left.order_by("received_at").values_list("pk", flat=True)[: settings.CARRIER_SWEEP_BATCH])
    for raw_id in unprocessed:
        raw_webhook_process(raw_id=raw_id)

    waiting = PendingEvent.objects.filter(status=PendingEvent.Status.PENDING)
    numbers = set(waiting.values_list("tracking_number", flat=True)[: settings.CARRIER_SWEEP_BATCH])
    matched = 0
    for shipment_id in Shipment.objects.filter(tracking_number__in=numbers).values_list("pk", flat=True):
        matched += pending_apply_for_shipment(shipment_id=shipment_id)

    expired = waiting.filter(created_at__lte=now - timedelta(days=settings.CARRIER_PENDING_RETENTION_DAYS)).update(
        status=PendingEvent.Status.EXPIRED, resolved_at=now
    )
    retention = max(settings.CARRIER_DEDUPE_RETENTION_DAYS, 7)  # longer than any carrier retries
    forgotten, _ = EventKey.objects.filter(created_at__lte=now - timedelta(days=retention)).delete()
    return {"unprocessed": len(unprocessed), "pending_matched": matched, "expired": expired, "forgotten": forgotten}
