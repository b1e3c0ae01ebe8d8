"""Per-brand configuration read on every domain event, cached briefly per process.

Notification rules, provider routes and outbound webhook endpoints change rarely (staff edit them
in the admin) but were read once or more per domain event: at 100 carrier events a second that
was a fifth of the statements of the whole path. Each cache keeps what one query loads for a
brand for NOTIFY_BRAND_CACHE_SECONDS (0 turns caching off, as for rendering's brand settings).

A save or delete of a cached model (its signals) empties the cache at once, and while the
transaction that wrote is still open the cache is bypassed: rows other transactions cannot see
yet, or that roll back, are never cached. Writes that send no signal (QuerySet.update) call
`invalidate()` themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")

# A write whose transaction rolled back (no commit to settle it) stops the bypass after this long.
_UNSETTLED_MAX_SECONDS = 300.0


class BrandCache(Generic[T]):
    def __init__(self, name: str, *models) -> None:
        self.name = name
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        # Writes in open transactions: token -> (deadline, connection that wrote).
        self._unsettled: dict[object, tuple[float, object]] = {}
        for model in models:
            uid = f"brand-cache:{name}:{model._meta.label}"
            post_save.connect(self._on_write, sender=model, dispatch_uid=uid + ":save", weak=False)
            post_delete.connect(self._on_write, sender=model, dispatch_uid=uid + ":delete", weak=False)

    def _on_write(self, sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
        self.invalidate(using=using)

    def invalidate(self, *, using: str = DEFAULT_DB_ALIAS) -> None:
        """Forget everything now; bypass the cache until the writing transaction (if any) ends."""
        connection = connections[using]
        with self._lock:
            self._entries.clear()
            self._generation += 1
            if not connection.in_atomic_block:
                return
            token = object()
            self._unsettled[token] = (time.monotonic() + _UNSETTLED_MAX_SECONDS, connection)
        transaction.on_commit(lambda: self._settle(token), using=using)

    def _settle(self, token: object) -> None:
        with self._lock:
            self._unsettled.pop(token, None)
            self._entries.clear()
            self._generation += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._unsettled.clear()
            self._generation += 1

    def _bypassed(self, now: float) -> bool:
        current = connections[DEFAULT_DB_ALIAS]
        with self._lock:
            for token, (deadline, connection) in list(self._unsettled.items()):
                # This thread's own transaction ended without a commit (rolled back): settled too.
                if deadline <= now or (connection is current and not current.in_atomic_block):
                    del self._unsettled[token]
            return bool(self._unsettled)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        ttl = settings.NOTIFY_BRAND_CACHE_SECONDS
        if ttl <= 0:
            return load()
        now = time.monotonic()
        if self._unsettled and self._bypassed(now):
            return load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        value = load()
        with self._lock:
            # A write while we read: what we read may be older than it, so it is not kept.
            if generation == self._generation and not self._unsettled:
                self._entries[key] = (now + ttl, value)
        return value
