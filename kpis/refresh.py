"""Keep the rollups up to date: recompute only the days whose source rows changed.

A refresh finds the days touched since the last one (a receipt that lands a week late dirties the
day its message was created), rebuilds those days from the source, then rebuilds the weeks and
months that contain them from their day rows. Each rebuilt period is deleted and written again,
so running a refresh twice gives the same rows. The whole refresh is one transaction holding the
RefreshState row lock: readers never see half a refresh, and two refreshes never interleave.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from kpis import compute
from kpis.histograms import hist_merge
from kpis.models import FeedbackRollup, NotificationRollup, RefreshState, ShipmentRollup, VisitRollup
from kpis.periods import kpi_zone, period_end, period_start
from notifications.models import Notification
from orders.models import Shipment
from orders.tracking.models import DeliveryFeedback, TrackingVisit

logger = logging.getLogger(__name__)

# How each rollup folds days into weeks and months: its dimensions, counters and mergeable JSON.
_MERGE = {
    NotificationRollup: (
        ("brand_id", "channel", "provider", "carrier"),
        (
            "total",
            "accepted",
            "rejected",
            "eligible",
            "delivered",
            "undelivered",
            "awaiting",
            "not_sent",
            "confirm_sum_ms",
        ),
        ("latency_hist", "confirm_hist"),
        ("latency_max_ms", "confirm_max_ms"),
    ),
    ShipmentRollup: (
        ("brand_id", "carrier"),
        (
            "delivered",
            "with_window",
            "on_time",
            "late",
            "with_eta",
            "eta_exact",
            "eta_abs_error_days",
            "first_attempt_failed",
        ),
        (),
        (),
    ),
    FeedbackRollup: (("brand_id", "carrier", "route"), ("requests", "responses", "not_received"), (), ()),
}
ROLLUPS = (NotificationRollup, ShipmentRollup, FeedbackRollup, VisitRollup)


@dataclass
class RefreshResult:
    skipped: bool = False
    full: bool = False
    days: int = 0
    rows: int = 0
    duration_ms: int = 0


def _local_date(moment: datetime) -> date:
    return moment.astimezone(kpi_zone()).date()


def _days(queryset, field: str, zone) -> set[date]:
    return {moment.date() for moment in queryset.datetimes(field, "day", tzinfo=zone)}


def _dirty_days(since: datetime) -> set[date]:
    days: set[date] = set()
    zone = kpi_zone()
    # A message's status moves after it was created (receipts, retries): its creation day is dirty.
    days.update(_days(Notification.objects.filter(updated_at__gte=since), "created_at", zone))
    for delivered_at, zone_name in Shipment.objects.filter(
        updated_at__gte=since, delivered_at__isnull=False
    ).values_list("delivered_at", "order__brand__default_time_zone"):
        days.add(compute.shipment_local_day(delivered_at, zone_name))
    days.update(_days(DeliveryFeedback.objects.filter(updated_at__gte=since), "created_at", zone))
    days.update(_days(TrackingVisit.objects.filter(visited_at__gte=since), "visited_at", zone))
    return days


def _first_day() -> date | None:
    firsts = [
        Notification.objects.aggregate(m=Min("created_at"))["m"],
        Shipment.objects.aggregate(m=Min("delivered_at"))["m"],
        DeliveryFeedback.objects.aggregate(m=Min("created_at"))["m"],
        TrackingVisit.objects.aggregate(m=Min("visited_at"))["m"],
    ]
    firsts = [m for m in firsts if m is not None]
    # A day early: a shipment's local delivery date can be the UTC date before.
    return _local_date(min(firsts)) - timedelta(days=1) if firsts else None


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) spans: one pass over the source for each span."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _rebuild_days(first: date, last: date) -> int:
    for model in (NotificationRollup, ShipmentRollup, FeedbackRollup):
        model.objects.filter(grain="day", period_start__gte=first, period_start__lte=last).delete()
    notifications, survey_orders = compute.notifications_of_days(first=first, last=last)
    NotificationRollup.objects.bulk_create(notifications, batch_size=1000)
    feedback = compute.feedback_of_days(first=first, last=last, survey_orders=survey_orders)
    FeedbackRollup.objects.bulk_create(feedback, batch_size=1000)
    shipments = compute.shipments_of_days(first=first, last=last)
    ShipmentRollup.objects.bulk_create(shipments, batch_size=1000)
    return len(notifications) + len(feedback) + len(shipments)


def _merge(model, *, grain: str, start: date, day_rows: Iterable) -> list:
    dims, counters, hists, maxima = _MERGE[model]
    out: dict[tuple, object] = {}
    for r in day_rows:
        key = tuple(getattr(r, d) for d in dims)
        m = out.get(key)
        if m is None:
            m = out[key] = model(grain=grain, period_start=start, **dict(zip(dims, key, strict=True)))
            for h in hists:
                setattr(m, h, hist_merge([]))
            if model is FeedbackRollup:
                m.scores = [0] * 5
            if model is ShipmentRollup:
                m.eta_error = {}
        for c in counters:
            setattr(m, c, getattr(m, c) + getattr(r, c))
        for h in hists:
            setattr(m, h, hist_merge([getattr(m, h), getattr(r, h)]))
        for x in maxima:
            setattr(m, x, max(getattr(m, x), getattr(r, x)))
        if model is FeedbackRollup:
            m.scores = [a + b for a, b in zip(m.scores, r.scores or [0] * 5, strict=True)]
        if model is ShipmentRollup:
            for k, v in (r.eta_error or {}).items():
                m.eta_error[k] = m.eta_error.get(k, 0) + v
    return list(out.values())


def _rebuild_period(grain: str, start: date) -> int:
    end = period_end(start, grain)
    written = 0
    for model in _MERGE:
        model.objects.filter(grain=grain, period_start=start).delete()
        days = model.objects.filter(grain="day", period_start__gte=start, period_start__lt=end)
        rows = _merge(model, grain=grain, start=start, day_rows=days.iterator(chunk_size=2000))
        model.objects.bulk_create(rows, batch_size=1000)
        written += len(rows)
    VisitRollup.objects.filter(grain=grain, period_start=start).delete()
    visits = compute.visits_of_period(grain=grain, start_day=start, end_day=end)
    VisitRollup.objects.bulk_create(visits)
    return written + len(visits)


def kpis_refresh(*, full: bool = False, since: date | None = None, now: datetime | None = None) -> RefreshResult:
    """Bring the rollups up to date; `full` rebuilds everything, `since` every day from that date."""
    started = time.monotonic()
    now = now or timezone.now()
    result = RefreshResult(full=full)
    RefreshState.objects.get_or_create(pk=1)
    with transaction.atomic():
        # skip_locked: a refresh already running will cover what this one would have done.
        state = RefreshState.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if state is None:
            return RefreshResult(skipped=True)
        today = _local_date(now)
        if full or state.watermark is None:
            result.full = True
            for model in ROLLUPS:
                model.objects.all().delete()
            first = _first_day()
            days = set(_days_between(first, today)) if first else set()
        elif since is not None:
            days = set(_days_between(since, today))
        else:
            overlap = timedelta(seconds=settings.KPI_REFRESH_OVERLAP_SECONDS)
            days = _dirty_days(state.watermark - overlap) | {today}
        for first, last in _runs(list(days)):
            result.rows += _rebuild_days(first, last)
        periods = {(grain, period_start(day, grain)) for day in days for grain in ("day", "week", "month")}
        for grain, start in sorted(periods):
            if grain == "day":
                VisitRollup.objects.filter(grain="day", period_start=start).delete()
                visits = compute.visits_of_period(grain="day", start_day=start, end_day=period_end(start, "day"))
                VisitRollup.objects.bulk_create(visits)
                result.rows += len(visits)
            else:
                result.rows += _rebuild_period(grain, start)
        result.days = len(days)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        state.watermark = now
        state.last_started_at = now
        state.last_finished_at = timezone.now()
        state.last_duration_ms = result.duration_ms
        state.last_days = result.days
        state.last_full = result.full
        state.save()
    logger.info(
        "kpis refreshed",
        extra={"days": result.days, "rows": result.rows, "duration_ms": result.duration_ms, "full": result.full},
    )
    return result
