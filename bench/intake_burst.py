"""A seasonal spike on the Shopify intake: normal load, then 10x, over HTTP. A benchmark, not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/intake_burst.py

What it does:
- creates a scratch database `oms_bench_intake_<pid>` on the server named by DATABASE_URL, migrates
  it, and drops it at the end (also after a failure);
- starts gunicorn (sync workers) on loopback with the production settings and a real Celery
  worker (prefork) on a Redis database of its own (BENCH_BROKER_URL, default redis://127.0.0.1:6379/8,
  flushed before and after): the production path, acknowledged 202 and applied from the queue;
- sends signed Shopify `orders/create` webhooks (real HMAC, one new order per request, 3 lines),
  open loop at --rate requests/s for --seconds, then at 10x --rate for --seconds, from client
  threads with keep-alive connections;
- samples the backlog (payloads stored, not applied yet) every 0.25 s, waits for the queue to
  drain, and prints acknowledgement latency (p50, p99, max) per phase, the largest backlog, the
  drain time after the spike, and checks in the database that every acknowledged order landed
  exactly once (no loss, no duplicate, no dead letter).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-shopify-secret"
SHOP = "bench.myshopify.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def order_body(n: int) -> bytes:
    lines = [
        {"id": n * 10 + i, "sku": f"SKU-{i}", "name": f"Item {i}", "quantity": 1 + i, "price": "19.99"}
        for i in range(3)
    ]
    payload = {
        "id": 5_000_000 + n,
        "name": f"#{1000 + n}",
        "email": f"buyer{n % 500}@example.com",
        "currency": "USD",
        "financial_status": "paid",
        "total_price": "119.94",
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
        "customer": {"first_name": "Bench", "last_name": f"Buyer {n % 500}"},
        "shipping_address": {
            "name": "Bench Buyer",
            "address1": "1 Main St",
            "city": "Springfield",
            "zip": "12345",
            "country_code": "US",
            "province_code": "IL",
        },
        "line_items": lines,
    }
    return json.dumps(payload).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode(),
    }


class Load:
    """Open loop: each request has a due time; client threads send it then (or as soon as free)."""

    def __init__(self, port: int, threads: int) -> None:
        self.port = port
        self.jobs: queue.Queue = queue.Queue()
        self.results: list[tuple[str, float, int]] = []
        self.lock = threading.Lock()
        self.workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for worker in self.workers:
            worker.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while True:
            job = self.jobs.get()
            if job is None:
                return
            phase, due, body = job
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                conn.request("POST", "/webhooks/sources/shopify/", body=body, headers=signed_headers(body))
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                status = 0
            with self.lock:
                # Latency from the due time: a client that fell behind counts its wait too.
                self.results.append((phase, time.perf_counter() - min(due, started), status))

    def close(self) -> None:
        for _ in self.workers:
            self.jobs.put(None)
        for worker in self.workers:
            worker.join()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=8.0, help="normal requests/s (the spike is 10x)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--task-workers", type=int, default=4)
    parser.add_argument("--client-threads", type=int, default=32)
    args = parser.parse_args()

    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    name = f"oms_bench_intake_{os.getpid()}"
    db_url = urlunsplit(base._replace(path=f"/{name}"))
    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/8")
    admin = psycopg2.connect(urlunsplit(base._replace(path="/postgres")))
    admin.autocommit = True
    admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    redis.Redis.from_url(broker).flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "oms_notify.settings",
        "DJANGO_SECRET_KEY": "bench-not-secret",
        "DJANGO_DEBUG": "false",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SOURCE_SHOPIFY_WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "ERROR",
    }
    procs: list[subprocess.Popen] = []
    logs = tempfile.TemporaryDirectory()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        port = free_port()
        web_log = open(Path(logs.name) / "web.log", "wb")  # noqa: SIM115 (closed with the directory)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "oms_notify.wsgi", "-w", str(args.web_workers), "-b",
                 f"127.0.0.1:{port}", "--keep-alive", "30", "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "oms_notify", "worker", "-Q", "default", "-c",
                 str(args.task_workers), "--without-gossip", "--without-mingle", "-l", "WARNING"],
                cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        time.sleep(2)  # let the worker connect to the broker
        # Warm-up (not measured): every gunicorn worker imports the app and opens its connections.
        warm = Load(port, args.web_workers * 2)
        for i in range(args.web_workers * 10):
            warm.jobs.put(("warm-up", time.perf_counter(), order_body(10_000_000 + i)))
        warm.close()

        db = psycopg2.connect(db_url)
        db.autocommit = True
        cursor = db.cursor()
        backlog: list[tuple[float, int]] = []
        sampling = threading.Event()

        def sample() -> None:
            own = psycopg2.connect(db_url)
            own.autocommit = True
            cur = own.cursor()
            while not sampling.is_set():
                cur.execute("SELECT count(*) FROM orders_rawintake WHERE status = 'received'")
                backlog.append((time.perf_counter(), cur.fetchone()[0]))
                time.sleep(0.25)
            own.close()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load = Load(port, args.client_threads)
        start = time.perf_counter() + 0.5
        n = 0
        schedule = [("normal", args.rate, start), ("spike", args.rate * 10, start + args.seconds)]
        for phase, rate, phase_start in schedule:
            count = int(rate * args.seconds)
            for i in range(count):
                load.jobs.put((phase, phase_start + i / rate, order_body(n)))
                n += 1
        load.close()
        sent_done = time.perf_counter()
        spike_end = start + 2 * args.seconds
        drain_deadline = time.monotonic() + 300
        while True:
            cursor.execute("SELECT count(*) FROM orders_rawintake WHERE status = 'received'")
            if cursor.fetchone()[0] == 0 or time.monotonic() > drain_deadline:
                break
            time.sleep(0.1)
        drained_at = time.perf_counter()
        sampling.set()
        sampler.join()

        print(f"normal {args.rate:g}/s then spike {args.rate * 10:g}/s, {args.seconds:g} s each; "
              f"{args.web_workers} gunicorn sync workers, {args.task_workers} Celery prefork workers")  # fmt: skip
        for phase in ("normal", "spike"):
            lat = [r[1] * 1000 for r in load.results if r[0] == phase]
            codes = [r[2] for r in load.results if r[0] == phase]
            ok = sum(1 for c in codes if c == 202)
            print(
                f"  {phase:6s}: {len(codes)} sent, {ok} acknowledged 202, {len(codes) - ok} errors; "
                f"ack p50 {percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms"
            )
        peak = max((b for _, b in backlog), default=0)
        print(f"  largest backlog {peak} payloads; queue drained {drained_at - spike_end:.1f} s after the spike "
              f"ended (sending finished {sent_done - spike_end:+.1f} s from the planned end)")  # fmt: skip
        cursor.execute("SELECT status, count(*) FROM orders_rawintake GROUP BY status ORDER BY status")
        statuses = dict(cursor.fetchall())
        cursor.execute("SELECT count(*), count(DISTINCT external_id) FROM orders_order WHERE source = 'shopify'")
        orders, distinct = cursor.fetchone()
        accepted = sum(1 for r in load.results if r[2] == 202) + sum(1 for r in warm.results if r[2] == 202)
        print(f"  intake rows by status: {statuses}; orders {orders} (distinct {distinct}) for {accepted} acknowledged")
        db.close()
        lossless = orders == distinct == accepted and set(statuses) == {"applied"}
        print("  every acknowledged order landed exactly once" if lossless else "  LOSS OR DUPLICATES: check above")
        return 0 if lossless else 1
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.Redis.from_url(broker).flushdb()
        admin.cursor().execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
        logs.cleanup()


if __name__ == "__main__":
    sys.exit(main())
