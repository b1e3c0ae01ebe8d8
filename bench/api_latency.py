"""Latency of the orders API through the whole Django stack, on PostgreSQL. A benchmark, not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/api_latency.py --requests 300

What it does:
- creates a scratch database `oms_bench_<pid>` on the server named by DATABASE_URL (only the server
  and credentials are used), migrates it, and drops it at the end, also after a failure;
- sends every request through django.test.Client with `Authorization: Token ...`: middleware,
  token auth, throttling, permissions, serializers, services, PostgreSQL. No socket and no WSGI
  server, so the figures leave out HTTP parsing and network time;
- runs Celery as production does (not eager): tasks go to the broker at BENCH_BROKER_URL (default
  Redis db 1), which is purged at the end; no worker consumes them during the run;
- times N creates (POST /api/v1/orders/, two lines each), N reads (GET one order) and N
  transitions (POST .../transitions/ confirm), one at a time, after a short warm-up, and prints
  p50/p95/p99/max in milliseconds and requests per second for each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from scratch import create_database, drop_database  # bench/ is the script directory

ROOT = Path(__file__).resolve().parent.parent
MAX_REQUESTS = 5000
WARM_UP = 10


def _configure(scratch_url: str) -> None:
    os.environ["DATABASE_URL"] = scratch_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "oms_notify.settings"
    os.environ["DJANGO_READ_DOT_ENV_FILE"] = "false"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/1")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    # The throttle still runs on every request; it must not refuse the benchmark itself.
    os.environ["API_THROTTLE_RATE"] = "1000000/min"
    sys.path.insert(0, str(ROOT))


def _order_body(i: int) -> dict:
    return {
        "source": "bench",
        "external_id": f"B-{i}",
        "customer": {"name": f"Customer {i}", "email": f"c{i}@bench.example", "phone": "+14155550123"},
        "shipping_address": {
            "line1": f"{i} Main St",
            "city": "New York",
            "postcode": "10001",
            "country": "US",
            "latitude": 40.7,
            "longitude": -74.0,
        },
        "lines": [
            {"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"},
            {"sku": "TEA-2", "name": "Tea", "quantity": 3, "unit_price": "4.50"},
        ],
        "currency": "USD",
    }


def _timed(label: str, count: int, call: Callable[[int], object], expected: int) -> tuple[str, list[float], float]:
    durations: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        response = call(i)
        durations.append(time.perf_counter() - t0)
        if response.status_code != expected:
            raise SystemExit(f"{label} #{i}: HTTP {response.status_code} {response.content[:300]!r}")
    return label, durations, time.perf_counter() - started


def _report(rows: list[tuple[str, list[float], float]]) -> None:
    print(f"{'operation':<12}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}")
    for label, durations, wall in rows:
        cuts = statistics.quantiles([d * 1000 for d in durations], n=100, method="inclusive")
        print(
            f"{label:<12}{len(durations):>6}{cuts[49]:>9.1f}{cuts[94]:>9.1f}{cuts[98]:>9.1f}"
            f"{max(durations) * 1000:>9.1f}{len(durations) / wall:>9.0f}"
        )


def run(requests: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from oms_notify.celery import app as celery_app
    from orders.groups import INTEGRATIONS

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench-wms")
    user.groups.add(Group.objects.get(name=INTEGRATIONS))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    numbers: list[str] = []

    def create(i: int):
        response = client.post("/api/v1/orders/", _order_body(i), content_type="application/json")
        if response.status_code == 201:
            numbers.append(response.json()["number"])
        return response

    def read(i: int):
        return client.get(f"/api/v1/orders/{numbers[i]}/")

    def confirm(i: int):
        return client.post(
            f"/api/v1/orders/{numbers[i]}/transitions/", {"transition": "confirm"}, content_type="application/json"
        )

    with connection.cursor() as cursor:
        cursor.execute("select version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    try:
        _timed("warm-up", WARM_UP, lambda i: create(MAX_REQUESTS + i), 201)
        numbers.clear()
        rows = [
            _timed("create", requests, create, 201),
            _timed("read", requests, read, 200),
            _timed("transition", requests, confirm, 200),
        ]
    finally:
        celery_app.control.purge()  # the tasks the run enqueued; nobody will consume them
        connection.close()
    print(f"django.test.Client, token auth, {server}, one request at a time")
    _report(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help=f"per operation, at most {MAX_REQUESTS}")
    args = parser.parse_args()
    if not 10 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 10 and {MAX_REQUESTS}")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        parser.error("set DATABASE_URL to the PostgreSQL server to use (a scratch database is made on it)")

    scratch = f"oms_bench_{os.getpid()}"
    scratch_url = create_database(database_url, scratch)
    try:
        _configure(scratch_url)
        run(args.requests)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(database_url, scratch)


if __name__ == "__main__":
    main()
