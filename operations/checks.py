"""Readiness: the database, the Redis broker and the workers, each with its own verdict.

A verdict is "ok", "failed" or "not used" (the demo runs tasks in-process: no broker, no worker).
Details name what failed without credentials: an exception's class and a short message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connections

from operations import broker

OK, FAILED, NOT_USED = "ok", "failed", "not used"


@dataclass
class CheckResult:
    name: str
    status: str
    detail: str = ""
    ms: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status != FAILED


def _failure(exc: Exception) -> str:
    # Driver messages name a host or a user at most; cap them so nothing long reaches a probe.
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:200]


def database_check() -> tuple[str, str]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return OK, connections["default"].vendor


def broker_check() -> tuple[str, str]:
    if not broker.broker_in_use():
        return NOT_USED, "tasks run in-process (CELERY_TASK_ALWAYS_EAGER)"
    client = broker.broker_client()
    if client is None:
        return OK, "not a Redis broker: not probed"
    client.ping()
    return OK, "redis answered PING"


def workers_check() -> tuple[str, str]:
    if not broker.broker_in_use():
        return NOT_USED, "tasks run in-process (CELERY_TASK_ALWAYS_EAGER)"
    client = broker.broker_client()
    if client is None:
        return OK, "not a Redis broker: heartbeats not kept"
    live = broker.heartbeats_live(client=client)
    if not live:
        return FAILED, f"no worker heartbeat in the last {settings.OPS_HEARTBEAT_STALE_SECONDS}s"
    served = {queue for beat in live.values() for queue in beat["queues"]}
    missing = [queue for queue in settings.OPS_REQUIRED_QUEUES if queue not in served]
    if missing:
        return FAILED, f"{len(live)} live worker(s); no worker for queue(s): {', '.join(missing)}"
    return OK, f"{len(live)} live worker(s) for {', '.join(sorted(served))}"


CHECKS: dict[str, Callable[[], tuple[str, str]]] = {
    "database": database_check,
    "broker": broker_check,
    "workers": workers_check,
}


def _run(name: str, check: Callable[[], tuple[str, str]]) -> CheckResult:
    started = time.perf_counter()
    try:
        status, detail = check()
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency is the answer, not a crash
        status, detail = FAILED, _failure(exc)
    return CheckResult(name, status, detail, round((time.perf_counter() - started) * 1000, 1))


def readiness_check() -> dict:
    """{"status": "ok" | "failed", "checks": {name: {"status", "detail", "ms"}}}."""
    results = [_run(name, check) for name, check in CHECKS.items()]
    # The workers' verdict reads the broker: when the broker is down, say so once, not twice.
    by_name = {r.name: r for r in results}
    if by_name["broker"].status == FAILED and by_name["workers"].status == FAILED:
        by_name["workers"].detail = "unknown: the broker is unreachable"
    return {
        "status": OK if all(r.passed for r in results) else FAILED,
        "checks": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in results},
    }
