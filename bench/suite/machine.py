"""What the figures were measured on: hardware, kernel, versions of every server, the commit."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil
import psycopg2
import redis

ROOT = Path(__file__).resolve().parents[2]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command(*args: str) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (result.stdout or result.stderr).strip()


def _git() -> dict:
    # Read-only: the commit, and whether the tree differs from it (the figures are of the tree).
    commit = _command("git", "rev-parse", "HEAD")
    changed = _command("git", "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit or "unknown", "uncommitted_changes": bool(changed)}


def _postgres(database_url: str) -> str:
    try:
        conn = psycopg2.connect(database_url)
    except psycopg2.Error as exc:
        return f"unreachable ({exc.__class__.__name__})"
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]
    finally:
        conn.close()


def _redis(url: str) -> str:
    try:
        return str(redis.Redis.from_url(url).info("server").get("redis_version", "unknown"))
    except redis.RedisError as exc:
        return f"unreachable ({exc.__class__.__name__})"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_describe(*, database_url: str, broker_url: str) -> dict:
    memory = psutil.virtual_memory()
    wrk = _command("wrk", "--version").splitlines()[:1] if shutil.which("wrk") else []
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(memory.total / 1024**3, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "os": _command("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME") or platform.platform(),
        "python": sys.version.split()[0],
        "postgresql": _postgres(database_url),
        "redis": _redis(broker_url),
        "django": _package("django"),
        "celery": _package("celery"),
        "gunicorn": _package("gunicorn"),
        "wrk": wrk[0] if wrk else "not installed",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        **_git(),
    }
