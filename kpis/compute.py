"""One day of each rollup, computed from the records the other apps keep.

Each function reads one day of source rows (by an indexed timestamp) and returns unsaved rollup
rows. Rows are folded in Python rather than grouped in SQL because latencies become histograms
and the ETA needs the shipment's first estimate: both portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

from kpis.histograms import bucket_of
from kpis.models import FeedbackRollup, NotificationRollup, ShipmentRollup, VisitRollup
from kpis.periods import day_bounds, kpi_zone
from notifications.models import Event, Notification
from orders.models import Order, Shipment, ShipmentEvent
from orders.statuses import ShipmentStatus
from orders.tracking.models import DeliveryFeedback, TrackingVisit

S = Notification.Status
# Providers that report delivery (status callbacks, event webhooks). Push, staff chat and the local
# outbox only say "accepted": their messages count for acceptance, not for the delivery rate.
RECEIPT_PROVIDERS = frozenset(
    {"twilio", "sendgrid", "mailgun", "messagebird", "messagebird_whatsapp", "whatsapp_cloud"}
)
ACCEPTED_STATUSES = {S.SENT, S.DELIVERED, S.BOUNCED, S.UNDELIVERED}
FAILED_AFTER_ACCEPT = {S.FAILED, S.BOUNCED, S.UNDELIVERED}
NOT_SENT = {S.SUPPRESSED, S.EXPIRED}
ETA_CLAMP = 7


def _ms(later: datetime, earlier: datetime) -> int:
    # A provider clock a little behind ours must not make a negative latency.
    return max(0, int((later - earlier).total_seconds() * 1000))


def _span(first: date, last: date) -> tuple[datetime, datetime]:
    return day_bounds(first)[0], day_bounds(last)[1]


def _batches(rows, size: int = 5000):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def notifications_of_days(*, first: date, last: date) -> tuple[list[NotificationRollup], dict[tuple, set[int]]]:
    """Day rows from `first` to `last`, and the orders sent a feedback request by (day, brand, carrier)."""
    start, end = _span(first, last)
    zone = kpi_zone()
    rows = (
        Notification.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(
            event_received=Coalesce(
                "status_change__shipment_event__received_at", "domain_event__status_change__shipment_event__received_at"
            ),
            event_occurred=Coalesce(
                "status_change__shipment_event__occurred_at", "domain_event__status_change__shipment_event__occurred_at"
            ),
        )
        .values_list(
            "created_at",
            "order_id",
            "shipment_id",
            "channel",
            "provider",
            "status",
            "sent_at",
            "delivered_at",
            "event",
            "due_at",
            "resend_of_id",
            "event_received",
            "event_occurred",
        )
    )
    out: dict[tuple, NotificationRollup] = {}
    survey_orders: dict[tuple, set[int]] = defaultdict(set)
    for batch in _batches(rows.iterator(chunk_size=5000)):
        # Brand and carrier by id, per batch: joining orders and shipments into a range of messages
        # makes PostgreSQL hash the whole of both tables for every range.
        brands = dict(Order.objects.filter(pk__in={b[1] for b in batch if b[1]}).values_list("id", "brand_id"))
        carriers = dict(Shipment.objects.filter(pk__in={b[2] for b in batch if b[2]}).values_list("id", "carrier"))
        for (
            created_at,
            order_id,
            shipment_id,
            channel,
            provider,
            status,
            sent_at,
            delivered_at,
            event,
            due_at,
            resend_of,
            received,
            occurred,
        ) in batch:
            day = created_at.astimezone(zone).date()
            brand_id, carrier = brands.get(order_id), carriers.get(shipment_id, "")
            key = (day, brand_id, channel, provider, carrier)
            r = out.get(key)
            if r is None:
                r = out[key] = NotificationRollup(
                    grain="day",
                    period_start=day,
                    brand_id=brand_id,
                    channel=channel,
                    provider=provider,
                    carrier=carrier,
                )
            _count(r, status=status, provider=provider, sent_at=sent_at, delivered_at=delivered_at)
            if sent_at is None or resend_of is not None:
                continue
            if event == Event.FEEDBACK_REQUEST and order_id:
                survey_orders[(day, brand_id, carrier)].add(order_id)
            # Messages held on purpose (quiet hours, proof-of-delivery wait, staff first, retry back-off,
            # the 24 h survey) carry a due_at: their wait is a choice, not pipeline latency.
            if received is not None and due_at is None and event != Event.FEEDBACK_REQUEST:
                ms = _ms(sent_at, received)
                r.latency_hist[bucket_of(ms)] += 1
                r.latency_max_ms = max(r.latency_max_ms, ms)
            if event == Event.DELIVERED and occurred is not None:
                ms = _ms(sent_at, occurred)
                r.confirm_hist[bucket_of(ms)] += 1
                r.confirm_sum_ms += ms
                r.confirm_max_ms = max(r.confirm_max_ms, ms)
    return list(out.values()), survey_orders


def _count(r: NotificationRollup, *, status: str, provider: str, sent_at, delivered_at) -> None:
    r.total += 1
    if sent_at is not None or status in ACCEPTED_STATUSES:
        r.accepted += 1
        if provider in RECEIPT_PROVIDERS or status == S.DELIVERED or delivered_at is not None:
            r.eligible += 1
            if status == S.DELIVERED:
                r.delivered += 1
            elif status in FAILED_AFTER_ACCEPT:
                r.undelivered += 1
            else:
                r.awaiting += 1
    elif status == S.FAILED:
        r.rejected += 1
    elif status in NOT_SENT:
        r.not_sent += 1


def feedback_of_days(*, first: date, last: date, survey_orders: dict[tuple, set[int]]) -> list[FeedbackRollup]:
    start, end = _span(first, last)
    zone = kpi_zone()
    out: dict[tuple, FeedbackRollup] = {}

    def row(day: date, brand_id, carrier: str, route: str) -> FeedbackRollup:
        key = (day, brand_id, carrier, route)
        if key not in out:
            out[key] = FeedbackRollup(
                grain="day", period_start=day, brand_id=brand_id, carrier=carrier, route=route, scores=[0] * 5
            )
        return out[key]

    for (day, brand_id, carrier), orders in survey_orders.items():
        row(day, brand_id, carrier, "").requests += len(orders)
    answers = DeliveryFeedback.objects.filter(created_at__gte=start, created_at__lt=end).values_list(
        "created_at", "order__brand_id", "carrier", "shipment__carrier", "route", "received", "score"
    )
    for created_at, brand_id, carrier, shipment_carrier, route, received, score in answers.iterator(chunk_size=5000):
        r = row(created_at.astimezone(zone).date(), brand_id, carrier or shipment_carrier or "", route or "")
        r.responses += 1
        if not received:
            r.not_received += 1
        if score:
            r.scores[score - 1] += 1
    return list(out.values())


def shipment_local_day(delivered_at: datetime, zone_name: str) -> date:
    try:
        zone = zoneinfo.ZoneInfo(zone_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return delivered_at.astimezone(zone).date()


def shipments_of_days(*, first: date, last: date) -> list[ShipmentRollup]:
    """Shipments delivered from `first` to `last` in their brand's time zone: promised dates are local."""
    start, end = _span(first, last)
    events = ShipmentEvent.objects.filter(shipment=OuterRef("pk"), occurred_at__lte=OuterRef("delivered_at"))
    first_eta = (
        events.filter(estimated_delivery__isnull=False).order_by("occurred_at", "id").values("estimated_delivery")[:1]
    )
    rows = (
        Shipment.objects.filter(
            delivered_at__gte=start - timedelta(hours=14), delivered_at__lt=end + timedelta(hours=14)
        )
        .annotate(
            first_eta=Subquery(first_eta),
            attempt_failed=Exists(events.filter(status=ShipmentStatus.ATTEMPT_FAILED)),
        )
        .values_list(
            "order__brand_id",
            "order__brand__default_time_zone",
            "carrier",
            "delivered_at",
            "first_eta",
            "eta",
            "order__promised_from",
            "order__promised_to",
            "attempt_failed",
        )
    )
    out: dict[tuple, ShipmentRollup] = {}
    for brand_id, zone, carrier, delivered_at, first_eta, eta, promised_from, promised_to, attempt_failed in rows:
        local = shipment_local_day(delivered_at, zone)
        if not first <= local <= last:
            continue
        key = (local, brand_id, carrier)
        r = out.get(key)
        if r is None:
            r = out[key] = ShipmentRollup(
                grain="day", period_start=local, brand_id=brand_id, carrier=carrier, eta_error={}
            )
        r.delivered += 1
        if promised_from or promised_to:
            r.with_window += 1
            if (promised_from or promised_to) <= local <= (promised_to or promised_from):
                r.on_time += 1
            elif local > (promised_to or promised_from):
                r.late += 1
        promised = first_eta or eta
        if promised:
            error = (local - promised).days
            r.with_eta += 1
            r.eta_exact += error == 0
            r.eta_abs_error_days += abs(error)
            bucket = str(max(-ETA_CLAMP, min(ETA_CLAMP, error)))
            r.eta_error[bucket] = r.eta_error.get(bucket, 0) + 1
        if attempt_failed:
            r.first_attempt_failed += 1
    return list(out.values())


def visits_of_period(*, grain: str, start_day: date, end_day: date) -> list[VisitRollup]:
    """Visits are counted per grain from the source: distinct orders do not add across days."""
    start, _ = day_bounds(start_day)
    end, _ = day_bounds(end_day)
    groups = (
        TrackingVisit.objects.filter(visited_at__gte=start, visited_at__lt=end)
        .values("order__brand_id", "order_status", "exception")
        .annotate(visits=Count("id"), orders=Count("order_id", distinct=True))
        .order_by()
    )
    return [
        VisitRollup(
            grain=grain,
            period_start=start_day,
            brand_id=g["order__brand_id"],
            order_status=g["order_status"],
            exception=g["exception"],
            visits=g["visits"],
            orders=g["orders"],
        )
        for g in groups
    ]
