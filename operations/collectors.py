"""Counts read at scrape time, so every gunicorn and Celery process agrees on them.

Keeping a scrape cheap at millions of rows: every query is bounded by an indexed column
(`received_at` of raw webhooks and intakes, `created_at` of notifications, `status` for what is
waiting now) over the last METRICS_WINDOW_SECONDS, so it reads an index range, never a table; on
PostgreSQL each runs under a statement timeout, and a collector that fails reports itself down
instead of failing the scrape. Counts over a window are gauges: use them as they are, not rate().
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from carriers.models import RawWebhook
from notifications.models import DeliveryAttempt, Notification
from operations import broker
from orders.sources.models import RawIntake

logger = logging.getLogger(__name__)
QUERY_TIMEOUT_MS = 5000  # a slow database must not hold a scrape (Prometheus times out at 10 s)
N = Notification.Status
WAITING = (N.PENDING, N.SCHEDULED, N.HELD, N.SENDING)


def _up(name: str, ok: bool) -> GaugeMetricFamily:
    up = GaugeMetricFamily(f"oms_metrics_{name}_up", f"1 when the {name} part of this scrape was read, else 0.")
    up.add_metric([], 1.0 if ok else 0.0)
    return up


class DatabaseCollector:
    def collect(self) -> Iterator[Metric]:
        window = settings.METRICS_WINDOW_SECONDS
        since = timezone.now() - timedelta(seconds=window)
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL statement_timeout = {int(QUERY_TIMEOUT_MS)}")
                families = [*_webhooks(since, window), *_notifications(since, window)]
        except Exception as exc:  # noqa: BLE001 - report the part down, keep the rest of the scrape
            logger.warning("metrics: database part failed", extra={"error": type(exc).__name__})
            yield _up("database", False)
            return
        window_gauge = GaugeMetricFamily("oms_metrics_window_seconds", "Window of the *_recent series.")
        window_gauge.add_metric([], float(window))
        yield window_gauge
        yield from families
        yield _up("database", True)


def _counted(qs, *fields: str) -> Iterator[tuple[tuple[str, ...], int]]:
    for row in qs.values(*fields).annotate(n=Count("pk")).order_by():
        yield tuple(str(row[f]) for f in fields), row["n"]


def _webhooks(since, window: int) -> list[Metric]:
    help_window = f"in the last {window}s"
    carriers = GaugeMetricFamily(
        "oms_carrier_webhooks_recent",
        f"Carrier webhooks and polling responses stored {help_window}, by carrier, source and outcome "
        "(failed = dead-lettered). Refused requests (bad signature, too large) are oms_webhooks_rejected.",
        labels=["carrier", "source", "status"],
    )
    # Every status named: the (status, received_at) index then serves the range (one descent per
    # status); received_at alone has no index of its own on this table.
    recent = RawWebhook.objects.filter(status__in=RawWebhook.Status.values, received_at__gte=since)
    for labels, n in _counted(recent, "carrier", "source", "status"):
        carriers.add_metric(list(labels), n)
    carrier_dead = GaugeMetricFamily(
        "oms_carrier_webhooks_dead_letters",
        "Carrier webhooks waiting in the dead letter now (failed, or waiting for their shipment).",
        labels=["carrier", "status"],
    )
    dead = RawWebhook.objects.filter(status__in=[RawWebhook.Status.FAILED, RawWebhook.Status.PENDING])
    for labels, n in _counted(dead, "carrier", "status"):
        carrier_dead.add_metric(list(labels), n)
    sources = GaugeMetricFamily(
        "oms_source_webhooks_recent",
        f"Order-source payloads stored {help_window}, by source and outcome (rejected/failed = dead-lettered).",
        labels=["source", "status"],
    )
    for labels, n in _counted(RawIntake.objects.filter(received_at__gte=since), "source", "status"):
        sources.add_metric(list(labels), n)
    source_dead = GaugeMetricFamily(
        "oms_source_webhooks_dead_letters",
        "Order-source payloads waiting in the dead letter now (rejected or failed).",
        labels=["source", "status"],
    )
    for labels, n in _counted(RawIntake.objects.filter(status__in=RawIntake.DEAD), "source", "status"):
        source_dead.add_metric(list(labels), n)
    return [carriers, carrier_dead, sources, source_dead]


def _notifications(since, window: int) -> list[Metric]:
    recent = GaugeMetricFamily(
        "oms_notifications_recent",
        f"Notifications created in the last {window}s, by channel, provider and current status.",
        labels=["channel", "provider", "status"],
    )
    created = Notification.objects.filter(created_at__gte=since)
    for labels, n in _counted(created, "channel", "provider", "status"):
        recent.add_metric(list(labels), n)
    dead = GaugeMetricFamily(
        "oms_notifications_dead_lettered_recent",
        f"Notifications created in the last {window}s that were dead-lettered (retries exhausted).",
        labels=["channel", "provider"],
    )
    for labels, n in _counted(created.filter(dead_lettered_at__isnull=False), "channel", "provider"):
        dead.add_metric(list(labels), n)
    attempts = GaugeMetricFamily(
        "oms_notification_attempts_recent",
        f"Provider calls for notifications created in the last {window}s, by provider and outcome "
        "(transient = will be retried or failed over; permanent = not retried).",
        labels=["provider", "outcome"],
    )
    for labels, n in _counted(
        DeliveryAttempt.objects.filter(notification__created_at__gte=since), "provider", "outcome"
    ):
        attempts.add_metric(list(labels), n)
    waiting = GaugeMetricFamily(
        "oms_notifications_waiting",
        "Notifications not final yet, by status and queue (scheduled includes retries and quiet hours).",
        labels=["status", "queue"],
    )
    for labels, n in _counted(Notification.objects.filter(status__in=WAITING), "status", "queue"):
        waiting.add_metric(list(labels), n)
    retrying = GaugeMetricFamily(
        "oms_notifications_retry_waiting", "Notifications waiting for their next attempt after a failure."
    )
    retrying.add_metric([], Notification.objects.filter(status=N.SCHEDULED, status_reason="retry").count())
    return [recent, dead, attempts, waiting, retrying]


class RedisCollector:
    def collect(self) -> Iterator[Metric]:
        if not broker.broker_in_use():
            return  # the demo: no queues to measure
        client = broker.broker_client()
        if client is None:
            return
        queues = [q.name for q in settings.CELERY_TASK_QUEUES]
        try:
            depths = broker.queue_depths(client, queues)
            live = broker.heartbeats_live(client=client)
        except Exception as exc:  # noqa: BLE001
            logger.warning("metrics: redis part failed", extra={"error": type(exc).__name__})
            yield _up("redis", False)
            return
        depth = GaugeMetricFamily("oms_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"])
        for queue in queues:
            depth.add_metric([queue], depths[queue])
        yield depth
        unacked = GaugeMetricFamily(
            "oms_celery_unacked", "Messages a worker has taken but not acknowledged yet (all queues)."
        )
        unacked.add_metric([], depths["unacked"])
        yield unacked
        workers = GaugeMetricFamily(
            "oms_celery_workers_live", "Workers with a fresh heartbeat that consume each queue.", labels=["queue"]
        )
        for queue in queues:
            workers.add_metric([queue], sum(1 for beat in live.values() if queue in beat["queues"]))
        yield workers
        yield _up("redis", True)
