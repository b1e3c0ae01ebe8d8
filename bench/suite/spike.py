"""Spike: a burst of signed carrier events as fast as the machine takes them, drained by real workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/suite/spike.py \\
        --events 50000 [--json PATH]

What it does:
- makes a scratch database `oms_bench_spike_<pid>` on the server of DATABASE_URL, migrates it,
  registers --shipments dispatched shipments through the orders services; drops it at the end;
- broker: BENCH_BROKER_URL if set, otherwise a redis-server of its own on a free loopback port;
- starts gunicorn (--web-workers sync workers, production settings, queued mode: 202 after the
  raw payload is stored) and the production worker layout of the README: one Celery worker on
  `critical` (prefork, --critical-concurrency) and one on `default,bulk` (threads,
  --default-concurrency); a warm-up burst proves both answer, then every queue is let run empty;
- signs --events unique events for real (Standard Webhooks, `generic` carrier; spread over the
  shipments with rising scan times) and replays them with wrk from its own process over
  --connections keep-alive connections, closed loop: each connection sends the next one as soon
  as the last is answered, which is the highest rate this server takes. Bounded by count (each
  event once) and by --send-timeout;
- afterwards, as the same run's baseline, loads a bare DRF view on the same server the same way
  (--baseline-seconds); the idle memory before the burst is the memory figure's baseline;
- samples every --sample-interval s: the Redis queue lengths (LLEN critical/default/bulk), the
  backlog of stored-but-unapplied webhooks, and the resident memory (psutil) of the gunicorn
  tree and of each worker tree; waits (at most --drain-timeout s) until all of it is applied;
- checks in the database that every accepted event was applied exactly once: one timeline row
  per accepted event id, no duplicates, no webhook left received/failed/pending. If the drain
  timed out, what is still stored-and-queued is counted apart ("still queued"), not as lost.

The replay window of signatures is widened (CARRIER_SIGNATURE_TOLERANCE_SECONDS) because the whole
burst is signed before it starts and may take longer than the default 5 minutes to send here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

import psycopg2  # noqa: E402
import redis  # noqa: E402
from carrier_webhooks import _environment, _seed, _sign  # noqa: E402 - the same seed and signatures
from scratch import create_database, drop_database, server_url  # noqa: E402

from suite.processes import (  # noqa: E402
    ROOT,
    RedisServer,
    free_port,
    start_celery_worker,
    start_gunicorn,
    stop,
    tree_cpu_seconds,
    tree_rss,
)
from suite.wrkload import Request, write_requests, wrk_run  # noqa: E402

ENDPOINT = "/webhooks/carriers/generic/"
QUEUES = ("critical", "default", "bulk")
STATUSES = ["in_transit", "out_for_delivery", "in_transit", "available_for_pickup"]
MAX_EVENTS = 200_000


def signed_requests(*, count: int, shipments: int, prefix: str) -> list[Request]:
    """One unique event per request, each shipment's scans in rising time order."""
    now = int(time.time())
    base = datetime.now(UTC) - timedelta(days=2)
    requests = []
    for i in range(count):
        event = {
            "event_id": f"{prefix}-{i}",
            "tracking_number": f"BENCH{i % shipments:05d}",
            "status": STATUSES[(i // shipments) % len(STATUSES)],
            "occurred_at": (base + timedelta(seconds=i)).isoformat(),
            "description": "Scanned at hub",
            "location": {"city": "Newark", "region": "NJ", "postcode": "07102", "country": "US"},
        }
        body = json.dumps({"events": [event]}, separators=(",", ":"))
        msg_id = f"msg_{prefix}_{i}"
        headers = (
            ("Content-Type", "application/json"),
            ("webhook-id", msg_id),
            ("webhook-timestamp", str(now)),
            ("webhook-signature", _sign(msg_id, now, body.encode())),
        )
        requests.append(Request("POST", ENDPOINT, body, headers))
    return requests


def _one(conn, query: str, params: tuple = ()) -> tuple:
    with conn.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()


class Sampler(threading.Thread):
    """Queue depth, backlog and memory over time, until told to stop (and at most `limit` samples)."""

    def __init__(self, *, broker: str, database_url: str, pids: dict[str, int], interval: float, limit: int):
        super().__init__(daemon=True)
        self.broker = redis.Redis.from_url(broker)
        self.database_url = database_url
        self.pids = pids
        self.interval = interval
        self.limit = limit
        self.samples: list[dict] = []
        self.halt = threading.Event()

    def run(self) -> None:
        conn = psycopg2.connect(self.database_url)
        conn.autocommit = True
        started = time.monotonic()
        try:
            while not self.halt.is_set() and len(self.samples) < self.limit:
                sample = {"t": round(time.monotonic() - started, 2)}
                sample.update({f"llen_{q}": self.broker.llen(q) for q in QUEUES})
                sample["unacked"] = self.broker.hlen("unacked")
                sample["backlog"] = _one(conn, "SELECT count(*) FROM carriers_rawwebhook WHERE status = 'received'")[0]
                sample.update({f"rss_{name}": tree_rss(pid) for name, pid in self.pids.items()})
                self.samples.append(sample)
                self.halt.wait(self.interval)
        finally:
            conn.close()

    def peak(self, key: str) -> int:
        return max((s[key] for s in self.samples), default=0)


def _idle(broker: redis.Redis, conn) -> bool:
    queued = sum(broker.llen(q) for q in QUEUES) + broker.hlen("unacked")
    backlog = _one(conn, "SELECT count(*) FROM carriers_rawwebhook WHERE status = 'received'")[0]
    return queued == 0 and backlog == 0


def _wait_idle(broker: redis.Redis, conn, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _idle(broker, conn):
            return True
        time.sleep(0.25)
    return False


def _verify(conn, *, prefix: str, accepted: int) -> dict:
    """What the database holds for the burst's events, and whether that is each accepted one once."""
    like = f"%id:{prefix}-%"
    timeline, distinct = _one(
        conn,
        "SELECT count(*), count(DISTINCT dedupe_key) FROM orders_shipmentevent WHERE dedupe_key LIKE %s",
        (like,),
    )
    keys = _one(conn, "SELECT count(*) FROM carriers_eventkey WHERE key LIKE %s", (like,))[0]
    with conn.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM carriers_rawwebhook GROUP BY status ORDER BY status")
        raw = dict(cursor.fetchall())
    # Stored and queued but not applied when the drain timed out: late, not lost (one event each).
    waiting = raw.get("received", 0)
    dead = raw.get("failed", 0) + raw.get("pending", 0)
    return {
        "accepted": accepted,
        "timeline_rows": timeline,
        "distinct_events_applied": distinct,
        "event_keys": keys,
        "raw_webhooks_by_status": raw,
        "still_queued": waiting,
        "failed_or_pending": dead,
        "lost": max(0, accepted - distinct - waiting),
        "applied_twice": timeline - distinct,
        "nothing_lost": distinct + waiting == accepted and timeline == distinct and dead == 0,
        "all_applied": distinct == accepted and timeline == distinct and waiting == 0 and dead == 0,
    }


def run(args: argparse.Namespace) -> dict:
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    dbname = f"oms_bench_spike_{os.getpid()}"
    own_redis = None if os.environ.get("BENCH_BROKER_URL") else RedisServer().start()
    broker_url = os.environ.get("BENCH_BROKER_URL") or f"{own_redis.url}/0"
    env = _environment(server_url(database_url, dbname), "queued", broker_url)
    env["CARRIER_SIGNATURE_TOLERANCE_SECONDS"] = str(args.send_timeout + 3600)
    env["LOG_LEVEL"] = "ERROR"
    broker = redis.Redis.from_url(broker_url)
    create_database(database_url, dbname)
    workdir = Path(tempfile.mkdtemp(prefix="bench-spike-"))
    processes: list[subprocess.Popen] = []
    log = (workdir / "processes.log").open("wb")
    try:
        broker.flushdb()
        started = time.perf_counter()
        _seed(env, args.shipments)
        seed_seconds = time.perf_counter() - started
        print(f"seeded {args.shipments} shipments in {seed_seconds:.1f} s", flush=True)
        burst = workdir / "burst.tsv"
        write_requests(burst, signed_requests(count=args.events, shipments=args.shipments, prefix="spike"))
        warm = workdir / "warm.tsv"
        write_requests(warm, signed_requests(count=args.web_workers * 20, shipments=args.shipments, prefix="warm"))

        port = free_port()
        web = start_gunicorn(env, port=port, workers=args.web_workers, log=log)
        processes.append(web)
        critical = start_celery_worker(
            env, queues="critical", name="critical", concurrency=args.critical_concurrency, log=log
        )
        processes.append(critical)
        default = start_celery_worker(
            env, queues="default,bulk", name="default", concurrency=args.default_concurrency, pool="threads", log=log
        )
        processes.append(default)
        conn = psycopg2.connect(env["DATABASE_URL"])
        conn.autocommit = True

        # Warm-up (not measured): every web worker and task process has imported the app and
        # connected; the seed's own notifications are sent; then everything is idle.
        wrk_run(port=port, requests_file=warm, duration=60, connections=args.connections, limit=args.web_workers * 20,
                filler_path=ENDPOINT)  # fmt: skip
        if not _wait_idle(broker, conn, timeout=300):
            raise RuntimeError("the warm-up did not drain in 5 minutes: are the workers running?")

        sampler = Sampler(
            broker=broker_url,
            database_url=env["DATABASE_URL"],
            pids={"web": web.pid, "critical_worker": critical.pid, "default_worker": default.pid},
            interval=args.sample_interval,
            limit=int((args.send_timeout + args.drain_timeout) / args.sample_interval) + 10,
        )
        before = {name: tree_rss(p.pid) for name, p in (("web", web), ("critical_worker", critical),
                                                         ("default_worker", default))}  # fmt: skip
        trees = {"web": web, "critical_worker": critical, "default_worker": default}
        cpu_before = {name: tree_cpu_seconds(p.pid) for name, p in trees.items()}
        sampler.start()
        burst_start = time.monotonic()
        sent = wrk_run(
            port=port,
            requests_file=burst,
            duration=args.send_timeout,
            connections=args.connections,
            limit=args.events,
            filler_path=ENDPOINT,
            timeout=30,
        )
        burst_end = time.monotonic()
        print(
            f"sent {sent['requests']} in {burst_end - burst_start:.1f} s ({sent['rps']:.0f}/s), "
            f"{sent['status_2xx']} accepted; draining ...",
            flush=True,
        )
        drained = _wait_idle(broker, conn, timeout=args.drain_timeout)
        drained_at = time.monotonic()
        # CPU per event moves far less than wall-clock figures on a shared machine.
        cpu_ms = {
            name: (tree_cpu_seconds(p.pid) - cpu_before[name]) * 1000 / max(sent["status_2xx"], 1)
            for name, p in trees.items()
        }
        sampler.halt.set()
        sampler.join(timeout=30)
        # The same run's baseline: what this server answers closed loop when the view does nothing.
        bare_file = workdir / "bare.tsv"
        write_requests(bare_file, [Request("POST", "/bench/bare/", "{}", (("Content-Type", "application/json"),))])
        bare = wrk_run(port=port, requests_file=bare_file, duration=args.baseline_seconds, connections=args.connections)
        stop(web)
        check = _verify(conn, prefix="spike", accepted=sent["status_2xx"])
        conn.close()
        mb = 1024 * 1024
        return {
            "events": args.events,
            "shipments": args.shipments,
            "connections": args.connections,
            "web_workers": args.web_workers,
            "critical_concurrency": args.critical_concurrency,
            "default_concurrency": args.default_concurrency,
            "seed_seconds": seed_seconds,
            "send": sent,
            "send_seconds": burst_end - burst_start,
            "bare_view": bare,
            "drained": drained,
            "drain_seconds_after_burst": drained_at - burst_end,
            "drain_seconds_from_start": drained_at - burst_start,
            "applied_per_second": check["distinct_events_applied"] / (drained_at - burst_start),
            "peak_queue_depth": {q: sampler.peak(f"llen_{q}") for q in QUEUES},
            "peak_backlog": sampler.peak("backlog"),
            "cpu_ms_per_event": cpu_ms,
            "rss_mb_before": {k: v / mb for k, v in before.items()},
            "peak_rss_mb": {k: sampler.peak(f"rss_{k}") / mb for k in before},
            "check": check,
            # Every n-th sample, at most ~600 (the peaks above are of all of them): keeps the JSON small.
            "samples": sampler.samples[:: max(1, len(sampler.samples) // 600)],
        }
    finally:
        for process in reversed(processes):
            stop(process)
        log.close()
        if args.keep_log:
            print(f"process log: {workdir / 'processes.log'}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
        try:
            broker.flushdb()
        finally:
            if own_redis:
                own_redis.stop()
            drop_database(database_url, dbname)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help=f"events in the burst (max {MAX_EVENTS})")
    parser.add_argument("--shipments", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8, help="wrk keep-alive connections")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--critical-concurrency", type=int, default=4, help="prefork processes on critical")
    parser.add_argument("--default-concurrency", type=int, default=32, help="threads on default,bulk")
    parser.add_argument("--send-timeout", type=int, default=900, help="seconds the burst may take at most")
    parser.add_argument("--drain-timeout", type=int, default=3600, help="seconds the drain may take at most")
    parser.add_argument("--sample-interval", type=float, default=0.5)
    parser.add_argument("--baseline-seconds", type=int, default=10, help="the bare DRF view, closed loop, after")
    parser.add_argument("--keep-log", action="store_true", help="keep the gunicorn/Celery log in /tmp")
    parser.add_argument("--json", metavar="PATH", help="also write the figures there (bench/suite/run.py reads it)")
    args = parser.parse_args()
    args.events = max(1, min(args.events, MAX_EVENTS))
    os.chdir(ROOT)
    figures = run(args)
    check = figures["check"]
    print(
        f"burst of {figures['events']} events: {figures['send']['rps']:.0f} accepted/s over {args.connections} "
        f"connections (ack p50 {figures['send']['p50_ms']:.1f} ms, p99 {figures['send']['p99_ms']:.1f} ms); "
        f"drained {figures['drain_seconds_after_burst']:.1f} s after the burst "
        f"({figures['applied_per_second']:.0f} events applied/s from the start)"
    )
    rss = {k: round(v) for k, v in figures["peak_rss_mb"].items()}
    cpu = {k: round(v, 1) for k, v in figures["cpu_ms_per_event"].items()}
    print(
        f"peak queue depth {figures['peak_queue_depth']}, peak backlog {figures['peak_backlog']}; "
        f"peak RSS MB {rss}; CPU ms per event {cpu}"
    )
    print(
        f"accepted {check['accepted']}, applied {check['distinct_events_applied']} (timeline rows "
        f"{check['timeline_rows']}), still queued {check['still_queued']}, lost {check['lost']}, applied twice "
        f"{check['applied_twice']}, raw webhooks {check['raw_webhooks_by_status']}"
    )
    if check["all_applied"]:
        print("every accepted event was applied exactly once")
    elif check["nothing_lost"]:
        print(f"nothing lost, but the drain did not finish in {args.drain_timeout} s: {check['still_queued']} queued")
    else:
        print("LOSS OR DUPLICATES")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if check["all_applied"] else 1


if __name__ == "__main__":
    sys.exit(main())
