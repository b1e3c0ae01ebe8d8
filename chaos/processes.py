"""The real services of a chaos run, each one a process the harness can kill and bring back.

A Redis server of its own (never the shared one), gunicorn serving the webhooks, and the Celery
workers as production runs them: a dedicated `critical` worker and one for `default,bulk`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args[0]} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def _stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class RedisServer:
    """`redis-server` on a free loopback port, no persistence: a restart loses every queued message."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, 10, self.process)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def restart(self, down_seconds: float) -> None:
        """Down hard (SIGKILL, like a crashed host), stay down a moment, come back empty."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1


class Gunicorn:
    def __init__(self, env: dict, log: Path, *, workers: int = 2, threads: int = 4) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.workers, self.threads = workers, threads
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "oms_notify.wsgi", "-w", str(self.workers),
             "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "--graceful-timeout", "10"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, 60, self.process)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


class Worker:
    """One Celery worker (threads pool: the work is I/O bound). SIGKILL takes its in-flight tasks down."""

    def __init__(self, name: str, queues: str, env: dict, log: Path, *, concurrency: int) -> None:
        self.name, self.queues, self.env, self.log, self.concurrency = name, queues, env, log, concurrency
        self.process: subprocess.Popen | None = None
        self.kills: list[float] = []  # time.monotonic() of each SIGKILL
        self.crashes: list[dict] = []  # exits nobody asked for (the supervisor restarted them)
        self.lock = threading.Lock()

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "oms_notify", "worker", "-Q", self.queues, "--pool", "threads",
             "--concurrency", str(self.concurrency), "--hostname", f"{self.name}@chaos", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", os.environ.get("CHAOS_WORKER_LOG_LEVEL", "WARNING")],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, broker_url: str, timeout: float = 60.0) -> None:
        """Until the worker answers a ping (a process that died meanwhile is the supervisor's business).

        Its own app object: kombu connections are not to be shared across threads.
        """
        from celery import Celery

        probe = Celery("chaos-probe", broker=broker_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    if probe.control.ping(destination=[f"{self.name}@chaos"], timeout=0.5):
                        return
                except Exception:  # noqa: BLE001 - the broker may be restarting
                    pass
                time.sleep(0.2)
        finally:
            probe.close()
        raise RuntimeError(f"worker {self.name} did not answer in {timeout:.0f} s")

    def kill(self) -> None:
        with self.lock:
            assert self.process is not None
            self.kills.append(time.monotonic())
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def restart_if_dead(self) -> bool:
        """What systemd's Restart=always does: a worker that exited by itself is started again."""
        with self.lock:
            if self.process is None or self.process.poll() is None:
                return False
            self.crashes.append({"at": time.monotonic(), "exit_code": self.process.returncode})
            self.start()
            return True

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, timeout=30)
            self.process = None


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="oms-chaos-"))


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrations_fingerprint() -> str:
    """Changes whenever a migration file is added, removed or edited: names the template database."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        if ".venv" in path.parts:
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def scratch_from_template(database_url: str, name: str, migrate) -> tuple[str, bool]:
    """A scratch database cloned from a migrated template (made once per set of migrations).

    Migrating a fresh database costs tens of seconds on a busy machine; cloning one costs one.
    The template is built under a temporary name and renamed when complete, so a half-built one
    is never cloned; nobody connects to it afterwards, which CREATE ... TEMPLATE requires.
    Returns (url, whether the template had to be built).
    """
    import psycopg2
    from psycopg2 import sql

    sys.path.insert(0, str(ROOT / "bench"))
    from scratch import create_database, drop_database, run_admin, server_url

    template = f"oms_chaos_template_{migrations_fingerprint()}"
    conn = psycopg2.connect(server_url(database_url, "postgres"))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            exists = cursor.fetchone() is not None
    finally:
        conn.close()
    built = False
    if not exists:
        building = f"{template}_b{os.getpid()}"
        migrate(create_database(database_url, building))
        try:
            run_admin(database_url, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(template)))  # fmt: skip
            built = True
        except psycopg2.Error:  # another run finished its template first: use that one
            drop_database(database_url, building)
    run_admin(database_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)))  # fmt: skip
    return server_url(database_url, name), built
