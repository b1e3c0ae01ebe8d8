"""kombu's Redis transport, keeping one Redis client per channel instead of making one per command.

kombu makes a new `redis.Redis` for every publish, every acknowledgement and every unacked-index
write, and redis-py fills a table of about 165 response callbacks in each constructor (redis-py
issue #3624): about 5% of a worker's CPU, and of every publish the web and the carrier tasks
make. A client holds nothing per call but that table and its connection pool, and redis-py
clients are safe to share between threads, so each channel keeps one per pool and makes a new
one only when kombu replaces the pool (after a connection error).

Chosen by `CELERY_BROKER_TRANSPORT` (oms_notify/settings.py) when the broker is Redis.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _create_client(self, asynchronous: bool = False):
        pool = self.async_pool if asynchronous else self.pool
        cache = self.__dict__.setdefault("_clients", {})
        client = cache.get(asynchronous)
        if client is None or client.connection_pool is not pool:
            client = cache[asynchronous] = super()._create_client(asynchronous=asynchronous)
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
