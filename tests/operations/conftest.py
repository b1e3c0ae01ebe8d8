"""Fixtures: our own redis-server (the shared one is never stopped), a broker-backed setup, a real worker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from oms_notify.celery import app as celery_app
from operations import broker
from tests.notifications.conftest import _no_providers, sendgrid, twilio  # noqa: F401 - shared fixtures

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ["critical", "default", "bulk"]


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server process of this test's own, on a free port: it may be stopped and started."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        wait_for(lambda: self._pings(client), timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @staticmethod
    def _pings(client) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker_mode(settings):
    """Tasks go through a broker (not eager), so readiness asks for the broker and the workers."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.OPS_CHECK_TIMEOUT_SECONDS = 0.5
    return settings


@pytest.fixture
def broker_redis(broker_mode):
    """The suite's own Redis database for this worker (TEST_REDIS_URL), emptied of our keys after."""
    client = broker.broker_client()
    client.delete(broker.HEARTBEATS_KEY, *QUEUES, "unacked")
    yield client
    client.delete(broker.HEARTBEATS_KEY, *QUEUES, "unacked", *(f"{q}\x06\x16{p}" for q in QUEUES for p in (3, 6, 9)))


@pytest.fixture
def real_worker(transactional_db, tmp_path, broker_mode):
    """A real Celery worker (solo pool) with prometheus_client's multiprocess mode on."""
    client = broker.broker_client()
    client.flushdb()  # this xdist worker's own Redis database
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "OPS_HEARTBEAT_SECONDS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "oms_notify", "worker", "-Q", ",".join(QUEUES)]
    command += ["--pool", "solo", "--without-gossip", "--without-mingle", "-n", f"ops-test-{os.getpid()}@%h"]
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Ready when its first heartbeat lands (that is what the test is about anyway).
        wait_for(lambda: client.hlen(broker.HEARTBEATS_KEY) or worker.poll() is not None, timeout=60)
        assert worker.poll() is None, log_path.read_text()
        # The app's conf was read from settings once (eager, in the suite): send to the broker now.
        celery_app.conf.task_always_eager = False
        yield {"process": worker, "log": log_path, "metrics_dir": metrics_dir}
    finally:
        celery_app.conf.task_always_eager = True
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        client.flushdb()
