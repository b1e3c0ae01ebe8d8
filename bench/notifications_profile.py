"""CPU and queries per message and per carrier event, in one process, no Celery. A benchmark, not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/notifications_profile.py

Wall-clock rates on a shared machine say how much CPU the workers got; the CPU one unit of work
costs does not depend on that, so this script measures it directly (`time.thread_time`: the
calling thread's CPU only, the provider fake runs in another thread), the CPU of the PostgreSQL
server process serving it, and the number of SQL statements, for the two halves of the path:
- `notification_dispatch` of a pending SMS notification (claim, checks, render, Twilio over HTTP to
  the fake in another thread, attempt row, sent);
- one carrier event (a stored `generic` webhook, out for delivery) through
  `carriers.services.raw_webhook_process`: dedupe, shipment and order moves, audit rows, domain
  events, the notification rows and their enqueue on the broker (BENCH_BROKER_URL, purged).
`--profile` adds cProfile's top functions by cumulative time for each half.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time
from pathlib import Path

from notifications_common import TWILIO_SID, TWILIO_TOKEN, configure, cpu_seconds, load_average, scratch_database

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument("--sql", action="store_true", help="print the statements of one message and one event")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    args = parser.parse_args()

    from tests.fakes.providers import FakeTwilio

    fake = FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN).start()
    fake.latency = 0.0
    with scratch_database("oms_bench_notif_prof") as url:
        configure(
            url,
            fake.url,
            {"CARRIER_GENERIC_WEBHOOK_SECRET": SECRET, "CARRIER_PROCESS_INLINE": "false"},
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        figures = run(args)
    fake.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def _backend_pid(connection) -> int:
    """The PostgreSQL server process of this connection (same machine): its CPU is the database's share."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _measure(label: str, items: list, work, *, warmup: int, profile: bool, sql: bool = False) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for item in items[: warmup - 1]:
        work(item)
    with CaptureQueriesContext(connection) as one:
        work(items[warmup - 1])
    if sql:
        for query in one.captured_queries:
            print("   ", query["sql"][:300])
    measured = items[warmup:]
    # Profiled on CPU time, not wall time: waits for PostgreSQL or a busy machine are not our cost.
    profiler = cProfile.Profile(time.thread_time) if profile else None
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    backend = _backend_pid(connection)
    with connection.execute_wrapper(count):
        cpu0, db0, wall0 = time.thread_time(), cpu_seconds(backend), time.perf_counter()
        if profiler:
            profiler.enable()
        for item in measured:
            work(item)
        if profiler:
            profiler.disable()
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        db = cpu_seconds(backend) - db0
    result = {
        "count": len(measured),
        "cpu_ms": round(cpu / len(measured) * 1000, 3),
        "db_cpu_ms": round(db / len(measured) * 1000, 3),
        "wall_ms": round(wall / len(measured) * 1000, 3),
        "queries": round(statements[0] / len(measured), 2),
    }
    print(
        f"{label:<44} {result['cpu_ms']:>7.2f} ms CPU  {result['db_cpu_ms']:>5.2f} ms PostgreSQL CPU"
        f"  {result['wall_ms']:>7.2f} ms wall  {result['queries']:>5} queries"
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
    return result


def run(args) -> dict:
    import redis
    from django.conf import settings
    from django.db import connection

    # Reused set-up of the other two benchmarks: the same data, the same paths.
    from notifications_latency import _orders, _webhook
    from notifications_throughput import _seed

    from carriers import services as carrier_services
    from notifications.models import Notification
    from notifications.services import notification_dispatch

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    connection.ensure_connection()
    figures: dict = {"load_average": load_average(), "cores": os.cpu_count()}

    ids = _seed(args.messages + args.warmup)
    figures["dispatch"] = _measure(
        "notification_dispatch (SMS, Twilio fake)",
        ids,
        lambda pk: notification_dispatch(notification_id=pk),
        warmup=args.warmup,
        profile=args.profile,
        sql=args.sql,
    )
    assert Notification.objects.filter(pk__in=ids, status="sent").count() == len(ids), "not every message was sent"

    print(f"registering {args.events + args.warmup} dispatched orders ...", flush=True)
    orders = _orders(args.events + args.warmup)
    broker.flushdb()
    payloads = [_webhook(tracking, i) for i, (_, tracking) in enumerate(orders)]

    def apply(i: int) -> None:
        body, headers = payloads[i]
        raw = carrier_services.raw_webhook_store(carrier="generic", body=body, headers=headers)
        outcome = carrier_services.raw_webhook_process(raw_id=raw.pk)
        assert outcome.applied == 1, outcome

    before = Notification.objects.count()
    figures["carrier_event"] = _measure(
        "carrier event (store + process, out for delivery)",
        list(range(len(orders))),
        apply,
        warmup=args.warmup,
        profile=args.profile,
        sql=args.sql,
    )
    figures["notifications_per_event"] = round((Notification.objects.count() - before) / len(orders), 2)
    print(f"notification rows per event: {figures['notifications_per_event']}; load average {figures['load_average']}")
    broker.flushdb()
    return figures


if __name__ == "__main__":
    main()
