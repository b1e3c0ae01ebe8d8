"""/healthz, /readyz and manage.py health: which part failed, never the shared Redis stopped."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError

from operations import broker, checks
from tests.operations.conftest import QUEUES

pytestmark = pytest.mark.django_db


def beat(client, queues=QUEUES, *, name: str = "w1@host", age: float = 0.0) -> None:
    broker.heartbeat_record(client=client, hostname=name, queues=list(queues), now=time.time() - age)


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ready_on_the_demo_with_broker_and_workers_not_used(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "not used"
    assert body["checks"]["workers"]["status"] == "not used"


def test_readyz_is_ready_with_a_broker_and_a_live_worker_for_every_queue(client, broker_redis):
    beat(broker_redis)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert {c["status"] for c in response.json()["checks"].values()} == {"ok"}


def test_readyz_answers_503_naming_the_broker_while_redis_is_down(client, settings, broker_mode, own_redis):
    settings.CELERY_BROKER_URL = own_redis.url
    beat(broker.broker_client())
    assert client.get("/readyz").status_code == 200

    own_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failed"
    assert body["checks"]["broker"]["status"] == "failed"
    assert "ConnectionError" in body["checks"]["broker"]["detail"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["workers"]["detail"] == "unknown: the broker is unreachable"

    own_redis.start()  # empty again (no persistence): the worker's next heartbeat brings it back
    beat(broker.broker_client())
    assert client.get("/readyz").status_code == 200


def test_readyz_names_the_queue_no_live_worker_serves(client, broker_redis):
    beat(broker_redis, ["critical", "default"])
    response = client.get("/readyz")
    assert response.status_code == 503
    workers = response.json()["checks"]["workers"]
    assert workers["status"] == "failed" and workers["detail"].endswith("no worker for queue(s): bulk")


def test_a_stale_heartbeat_is_not_a_live_worker(client, broker_redis, settings):
    settings.OPS_HEARTBEAT_STALE_SECONDS = 60
    beat(broker_redis, age=61)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no worker heartbeat in the last 60s" in response.json()["checks"]["workers"]["detail"]


def test_heartbeats_of_workers_gone_for_a_day_are_pruned(broker_redis):
    beat(broker_redis, name="old@host", age=90000)
    beat(broker_redis, name="new@host")
    assert set(broker.heartbeats_live(client=broker_redis)) == {"new@host"}
    assert broker_redis.hkeys(broker.HEARTBEATS_KEY) == [b"new@host"]


def test_readyz_names_the_database_when_it_fails(client, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    def down():
        raise OperationalError('connection to server at "db" failed: Connection refused')

    monkeypatch.setitem(checks.CHECKS, "database", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "status": "failed",
        "detail": 'OperationalError: connection to server at "db" failed: Connection refused',
        "ms": response.json()["checks"]["database"]["ms"],
    }


def test_the_health_command_prints_each_check_and_exits_zero_when_ready(broker_redis, capsys):
    beat(broker_redis)
    call_command("health")
    out = capsys.readouterr().out
    assert "database   ok" in out and "broker     ok" in out and "workers    ok" in out
    assert out.rstrip().endswith("ready: yes")


def test_the_health_command_exits_non_zero_and_names_the_broker_when_redis_is_down(
    settings, broker_mode, own_redis, capsys
):
    settings.CELERY_BROKER_URL = own_redis.url
    own_redis.stop()
    with pytest.raises(CommandError) as failure:
        call_command("health", "--json")
    assert failure.value.returncode == 1
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "failed" and body["checks"]["broker"]["status"] == "failed"


def test_a_real_worker_records_a_heartbeat_for_its_queues_and_forgets_it_when_it_stops(client, real_worker):
    from tests.operations.conftest import wait_for

    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=20)
    workers = client.get("/readyz").json()["checks"]["workers"]
    assert workers["detail"] == "1 live worker(s) for bulk, critical, default"

    real_worker["process"].terminate()
    real_worker["process"].wait(timeout=15)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"]["detail"].startswith("no worker heartbeat")
