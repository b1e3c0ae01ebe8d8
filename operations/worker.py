"""Worker-side signals: a heartbeat for readiness, and task latency for /metrics.

Connected in OperationsConfig.ready(), so every process that loads Django (web and worker) has
them; the web process publishes tasks (before_task_publish), the worker runs them.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery.signals import (
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings

from operations import broker
from operations.metrics import TASK_DURATION, TASK_QUEUE_WAIT, multiprocess_dir

logger = logging.getLogger(__name__)
PUBLISHED_HEADER = "oms_published_at"
_started: dict[str, float] = {}
_heart: _Heartbeat | None = None


class _Heartbeat(threading.Thread):
    """A thread, not a beat task: a worker busy with a long task (or a solo pool) is still alive."""

    def __init__(self, hostname: str, queues: list[str]) -> None:
        super().__init__(name="oms-heartbeat", daemon=True)
        self.hostname, self.queues = hostname, queues
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                client = broker.broker_client()
                if client is not None:
                    broker.heartbeat_record(client=client, hostname=self.hostname, queues=self.queues)
            except Exception as exc:  # noqa: BLE001 - the broker is down: readiness says so, keep trying
                logger.warning("worker heartbeat not recorded", extra={"error": type(exc).__name__})
            self.stopped.wait(settings.OPS_HEARTBEAT_SECONDS)


@worker_ready.connect
def _start_heartbeat(sender=None, **_kwargs) -> None:
    global _heart
    consumer = sender
    queues = sorted(consumer.app.amqp.queues.consume_from) if consumer is not None else []
    hostname = getattr(consumer, "hostname", "") or f"worker@{os.getpid()}"
    _heart = _Heartbeat(hostname, queues)
    _heart.start()


@worker_shutdown.connect
def _stop_heartbeat(**_kwargs) -> None:
    global _heart
    if _heart is None:
        return
    _heart.stopped.set()
    try:
        client = broker.broker_client()
        if client is not None:  # readiness notices a clean stop at once, not after the stale age
            broker.heartbeat_forget(client=client, hostname=_heart.hostname)
    except Exception:  # noqa: BLE001, S110 - shutting down; the entry goes stale anyway
        pass
    _heart = None


@before_task_publish.connect
def _stamp_published_at(headers=None, **_kwargs) -> None:
    if headers is not None and PUBLISHED_HEADER not in headers:
        headers[PUBLISHED_HEADER] = time.time()


@task_prerun.connect
def _task_started(task_id=None, task=None, **_kwargs) -> None:
    if task is None or task.request.is_eager:
        return  # eager tasks run inside the caller: their time is the request's
    now = time.time()
    _started[task_id] = time.perf_counter()
    request = task.request
    published = getattr(request, PUBLISHED_HEADER, None) or (request.headers or {}).get(PUBLISHED_HEADER)
    if published:
        queue = (request.delivery_info or {}).get("routing_key") or "unknown"
        TASK_QUEUE_WAIT.labels(queue).observe(max(0.0, now - float(published)))


@task_postrun.connect
def _task_finished(task_id=None, task=None, **_kwargs) -> None:
    began = _started.pop(task_id, None)
    if began is not None and task is not None:
        TASK_DURATION.labels(task.name).observe(time.perf_counter() - began)


@worker_process_shutdown.connect
def _forget_process_metrics(pid=None, **_kwargs) -> None:
    # Multiprocess mode keeps a dead process's gauges unless told; histograms and counters stay summed.
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
