"""Notifications dispatched per second against a provider answering in 50 ms. A benchmark, not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/notifications_throughput.py

What it does:
- makes a scratch database `oms_bench_notif_<pid>` on the server of DATABASE_URL, migrates it,
  creates one order and --messages SMS notifications (pending, not yet rendered), drops it at the end;
- starts the Twilio fake (tests/fakes) on loopback, answering every request after --latency ms;
- starts one real Celery worker process (`--pool threads`, --concurrency threads: I/O concurrency in
  one process, not more processes) on the broker BENCH_BROKER_URL (default Redis db 6, purged);
- run 1, the baseline: fills the queue with --messages no-op tasks (Celery's built-in
  `celery.accumulate`) while the worker is not consuming it, then times from `add_consumer` until
  the queue is drained;
- run 2, the same way: one `send_notification` per row, timed until every row is `sent`: each task
  claims the row, renders it (Babel, GSM-7), calls the official Twilio SDK over HTTP, records the
  attempt and the provider id in PostgreSQL;
- prints both rates and checks that the fake received exactly one request per notification
  (--json PATH writes them too: msgs_per_s, noop_tasks_per_s, cpu_ms_per_msg, duplicates ...).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from notifications_common import (
    TWILIO_SID,
    TWILIO_TOKEN,
    configure,
    cpu_seconds,
    load_average,
    machine_busy_seconds,
    scratch_database,
    start_worker,
    stop_worker,
    wait_ready,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=50.0, help="the fake provider's answer time, ms")
    parser.add_argument("--concurrency", type=int, default=48, help="threads per worker process")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (one per core at most)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file (JSON)")
    args = parser.parse_args()

    from tests.fakes.providers import FakeTwilio

    fake = FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN).start()
    fake.latency = args.latency / 1000
    with scratch_database("oms_bench_notif") as url:
        configure(url, fake.url)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args, fake)
    fake.stop()


def _seed(count: int) -> list[int]:
    from decimal import Decimal

    from notifications.models import Notification
    from notifications.preferences import preferences_for
    from orders import services
    from orders.models import Customer

    order, _ = services.order_create(
        source="bench",
        external_id="T-1",
        customer={"name": "Bench Customer", "email": "b@bench.example", "phone": "+14155550123"},
        shipping_address={"line1": "1 Main St", "city": "New York", "postcode": "10001", "country": "US"},
        lines=[services.LineIn(sku="S", name="Item", quantity=1, unit_price=Decimal("9.99"))],
        currency="USD",
    )
    Customer.objects.filter(pk=order.customer_id).update(consent_sms=True)
    prefs = preferences_for(order.customer)
    prefs.quiet_hours_enabled = False
    prefs.save()
    rows = [
        Notification(
            idempotency_key=f"bench:{i}",
            order=order,
            customer=order.customer,
            event="order_dispatched",
            audience="customer",
            channel="sms",
            provider="twilio",
            recipient="+14155550123",
            queue="default",
        )
        for i in range(count)
    ]
    return [n.pk for n in Notification.objects.bulk_create(rows, batch_size=1000)]


def run(args, fake) -> None:
    import redis
    from django.conf import settings
    from django.db import connection

    from notifications.models import Notification
    from notifications.tasks import send_notification
    from oms_notify.celery import app

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    ids = _seed(args.messages)
    connection.close()
    logs = Path(tempfile.mkdtemp())
    log = logs / "worker-0.log"
    workers = [
        start_worker("bench,default", concurrency=args.concurrency, log=logs / f"worker-{i}.log", name=f"bench{i}")
        for i in range(args.processes)
    ]

    def cpu() -> float:
        return sum(cpu_seconds(w.pid) for w in workers)

    try:
        for i, w in enumerate(workers):
            wait_ready(app, w, name=f"bench{i}")
        # The queue is filled while the worker does not consume it, so the clock measures the
        # worker alone, not how fast one client can enqueue.
        app.control.cancel_consumer("bench", reply=True)
        app.control.cancel_consumer("default", reply=True)
        for _ in range(args.messages):
            app.send_task("celery.accumulate", args=[1], queue="bench")
        cpu0, started = cpu(), time.perf_counter()
        app.control.add_consumer("bench", reply=True)
        while broker.llen("bench") or broker.hlen("unacked"):
            time.sleep(0.01)
        noop_rate = args.messages / (time.perf_counter() - started)
        noop_cpu = (cpu() - cpu0) / args.messages * 1000

        t0 = time.perf_counter()
        for pk in ids:
            send_notification.apply_async(args=[pk], queue="default")
        enqueued = time.perf_counter() - t0
        cpu0, busy0, started = cpu(), machine_busy_seconds(), time.perf_counter()
        app.control.add_consumer("default", reply=True)
        # Waiting must not compete with the workers for the 2 cores: first on the fake's own count
        # (in memory), then on an indexed count (the scratch database holds only these rows).
        sent = Notification.objects.filter(status=Notification.Status.SENT)
        while len(fake.requests) < len(ids) or sent.count() < len(ids):
            if time.perf_counter() - started > 600:
                raise SystemExit("not all sent within 10 minutes: see " + str(log))
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        send_cpu = (cpu() - cpu0) / args.messages * 1000
        machine_cpu = (machine_busy_seconds() - busy0) / args.messages * 1000
        load = load_average()
    finally:
        for w in workers:
            stop_worker(w)
        broker.flushdb()
    sends = [r for r in fake.requests if r.path.endswith("/Messages.json")]
    print(
        f"workers: {args.processes} process(es), --pool threads --concurrency {args.concurrency}; "
        f"fake Twilio answers in {args.latency:.0f} ms; broker {settings.CELERY_BROKER_URL}"
    )
    print(f"machine: {os.cpu_count()} cores, load average {load} at the end (other processes share them)")
    print(
        f"no-op task (celery.accumulate)   {args.messages:>6} tasks  {noop_rate:>8.0f} tasks/s"
        f"          {noop_cpu:>6.2f} ms CPU each"
    )
    print(
        f"send_notification (Twilio SDK)   {args.messages:>6} sent   {args.messages / elapsed:>8.0f} notifications/s"
        f"  {send_cpu:>6.2f} ms CPU each  (enqueueing them took {enqueued:.2f} s, not timed)"
    )
    print(
        f"all CPU per notification (workers, PostgreSQL, Redis, the fake, the kernel): {machine_cpu:.2f} ms; "
        f"{os.cpu_count()} cores allow {os.cpu_count() * 1000 / machine_cpu:.0f} notifications/s at that cost"
    )
    print(
        f"CPU-bound ceiling: {1000 / send_cpu:.0f} notifications/s per core the workers get "
        f"(no-op: {1000 / noop_cpu:.0f} tasks/s)"
    )
    duplicates = len(sends) - args.messages
    print(f"provider requests: {len(sends)} for {args.messages} notifications (duplicates: {duplicates})")
    if args.json:
        figures = {
            "benchmark": "notifications_throughput",
            "messages": args.messages,
            "processes": args.processes,
            "threads_per_process": args.concurrency,
            "provider_latency_ms": args.latency,
            "msgs_per_s": round(args.messages / elapsed, 1),
            "cpu_ms_per_msg": round(send_cpu, 3),
            "machine_cpu_ms_per_msg": round(machine_cpu, 3),
            "noop_tasks_per_s": round(noop_rate, 1),
            "noop_cpu_ms_per_task": round(noop_cpu, 3),
            "provider_requests": len(sends),
            "duplicates": duplicates,
            "cores": os.cpu_count(),
            "load_average": load,
        }
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
