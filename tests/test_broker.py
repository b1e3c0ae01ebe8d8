"""The Redis broker transport keeps one client per channel (oms_notify/broker.py)."""

from __future__ import annotations

import pytest
from django.conf import settings
from kombu import Connection

from oms_notify.broker import Transport
from oms_notify.celery import app


@pytest.fixture
def channel():
    with Connection(settings.CELERY_BROKER_URL, transport=Transport) as conn:
        chan = conn.channel()
        yield chan
        chan.close()


def test_the_celery_app_uses_it_for_a_redis_broker():
    assert app.connection_for_write().transport_cls == "oms_notify.broker:Transport"
    assert isinstance(app.connection_for_write().transport, Transport)


def test_a_channel_makes_one_client_per_pool_instead_of_one_per_command(channel):
    # kombu asks for a client for every publish, acknowledgement and unacked-index write.
    with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
        assert first is second
    assert channel._create_client(asynchronous=True) is not channel._create_client()  # each pool its own


def test_a_new_pool_after_a_connection_error_gets_a_new_client(channel):
    before = channel._create_client()
    channel._disconnect_pools()  # what kombu does when the connection breaks
    after = channel._create_client()
    assert after is not before and after.connection_pool is channel.pool
    assert after.ping()


def test_messages_still_go_through_and_are_acknowledged():
    with Connection(settings.CELERY_BROKER_URL, transport=Transport) as conn:
        queue = conn.SimpleQueue("oms-broker-test")
        try:
            for i in range(3):
                queue.put({"n": i})
            got = []
            for _ in range(3):
                message = queue.get(timeout=5)
                got.append(message.payload["n"])
                message.ack()
            assert got == [0, 1, 2]
            assert conn.default_channel.client.hlen(conn.default_channel.unacked_key) == 0
        finally:
            queue.clear()
            queue.close()
