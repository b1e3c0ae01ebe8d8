"""Prometheus metrics: latency histograms kept in process, counts read at scrape time.

Counts that matter across processes (webhooks, notifications, retries, dead letters, queue depth)
are not counted in memory: gunicorn and Celery run many processes and each would hold its own
share. They are read from the database and Redis when Prometheus scrapes (operations.collectors).
What only a process can see (request and task latency, requests refused before anything was
stored) lives in prometheus_client metrics, which write to shared files when
PROMETHEUS_MULTIPROC_DIR is set (prometheus_client's multiprocess mode, docs/operations.md).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Process-local metrics live in their own registry, not prometheus_client's global one, so the
# exposition never includes the client's process/platform collectors twice or metrics of tests.
LOCAL = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

REQUEST_LATENCY = Histogram(
    "oms_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern (not the path: ids would explode the series).",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=LOCAL,
)
WEBHOOKS_REJECTED = Counter(
    "oms_webhooks_rejected",
    "Carrier and source webhooks answered with a 4xx (bad signature, too large, unparseable).",
    ["kind", "name", "status"],
    registry=LOCAL,
)
TASK_DURATION = Histogram(
    "oms_celery_task_duration_seconds",
    "Time a Celery task ran in the worker, by task.",
    ["task"],
    buckets=_TASK_BUCKETS,
    registry=LOCAL,
)
TASK_QUEUE_WAIT = Histogram(
    "oms_celery_task_queue_wait_seconds",
    "Time from publishing a task to a worker starting it, by queue (a countdown counts as waiting).",
    ["queue"],
    buckets=_TASK_BUCKETS,
    registry=LOCAL,
)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> tuple[bytes, str]:
    """The whole scrape: process metrics (or every process's, in multiprocess mode), then the counts."""
    from operations.collectors import DatabaseCollector, RedisCollector

    if multiprocess_dir():
        from prometheus_client import multiprocess

        local = CollectorRegistry()
        multiprocess.MultiProcessCollector(local)
    else:
        local = LOCAL
    counts = CollectorRegistry(auto_describe=False)
    counts.register(DatabaseCollector())
    counts.register(RedisCollector())
    return generate_latest(local) + generate_latest(counts), CONTENT_TYPE_LATEST
