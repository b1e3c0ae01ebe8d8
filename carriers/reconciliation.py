"""Data sync accuracy: compare in-flight shipments with what their carrier says now.

A run walks the shipments we think are in flight (and those with an open mismatch) in id order,
in batches. For each it asks a polling client for the carrier's current tracking document, parses
it with the same adapter as a webhook, and compares the carrier's latest known-status scan with
our shipment. It applies nothing: a disagreement becomes a `SyncMismatch` that staff resolve
(apply the carrier's status through the normal event path, or keep ours with a note).

Requests go out in threads (`carriers.polling.batch`), per client at most N at once and R per
second; comparing and recording stay in the calling thread. A run
spans several short tasks: progress (cursor, counts) is committed per batch, and a lease on the
run row keeps two workers from doing the same run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from carriers import pod
from carriers.adapters.base import carrier_slug
from carriers.models import ReconciliationRun, SyncMismatch, TrackerPoll
from carriers.polling import CLIENTS, poll_client_for
from carriers.polling.base import PollClient
from carriers.polling.batch import BatchFetcher, Fetched
from orders import services as order_services
from orders.models import Shipment
from orders.statuses import IN_FLIGHT, UNKNOWN_EVENT_STATUS, ShipmentStatus
from orders.tracking import TrackingEvent

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
STALE_AFTER = timedelta(hours=1)  # a running run without progress this long was abandoned
INFERRED_DELAYS = ("stalled", "late")  # carriers.delays sets these; the carrier never says them


class ReconciliationError(Exception):
    """A resolution that cannot be made; `reason` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


# --- which client checks a shipment -----------------------------------------------------------


def client_for(shipment: Shipment) -> str | None:
    """The poller already used for it, the carrier's poll client, the reconcile setting, or the
    shipment's own carrier when that is an aggregator with a client (easypost, shippo)."""
    poll = getattr(shipment, "tracker_poll", None)
    carrier = carrier_slug(shipment.carrier)
    mapping = settings.CARRIER_RECONCILE_CLIENTS
    for name in (
        poll.client if poll else None,
        poll_client_for(carrier),
        mapping.get(carrier),
        carrier if carrier in CLIENTS else None,
        mapping.get("*"),
    ):
        if name and name in CLIENTS:
            return name
    return None


# --- the carrier's latest event, as data ------------------------------------------------------


def event_to_json(event: TrackingEvent) -> dict:
    data = asdict(event)
    data["occurred_at"] = event.occurred_at.isoformat()
    data["estimated_delivery"] = event.estimated_delivery.isoformat() if event.estimated_delivery else None
    for key in ("latitude", "longitude"):
        data[key] = str(data[key]) if data[key] is not None else None
    data["extra"] = {k: v for k, v in event.extra.items() if isinstance(v, str | int | float | bool)}
    return data


def event_from_json(data: dict) -> TrackingEvent:
    values = dict(data)
    values["occurred_at"] = parse_datetime(values["occurred_at"])
    eta = values.get("estimated_delivery")
    values["estimated_delivery"] = parse_date(eta) if eta else None
    for key in ("latitude", "longitude"):
        values[key] = Decimal(values[key]) if values.get(key) not in (None, "") else None
    return TrackingEvent(**values)


def latest_event(events: list[TrackingEvent], *, before: datetime) -> TrackingEvent | None:
    """The newest scan with a known status that is old enough to have reached us as a webhook."""
    known = [e for e in events if e.status != UNKNOWN_EVENT_STATUS and e.occurred_at <= before]
    # max() keeps the first of equal times; the adapters list scans oldest first, so take the last.
    return max(reversed(known), key=lambda e: e.occurred_at, default=None)


@dataclass
class Verdict:
    outcome: str  # in_sync | mismatch | unreachable | no_data | not_checkable
    client: str = ""
    kind: str = ""
    event: TrackingEvent | None = None
    error: str = ""


def compare(shipment: Shipment, event: TrackingEvent) -> str:
    """'' when in sync, else the SyncMismatch kind."""
    ours_at = shipment.last_event_at
    if ours_at is None or event.occurred_at > ours_at:
        return SyncMismatch.Kind.MISSED_EVENT
    ours = shipment.status
    # A delay we inferred (no scan for days, late ETA) sits on top of the carrier's last progress.
    if ours == ShipmentStatus.DELAYED and shipment.status_reason.startswith(INFERRED_DELAYS):
        ours = shipment.last_progress_status or ours
    return "" if event.status == ours else SyncMismatch.Kind.STATUS_DIFFERS


# --- checking one batch -----------------------------------------------------------------------


def check_batch(shipments: list[Shipment], *, fetcher: BatchFetcher, now: datetime) -> dict[int, Verdict]:
    before = now - timedelta(minutes=settings.CARRIER_RECONCILE_GRACE_MINUTES)
    verdicts: dict[int, Verdict] = {}
    polls: dict[int, TrackerPoll] = {}
    for shipment in shipments:
        name = client_for(shipment)
        if name is None or not fetcher.client(name).configured:
            verdicts[shipment.pk] = Verdict("not_checkable", client=name or "")
            continue
        existing = getattr(shipment, "tracker_poll", None)
        # A transient poll: reconciliation must not subscribe anything or move a poll's schedule.
        polls[shipment.pk] = TrackerPoll(
            shipment=shipment, client=name, external_id=existing.external_id if existing else ""
        )
    for shipment_id, fetched in fetcher.fetch(polls).items():
        shipment = polls[shipment_id].shipment
        verdicts[shipment_id] = _verdict(shipment, fetched, before)
        verdicts[shipment_id].client = polls[shipment_id].client
    return verdicts


def _verdict(shipment: Shipment, fetched: Fetched, before: datetime) -> Verdict:
    if fetched.events is None:
        return Verdict("unreachable", error=fetched.error)
    number = shipment.tracking_number.strip().upper()
    mine = [e for e in fetched.events if e.tracking_number.strip().upper() == number] or fetched.events
    event = latest_event(mine, before=before)
    if event is None:
        return Verdict("no_data")
    kind = compare(shipment, event)
    return Verdict("mismatch" if kind else "in_sync", kind=kind, event=event)


# --- runs -------------------------------------------------------------------------------------


def reconciliation_start(
    *, trigger: str, requested_by=None, now: datetime | None = None
) -> tuple[ReconciliationRun, bool]:
    """A new run, or the one already going (False). A run stuck without progress is closed first."""
    now = now or timezone.now()
    ReconciliationRun.objects.filter(running=True, updated_at__lt=now - STALE_AFTER).update(
        running=False, finished_at=now, lease_until=None, note="abandoned: no progress for an hour"
    )
    try:
        with transaction.atomic():
            run = ReconciliationRun.objects.create(started_at=now, trigger=trigger, requested_by=requested_by)
    except IntegrityError:
        return ReconciliationRun.objects.get(running=True), False
    return run, True


def _batch(run: ReconciliationRun, now: datetime) -> list[Shipment]:
    cutoff = now - timedelta(days=settings.CARRIER_POLL_MAX_DAYS)
    open_ids = SyncMismatch.objects.filter(resolved_at__isnull=True).values("shipment_id")
    wanted = Q(status__in=IN_FLIGHT, created_at__gte=cutoff) | Q(pk__in=open_ids)
    return list(
        Shipment.objects.filter(wanted, pk__gt=run.cursor)
        .select_related("tracker_poll")
        .order_by("pk")[: settings.CARRIER_RECONCILE_BATCH]
    )


def _record(run: ReconciliationRun, shipments: list[Shipment], verdicts: dict[int, Verdict], now: datetime) -> dict:
    counts = {"checked": 0, "mismatched": 0, "unreachable": 0, "not_checkable": 0, "no_data": 0}
    per_carrier = run.per_carrier
    errors = []
    # One query for the batch: most shipments are in sync and have nothing open to touch.
    has_open = set(
        SyncMismatch.objects.filter(shipment__in=shipments, resolved_at__isnull=True).values_list(
            "shipment_id", flat=True
        )
    )
    for shipment in shipments:
        verdict = verdicts[shipment.pk]
        carrier = carrier_slug(shipment.carrier) or "?"
        bucket = per_carrier.setdefault(carrier, {})
        if verdict.outcome == "in_sync":
            key = "checked"
            if shipment.pk in has_open:
                _in_sync(run, shipment, now)
        elif verdict.outcome == "mismatch":
            key = "checked"
            _mismatch_upsert(run, shipment, verdict, now, has_open=shipment.pk in has_open)
            counts["mismatched"] += 1
            bucket["mismatched"] = bucket.get("mismatched", 0) + 1
        else:
            key = verdict.outcome
            error = f"{verdict.client}: {verdict.error}"
            if verdict.error and error not in errors and len(errors) < 5:
                errors.append(error)
        counts[key] += 1
        bucket[key] = bucket.get(key, 0) + 1
        if verdict.client:
            bucket["client"] = verdict.client
    run.per_carrier = per_carrier
    run.cursor = shipments[-1].pk
    if errors and not run.note:
        run.note = "; ".join(errors)[:2000]
    return counts


def _mismatch_upsert(
    run: ReconciliationRun, shipment: Shipment, verdict: Verdict, now: datetime, *, has_open: bool
) -> None:
    fields = {
        "run": run,
        "client": verdict.client,
        "kind": verdict.kind,
        "ours": shipment.status,
        "our_event_at": shipment.last_event_at,
        "carrier_status": verdict.event.status,
        "carrier_event_at": verdict.event.occurred_at,
        "carrier_event": event_to_json(verdict.event),
        "last_seen_at": now,
    }
    mismatch = None
    if has_open:
        mismatch = SyncMismatch.objects.select_for_update().filter(shipment=shipment, resolved_at__isnull=True).first()
    if mismatch is None:
        try:
            with transaction.atomic():
                SyncMismatch.objects.create(shipment=shipment, detected_at=now, **fields)
            return
        except IntegrityError:  # a resolution page or another run made one meanwhile
            mismatch = SyncMismatch.objects.select_for_update().get(shipment=shipment, resolved_at__isnull=True)
    seen_again = mismatch.run_id != run.pk  # a redone batch of the same run is not another sighting
    for name, value in fields.items():
        setattr(mismatch, name, value)
    if seen_again:
        mismatch.times_seen = F("times_seen") + 1
    mismatch.save()


def _in_sync(run: ReconciliationRun, shipment: Shipment, now: datetime) -> None:
    SyncMismatch.objects.filter(shipment=shipment, resolved_at__isnull=True).update(
        resolved_at=now, resolution=SyncMismatch.Resolution.IN_SYNC, note=f"in sync at run {run.pk}"
    )


def _claim(run_id: int, now: datetime) -> ReconciliationRun | None:
    claimed = (
        ReconciliationRun.objects.filter(pk=run_id, running=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    return ReconciliationRun.objects.get(pk=run_id) if claimed else None


def reconciliation_continue(
    *,
    run_id: int,
    budget_seconds: float | None = None,
    clients: dict[str, PollClient] | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> bool:
    """Work on a run for about `budget_seconds`; True when there is more to do (queue another go).

    Returns False, doing nothing, when the run is finished or another worker holds its lease.
    """
    budget = settings.CARRIER_RECONCILE_TASK_SECONDS if budget_seconds is None else budget_seconds
    started = time.monotonic()
    run = _claim(run_id, clock())
    if run is None:
        return False
    try:
        with BatchFetcher(clients=clients) as fetcher:
            return _work(run, fetcher, started=started, budget=budget, clock=clock)
    except Exception:
        ReconciliationRun.objects.filter(pk=run.pk).update(lease_until=None)
        raise


def _work(
    run: ReconciliationRun, fetcher: BatchFetcher, *, started: float, budget: float, clock: Callable[[], datetime]
) -> bool:
    while True:
        now = clock()
        shipments = _batch(run, now)
        if not shipments:
            _finish(run, now)
            return False
        verdicts = check_batch(shipments, fetcher=fetcher, now=now)
        with transaction.atomic():
            counts = _record(run, shipments, verdicts, now)
            ReconciliationRun.objects.filter(pk=run.pk).update(
                cursor=run.cursor,
                per_carrier=run.per_carrier,
                note=run.note,
                updated_at=now,
                lease_until=now + LEASE,
                **{name: F(name) + n for name, n in counts.items()},
            )
        if time.monotonic() - started >= budget:
            ReconciliationRun.objects.filter(pk=run.pk).update(lease_until=None)
            return True


def _finish(run: ReconciliationRun, now: datetime) -> None:
    ReconciliationRun.objects.filter(pk=run.pk).update(running=False, finished_at=now, lease_until=None)
    run.refresh_from_db()
    logger.info(
        "reconciliation finished",
        extra={
            "run": run.pk,
            "checked": run.checked,
            "mismatched": run.mismatched,
            "unreachable": run.unreachable,
            "not_checkable": run.not_checkable,
        },
    )


def reconciliation_run(
    *, trigger: str = ReconciliationRun.Trigger.MANUAL, requested_by=None, clients: dict[str, PollClient] | None = None
) -> ReconciliationRun:
    """A whole run in this process (the command, tests, the demo)."""
    run, _created = reconciliation_start(trigger=trigger, requested_by=requested_by)
    while reconciliation_continue(run_id=run.pk, budget_seconds=float("inf"), clients=clients):
        pass
    run.refresh_from_db()
    return run


# --- resolving --------------------------------------------------------------------------------


def mismatch_resolve(*, mismatch: SyncMismatch, resolution: str, actor, note: str = "") -> SyncMismatch:
    """Staff: apply the carrier's status (the normal event path: audit, order roll-up,
    notifications, proof of delivery) or keep ours / call the carrier wrong, with a note."""
    R = SyncMismatch.Resolution
    if resolution not in (R.APPLIED_CARRIER, R.KEPT_OURS, R.CARRIER_WRONG):
        raise ReconciliationError("invalid_resolution", f"{resolution!r} is not a staff resolution")
    note = note.strip()
    if resolution != R.APPLIED_CARRIER and not note:
        raise ReconciliationError("note_required", "say why ours is kept")
    now = timezone.now()
    with transaction.atomic():
        mismatch = SyncMismatch.objects.select_for_update().get(pk=mismatch.pk)
        if mismatch.resolved_at is not None:
            raise ReconciliationError("already_resolved", f"resolved already ({mismatch.get_resolution_display()})")
        if resolution == R.APPLIED_CARRIER:
            _apply_carrier_event(mismatch)
        mismatch.resolved_at, mismatch.resolved_by = now, actor
        mismatch.resolution, mismatch.note = resolution, note[:500]
        mismatch.save(update_fields=["resolved_at", "resolved_by", "resolution", "note"])
    logger.info("sync mismatch resolved", extra={"mismatch": mismatch.pk, "resolution": resolution})
    return mismatch


def _apply_carrier_event(mismatch: SyncMismatch) -> None:
    event = event_from_json(mismatch.carrier_event)
    # The fetch time, as a polled event keeps: the carrier told us then, not when staff clicked.
    row, created = order_services.shipment_apply_event(
        shipment=mismatch.shipment, event=event, received_at=mismatch.last_seen_at, source="reconciliation"
    )
    shipment = Shipment.objects.get(pk=mismatch.shipment_id)
    if shipment.status != event.status:
        # Rolls the history row back too: nothing changes, and staff learn why.
        older = shipment.last_event_at and event.occurred_at < shipment.last_event_at
        why = "it is older than our latest event" if older else f"a shipment cannot go from {shipment.status}"
        raise ReconciliationError(
            "not_applicable",
            f"the carrier's {event.status} did not move the shipment ({why}); keep ours, or override on the order",
        )
    delivered_now = created and row.applied and row.status == ShipmentStatus.DELIVERED
    if delivered_now and not hasattr(shipment, "delivery_verification"):
        pod.delivery_verify(shipment=shipment, shipment_event=row, received_at=mismatch.last_seen_at)


# --- demo -------------------------------------------------------------------------------------


def demo_seed(*, now: datetime | None = None) -> ReconciliationRun | None:
    """For `seed_demo`: one finished run with one open mismatch on an in-flight shipment (no network).

    The carrier "saw" it out for delivery an hour after our last scan. Returns None when no
    in-flight shipment exists or a mismatch exists already (other runs, e.g. the KPI demo's week of
    history, are left as they are).
    """
    now = now or timezone.now()
    if SyncMismatch.objects.exists():
        return None
    shipment = (
        Shipment.objects.filter(status=ShipmentStatus.IN_TRANSIT, last_event_at__isnull=False).order_by("pk").first()
    )
    if shipment is None:
        return None
    carrier_at = min(shipment.last_event_at + timedelta(hours=1), now - timedelta(hours=1))
    event = TrackingEvent(
        carrier=carrier_slug(shipment.carrier),
        tracking_number=shipment.tracking_number,
        status=ShipmentStatus.OUT_FOR_DELIVERY,
        occurred_at=carrier_at,
        carrier_code="OFD",
        description="Out for delivery (reported by the carrier's API, no webhook received)",
        event_id=f"demo-reconcile-{shipment.pk}",
    )
    per_carrier: dict[str, dict] = defaultdict(lambda: {"client": "demo", "checked": 0})
    for carrier in Shipment.objects.filter(status__in=IN_FLIGHT).values_list("carrier", flat=True):
        per_carrier[carrier_slug(carrier)]["checked"] += 1
    per_carrier[carrier_slug(shipment.carrier)]["mismatched"] = 1
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            started_at=now - timedelta(minutes=3),
            finished_at=now,
            running=False,
            trigger=ReconciliationRun.Trigger.SCHEDULE,
            checked=sum(bucket["checked"] for bucket in per_carrier.values()),
            mismatched=1,
            per_carrier=dict(per_carrier),
            note="demo data",
        )
        SyncMismatch.objects.create(
            run=run,
            shipment=shipment,
            client="demo",
            kind=compare(shipment, event) or SyncMismatch.Kind.MISSED_EVENT,
            ours=shipment.status,
            our_event_at=shipment.last_event_at,
            carrier_status=event.status,
            carrier_event_at=event.occurred_at,
            carrier_event=event_to_json(event),
            detected_at=now,
            last_seen_at=now,
        )
    return run


def reconciliation_request(*, requested_by) -> tuple[ReconciliationRun, bool]:
    """Staff (admin button, command --queue): start a run and queue its task once committed."""
    from carriers import tasks  # tasks import this module's callers; keep the import one-way

    run, created = reconciliation_start(trigger=ReconciliationRun.Trigger.MANUAL, requested_by=requested_by)
    if created:
        tasks.reconcile_shipments.delay_on_commit(run.pk)
    return run, created
