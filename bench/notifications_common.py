"""Shared plumbing of the notifications benchmarks: a scratch database, a fake provider, real workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import create_database, drop_database  # noqa: E402 - bench/ is the script directory

TWILIO_SID = "AC" + "b" * 32
TWILIO_TOKEN = "bench-twilio-token"


@contextmanager
def scratch_database(prefix: str):
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        sys.exit("set DATABASE_URL to the PostgreSQL server to use (a scratch database is made on it)")
    name = f"{prefix}_{os.getpid()}"
    url = create_database(database_url, name)
    try:
        yield url
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        drop_database(database_url, name)


def configure(scratch_url: str, fake_url: str, extra: dict | None = None) -> dict:
    """Production settings (not eager), pointed at the scratch database, the bench broker and the fake."""
    env = {
        "DATABASE_URL": scratch_url,
        "DJANGO_SETTINGS_MODULE": "oms_notify.settings",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key"),
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1",
        "SITE_URL": "https://track.example.test",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": "+15017122661",
        "TWILIO_API_BASE_URL": fake_url,
        "TWILIO_REGION": "",
        "TWILIO_EDGE": "",
        **(extra or {}),
    }
    for name in ("TWILIO_REGION", "TWILIO_EDGE"):
        os.environ.pop(name, None)
        env.pop(name)
    os.environ.update(env)
    return env


def start_worker(
    queues: str, *, pool: str = "threads", concurrency: int = 32, log: Path, name: str = "bench"
) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - lives as long as the worker
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "oms_notify", "worker", "-Q", queues,
            "--pool", pool, "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return worker


def wait_ready(app, worker: subprocess.Popen, timeout: float = 180.0, name: str = "bench") -> None:
    # Generous: on a machine other sessions load (load average 30+) a worker's start-up alone took > 30 s.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            sys.exit("the worker died at start-up")
        try:
            answers = app.control.ping(timeout=0.5) or []
            if any(host.startswith(f"{name}@") for answer in answers for host in answer):
                return
        except Exception:  # noqa: BLE001 - broker not answering yet
            pass
        time.sleep(0.2)
    sys.exit("the worker did not answer in time")


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def cut(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {"p50": cut(50), "p95": cut(95), "p99": cut(99), "max": ordered[-1]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc): what the work costs, whatever else runs."""
    import os as _os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (Linux /proc/stat, all cores, idle and I/O
    wait left out): the workers, PostgreSQL, Redis, the fake provider and the kernel's share."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())
