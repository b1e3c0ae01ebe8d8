"""Latency from a carrier webhook received to the SMS request arriving at the provider. A benchmark, not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/notifications_latency.py

What it does:
- makes a scratch database `oms_bench_notif_lat_<pid>` on the server of DATABASE_URL, migrates it and
  registers --events dispatched orders through the orders services (customers consented to SMS,
  quiet hours off); drops it at the end;
- starts the Twilio fake (tests/fakes) on loopback, answering in --provider-ms, and real Celery
  workers on BENCH_BROKER_URL (default Redis db 6, purged): --layout shared, --processes workers
  `-Q critical,default,bulk --pool threads`; --layout production, the README's: --critical-processes
  on `critical` (one prefork worker, or that many solo workers with --critical-pool solo) and one
  `-Q default,bulk --pool threads` worker;
- at a steady --rate (default 100 events/s, from --clients threads) posts one signed `generic` carrier webhook per order
  ("out_for_delivery") through the whole Django stack (django.test.Client: middleware, signature
  check, raw store, parse), as production runs it: with a broker the view answers 202 and the worker
  applies the event (CARRIER_PROCESS_INLINE=false; --inline applies it inside the request);
- the first --warmup seconds of events (3 s by default) are sent on the same schedule but not
  measured: new worker threads open their PostgreSQL connections and prepare their statements
  then, which is a deploy's cost, not the steady state's;
- the clock starts at the event's slot in the schedule (so a sender running late counts against
  the figure) and stops when the fake receives the order's SMS (Twilio SDK request); prints
  p50/p95/p99/max, how many arrived and how many SMS per second arrived while the load lasted, and
  the CPU per event of each program (--json PATH writes them too).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from notifications_common import (
    TWILIO_SID,
    TWILIO_TOKEN,
    configure,
    cpu_seconds,
    load_average,
    machine_busy_seconds,
    percentiles,
    scratch_database,
    start_worker,
    stop_worker,
    wait_ready,
)
from suite.processes import program_cpu_seconds, tree_cpu_seconds

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NUMBER = re.compile(r"ORD-\d+")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500, help="events measured")
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds of events at the same rate before the measured ones (not measured: new workers "
        "open their connections and prepare their statements then)",
    )
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second")
    parser.add_argument("--provider-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32, help="worker threads (per process)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (one per core at most)")
    parser.add_argument(
        "--layout",
        choices=["shared", "production"],
        default="shared",
        help="shared: --processes thread-pool workers on every queue; production: the README's layout, a "
        "worker with --critical-processes children (--critical-pool) on `critical` (carrier events) and one "
        "thread-pool worker (--concurrency threads) on `default,bulk` (messages)",
    )
    parser.add_argument("--critical-processes", type=int, default=2, help="processes applying carrier events")
    parser.add_argument(
        "--critical-pool",
        choices=["prefork", "solo"],
        default="prefork",
        help="prefork: one worker with --critical-processes children; solo: that many workers of one process",
    )
    parser.add_argument("--inline", action="store_true", help="apply the carrier event inside the request")
    parser.add_argument("--clients", type=int, default=4, help="threads posting webhooks (to hold the rate)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file (JSON)")
    args = parser.parse_args()

    from tests.fakes.providers import FakeTwilio

    fake = FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN).start()
    fake.latency = args.provider_ms / 1000
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    def arrived(request) -> None:
        found = NUMBER.search(request.field("Body"))
        if found:
            with lock:
                arrivals.setdefault(found.group(0), time.perf_counter())

    fake.on_request = arrived
    with scratch_database("oms_bench_notif_lat") as url:
        configure(
            url,
            fake.url,
            {
                "CARRIER_GENERIC_WEBHOOK_SECRET": SECRET,
                "CARRIER_PROCESS_INLINE": "true" if args.inline else "false",
                "FIELD_ENCRYPTION_KEY": "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c=",
            },
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args, arrivals)
    fake.stop()


def _orders(count: int) -> list[tuple[str, str]]:
    from decimal import Decimal

    from notifications.preferences import preferences_for
    from orders import services
    from orders.models import Customer

    made = []
    for i in range(count):
        order, _ = services.order_create(
            source="bench",
            external_id=f"L-{i}",
            customer={"name": f"Customer {i}", "email": f"c{i}@bench.example", "phone": "+14155550123"},
            shipping_address={"line1": f"{i} Main St", "city": "New York", "postcode": "10001", "country": "US"},
            lines=[services.LineIn(sku="S", name="Item", quantity=1, unit_price=Decimal("9.99"))],
            currency="USD",
            inventory_allocated=True,
        )
        Customer.objects.filter(pk=order.customer_id).update(consent_sms=True)
        prefs = preferences_for(order.customer)
        prefs.quiet_hours_enabled = False
        prefs.save()
        services.order_transition(order=order, transition="confirm", source="bench")
        tracking = f"1ZLAT{i:08d}"
        services.shipment_create(order=order, carrier="ups", tracking_number=tracking, source="bench")
        services.order_transition(order=order, transition="dispatch", source="bench")
        made.append((order.number, tracking))
    return made


def _webhook(tracking: str, i: int) -> tuple[bytes, dict]:
    from carriers.adapters import generic

    body = json.dumps(
        {
            "events": [
                {
                    "event_id": f"lat-{i}",
                    "carrier": "ups",
                    "tracking_number": tracking,
                    "status": "out_for_delivery",
                    "occurred_at": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
                }
            ]
        }
    ).encode()
    stamp = int(time.time())
    msg_id = f"msg_lat_{i}"
    return body, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": generic.sign(SECRET, msg_id, stamp, body),
    }


def run(args, arrivals: dict[str, float]) -> None:
    import redis
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from oms_notify.celery import app

    warm = int(args.warmup * args.rate)
    print(f"registering {warm} + {args.events} dispatched orders ...", flush=True)
    orders = _orders(warm + args.events)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()  # the set-up's own messages: not part of the measurement
    connection.close()
    logs = Path(tempfile.mkdtemp())
    # (queues, pool, concurrency) per worker process, and which share of the CPU split it counts in.
    if args.layout == "production":
        critical = [("critical", args.critical_pool, args.critical_processes)]
        if args.critical_pool == "solo":  # one process per slot: no pool parent between broker and task
            critical = [("critical", "solo", 1)] * args.critical_processes
        plan = [(*c, "critical worker") for c in critical]
        plan.append(("default,bulk", "threads", args.concurrency, "default worker"))
        layout = (
            f"critical: {args.critical_pool} x {args.critical_processes}; "
            f"default,bulk: one process --pool threads -c {args.concurrency}"
        )
    else:
        plan = [("critical,default,bulk", "threads", args.concurrency, "workers")] * args.processes
        layout = f"{args.processes} process(es) on every queue, --pool threads -c {args.concurrency}"
    workers = [
        start_worker(queues, pool=pool, concurrency=slots, log=logs / f"worker-{i}.log", name=f"bench{i}")
        for i, (queues, pool, slots, _share) in enumerate(plan)
    ]

    worker_shares = sorted({share for *_, share in plan})

    def shares() -> dict[str, float]:
        """CPU seconds so far by program: each kind of worker (with a prefork pool's children), this
        process (the web and the fake), PostgreSQL and Redis."""
        split = dict.fromkeys(worker_shares, 0.0)
        for w, (*_, share) in zip(workers, plan, strict=True):
            split[share] += tree_cpu_seconds(w.pid)
        split["web+fake"] = cpu_seconds(os.getpid())
        split["postgres"] = program_cpu_seconds("postgres")
        split["redis"] = program_cpu_seconds("redis-server")
        return split

    sent_at: dict[str, float] = {}
    failures: list[str] = []
    try:
        for i, w in enumerate(workers):
            wait_ready(app, w, name=f"bench{i}")
        payloads = [_webhook(tracking, i) for i, (_, tracking) in enumerate(orders)]
        busy0, shares0 = machine_busy_seconds(), shares()
        start = time.perf_counter()

        def sender(k: int) -> None:
            # Client k sends events k, k + n, k + 2n ... each at its slot of the steady schedule.
            client = Client()
            for i in range(k, len(orders), args.clients):
                (number, _), (body, headers) = orders[i], payloads[i]
                due = start + i / args.rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                if i >= warm:
                    # From the event's slot in the schedule, not from when a late sender got to it:
                    # a backlog in front of the web counts too.
                    sent_at[number] = due
                response = client.generic(
                    "POST", "/webhooks/carriers/generic/", data=body, content_type="application/json", headers=headers
                )
                if response.status_code not in (200, 202):
                    failures.append(f"webhook {i}: HTTP {response.status_code} {response.content[:200]!r}")
            connection.close()

        senders = [threading.Thread(target=sender, args=(k,)) for k in range(args.clients)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        sent_until = time.perf_counter()
        offered = len(orders) / (sent_until - start)
        if failures:
            raise SystemExit(failures[0])
        deadline = time.perf_counter() + 120
        while sum(n in arrivals for n in sent_at) < len(sent_at) and time.perf_counter() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the other messages of the last events (email, feed) finish too
        # Includes the second the script waits at the end, idle but for the machine's own noise.
        machine_cpu = (machine_busy_seconds() - busy0) / len(orders) * 1000
        split = {k: (v - shares0[k]) / len(orders) * 1000 for k, v in shares().items()}
        worker_cpu = sum(split[k] for k in worker_shares)
        split["other (kernel, the rest)"] = machine_cpu - sum(split.values())
        load = load_average()
    finally:
        for w in workers:
            stop_worker(w)
        broker.flushdb()
    latencies = [(arrivals[n] - sent_at[n]) * 1000 for n in sent_at if n in arrivals]
    cuts = percentiles(latencies)
    # SMS that reached the fake while the measured events were being sent, per second: below the
    # offered rate, the workers fall behind it and the backlog grows for as long as the load lasts
    # (what arrives after the senders stop is the drain, faster with no new events to apply).
    measured_from = start + warm / args.rate
    kept_up = sum(measured_from <= t <= sent_until for t in arrivals.values()) / (sent_until - measured_from)
    mode = "inline (applied in the request)" if args.inline else "queued (202, applied by the worker)"
    print(
        f"carrier webhook -> SMS at the fake: {len(latencies)}/{len(sent_at)} measured arrived "
        f"(after {warm} warm-up events); "
        f"offered {offered:.0f} events/s; carrier processing {mode}; "
        f"workers {layout}; provider {args.provider_ms:.0f} ms"
    )
    print(
        "  ".join(f"{k} {v:.0f} ms" for k, v in cuts.items())
        + f"; SMS delivered while the load lasted: {kept_up:.0f}/s"
    )
    print(
        f"worker CPU per carrier event (apply + its messages: SMS, outbox email, feed): {worker_cpu:.1f} ms; "
        f"all CPU on the machine per event (web, workers, PostgreSQL, Redis, fake): {machine_cpu:.1f} ms; "
        f"load average {load} on {os.cpu_count()} cores"
    )
    print("all CPU per event by program: " + ", ".join(f"{k} {v:.1f} ms" for k, v in split.items()))
    if args.json:
        figures = {
            "benchmark": "notifications_latency",
            "mode": "inline" if args.inline else "queued",
            "rate": args.rate,
            "offered_rate": round(offered, 1),
            "count": len(latencies),
            "events": len(sent_at),
            "warmup_events": warm,
            "lost": len(sent_at) - len(latencies),
            **{f"{k}_ms": round(v, 1) for k, v in cuts.items()},
            "sms_per_s_under_load": round(kept_up, 1),
            "worker_cpu_ms_per_event": round(worker_cpu, 2),
            "machine_cpu_ms_per_event": round(machine_cpu, 2),
            "cpu_ms_per_event_by_program": {k: round(v, 2) for k, v in split.items()},
            "layout": args.layout,
            "worker_processes": len(workers),
            "critical_processes": args.critical_processes if args.layout == "production" else None,
            "critical_pool": args.critical_pool if args.layout == "production" else None,
            "worker_threads": args.concurrency,
            "provider_latency_ms": args.provider_ms,
            "cores": os.cpu_count(),
            "load_average": load,
        }
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
