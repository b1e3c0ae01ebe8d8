"""The broker's Redis, as the probes and the metrics see it: short timeouts, one client per URL."""

from __future__ import annotations

import json
import time
from functools import lru_cache

import redis
from django.conf import settings

HEARTBEATS_KEY = "oms:operations:worker_heartbeats"
# kombu's Redis transport keeps priorities 3, 6 and 9 in sibling lists named queue + sep + priority.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED_KEY = "unacked"


def broker_in_use() -> bool:
    """Eager mode (the demo) runs tasks in-process: no broker and no worker take part."""
    return not settings.CELERY_TASK_ALWAYS_EAGER


def is_redis_url(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


@lru_cache(maxsize=8)
def _client_for(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def broker_client() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if not is_redis_url(url):
        return None
    return _client_for(url, float(settings.OPS_CHECK_TIMEOUT_SECONDS))


def _prefix() -> str:
    return (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("global_keyprefix", "") or ""


def queue_depths(client: redis.Redis, queues: list[str]) -> dict[str, int]:
    """Messages waiting per queue (all priorities), plus "unacked": taken by a worker, not acked yet."""
    prefix = _prefix()
    names: list[tuple[str, str]] = []
    for queue in queues:
        names.append((queue, prefix + queue))
        names.extend((queue, f"{prefix}{queue}{_PRIORITY_SEP}{p}") for p in _PRIORITY_STEPS)
    with client.pipeline(transaction=False) as pipe:
        for _queue, key in names:
            pipe.llen(key)
        pipe.hlen(prefix + _UNACKED_KEY)
        sizes = pipe.execute()
    depths = dict.fromkeys(queues, 0)
    for (queue, _key), size in zip(names, sizes[:-1], strict=True):
        depths[queue] += int(size)
    depths["unacked"] = int(sizes[-1])
    return depths


# --- worker heartbeats -------------------------------------------------------------------------


def heartbeat_record(*, client: redis.Redis, hostname: str, queues: list[str], now: float | None = None) -> None:
    """One field per worker in one hash: readiness reads it with a single HGETALL."""
    now = time.time() if now is None else now
    client.hset(HEARTBEATS_KEY, hostname, json.dumps({"at": now, "queues": sorted(queues)}))


def heartbeat_forget(*, client: redis.Redis, hostname: str) -> None:
    client.hdel(HEARTBEATS_KEY, hostname)


def heartbeats_live(*, client: redis.Redis, now: float | None = None) -> dict[str, dict]:
    """Workers whose last heartbeat is fresh; entries of workers gone for a day are pruned."""
    now = time.time() if now is None else now
    stale_after = settings.OPS_HEARTBEAT_STALE_SECONDS
    live: dict[str, dict] = {}
    gone: list[str] = []
    for raw_name, raw_value in client.hgetall(HEARTBEATS_KEY).items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        try:
            beat = json.loads(raw_value)
            age = now - float(beat["at"])
        except (ValueError, KeyError, TypeError):
            gone.append(name)
            continue
        if age <= stale_after:
            live[name] = {"age": round(age, 1), "queues": list(beat.get("queues", []))}
        elif age > 86400:
            gone.append(name)
    if gone:
        client.hdel(HEARTBEATS_KEY, *gone)
    return live
