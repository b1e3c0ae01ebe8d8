"""The real processes a benchmark runs: gunicorn, Celery workers, a private redis-server; their memory."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 90.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def start_gunicorn(env: dict, *, port: int, workers: int, threads: int = 1, log=None) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "oms_notify.wsgi",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "-b",
        f"127.0.0.1:{port}",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        # Load the app before forking: when the port answers every worker is ready (on a loaded
        # machine, workers importing Django one by one would otherwise eat the measured seconds).
        "--preload",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT if log else None)
    wait_for_port(port, process=process)
    return process


def start_celery_worker(
    env: dict, *, queues: str, name: str, concurrency: int, pool: str = "prefork", log=None
) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "oms_notify",
        "worker",
        "-Q",
        queues,
        "-n",
        f"{name}@bench",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT if log else None)


def stop(process: subprocess.Popen | None, *, timeout: float = 30.0) -> None:
    """SIGTERM (gunicorn and Celery shut down warm on it), SIGKILL if it does not go in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for child in _tree(process.pid)[1:]:
            child.kill()
        process.kill()
        process.wait(timeout=10)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children (gunicorn master + workers), in bytes."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def program_cpu_seconds(name: str) -> float:
    """User + system CPU of every process whose program is `name` (e.g. "postgres", "redis-server"),
    with the CPU of their children that have exited: a PostgreSQL backend that closes between two
    readings is counted through the postmaster that waited for it."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if process.info["name"] == name and times is not None:
            total += times.user + times.system + times.children_user + times.children_system
    return total


class RedisServer:
    """A redis-server of the benchmark's own on a free loopback port: nobody else's Redis is touched."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server is not installed (apt-get install -y redis-server), or set BENCH_BROKER_URL")
        command = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=10, process=self.process)
        return self

    def stop(self) -> None:
        stop(self.process, timeout=10)
