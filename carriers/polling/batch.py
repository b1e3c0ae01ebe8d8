"""Fetching many tracking documents at once: per client at most N requests in flight and R a second.

Only the HTTP call and the adapter's parse run in threads; the callers keep every database access
in their own thread (pytest's transaction and SQLite both need that). A client that fails
BREAKER_FAILURES times in a row is not asked again by this fetcher: an outage costs a handful of
timeouts, not one per shipment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

from carriers.adapters import ParseError, get_adapter, parse_payload
from carriers.models import TrackerPoll
from carriers.polling import get_client
from carriers.polling.base import PollClient, PollError
from orders.tracking import TrackingEvent

BREAKER_FAILURES = 5


class RateLimiter:
    """Spaces request starts 1/rate apart across threads (rate <= 0: no limit)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


def concurrency_for(client: str) -> int:
    return max(1, settings.CARRIER_RECONCILE_CONCURRENCY.get(client, settings.CARRIER_RECONCILE_DEFAULT_CONCURRENCY))


def rate_for(client: str) -> float:
    return float(settings.CARRIER_RECONCILE_RATE.get(client, settings.CARRIER_RECONCILE_DEFAULT_RATE))


@dataclass(frozen=True)
class Fetched:
    events: list[TrackingEvent] | None  # None: the fetch or the parse failed
    error: str = ""


@dataclass
class _ClientState:
    client: PollClient
    limiter: RateLimiter
    pool: ThreadPoolExecutor
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class BatchFetcher:
    """One per task, so the limits hold across its batches. Use as a context manager."""

    def __init__(self, *, clients: dict[str, PollClient] | None = None) -> None:
        self._given = clients or {}
        self._states: dict[str, _ClientState] = {}

    def __enter__(self) -> BatchFetcher:
        return self

    def __exit__(self, *exc) -> None:
        for state in self._states.values():
            state.pool.shutdown(wait=True)

    def client(self, name: str) -> PollClient:
        return self._state(name).client

    def _state(self, name: str) -> _ClientState:
        if name not in self._states:
            self._states[name] = _ClientState(
                client=self._given.get(name) or get_client(name),
                limiter=RateLimiter(rate_for(name)),
                pool=ThreadPoolExecutor(max_workers=concurrency_for(name), thread_name_prefix=f"fetch-{name}"),
            )
        return self._states[name]

    def fetch(self, polls: dict[int, TrackerPoll]) -> dict[int, Fetched]:
        """key -> the parsed events of that poll's shipment (each poll names its client)."""
        futures: dict[int, Future] = {}
        for key, poll in polls.items():
            state = self._state(poll.client)
            futures[key] = state.pool.submit(self._fetch_one, state, poll)
        return {key: future.result() for key, future in futures.items()}

    @staticmethod
    def _fetch_one(state: _ClientState, poll: TrackerPoll) -> Fetched:
        with state.lock:
            if state.failures >= BREAKER_FAILURES:
                return Fetched(None, "not asked: the client failed repeatedly")
        state.limiter.wait()
        try:
            result = state.client.fetch(poll)
            events = parse_payload(get_adapter(result.adapter), result.body)
        except (PollError, ParseError) as exc:
            with state.lock:
                state.failures += 1
            return Fetched(None, str(exc)[:300])
        with state.lock:
            state.failures = 0
        return Fetched(events)
