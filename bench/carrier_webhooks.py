"""Carrier webhook throughput: the real endpoint vs a bare DRF view, over HTTP. A benchmark, not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/carrier_webhooks.py

What it does:
- creates a scratch database `oms_bench_carriers_<pid>` on the server named by DATABASE_URL, migrates
  it, registers --shipments dispatched shipments through the orders services, and drops it at the
  end (also after a failure);
- starts gunicorn (sync workers) on loopback with the production settings plus one extra URL,
  /bench/bare/, a DRF view with the same (empty) authentication/throttling/parsers that only
  returns 200 (bench/carrier_bench_settings.py);
- signs every request for real (Standard Webhooks, `generic`): one unique event per request
  (its own webhook-id and event_id), spread over the shipments with rising scan times, so every
  request is verified, stored raw, parsed, deduplicated and applied to a shipment (timeline row,
  shipment move, order roll-up, audit rows, domain events);
- drives load from a separate process: `wrk` (apt-get install -y wrk), one thread, --connections
  keep-alive connections, for --duration seconds against each endpoint in turn, bounded in time
  and (the request list, cycled) in count;
- prints requests/s, p50, p99 for both and the ratio, then checks in the database that every
  accepted request was applied once.

--mode inline applies the event inside the request (the zero-broker configuration);
--mode queued acknowledges 202 after storing and enqueues on Redis (BENCH_BROKER_URL, default
redis://127.0.0.1:6379/4, purged before and after); no worker drains it during the run.
--json PATH also writes the figures there (`make bench` runs it that way: bench/suite/run.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from scratch import create_database, drop_database, server_url  # bench/ is the script directory
from suite.processes import stop

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MAX_DURATION = 120
MAX_REQUESTS = 200_000
STATUSES = ["in_transit", "out_for_delivery", "in_transit", "available_for_pickup"]

LUA = r"""
local reqs = {}
local n = 0
local i = 0
function init(args)
  local path = args[2]
  for line in io.lines(args[1]) do
    local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {
      ["Content-Type"] = "application/json",
      ["webhook-id"] = id, ["webhook-timestamp"] = ts, ["webhook-signature"] = sig,
    }
    n = n + 1
    reqs[n] = wrk.format("POST", path, headers, body)
  end
end
function request()
  i = i % n + 1
  return reqs[i]
end
"""


def _environment(scratch_url: str, mode: str, broker: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=scratch_url,
        DJANGO_SETTINGS_MODULE="bench.carrier_bench_settings",
        DJANGO_READ_DOT_ENV_FILE="false",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key"),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        CARRIER_GENERIC_WEBHOOK_SECRET=SECRET,
        CARRIER_PROCESS_INLINE="true" if mode == "inline" else "false",
        DATABASE_CONN_MAX_AGE="600",
    )
    if mode == "queued":
        env.update(CELERY_BROKER_URL=broker, CELERY_TASK_ALWAYS_EAGER="false")
    else:
        env.pop("CELERY_BROKER_URL", None)
    return env


def _seed(env: dict, shipments: int) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from orders import services
    from orders.services import LineIn

    call_command("migrate", verbosity=0)
    for n in range(shipments):
        order, _ = services.order_create(
            source="bench",
            external_id=f"B-{n}",
            customer={"name": f"Customer {n}", "email": f"c{n}@bench.example"},
            shipping_address={"line1": "1 Main St", "city": "New York", "postcode": "10001", "country": "US"},
            lines=[LineIn(sku="SKU", name="Item", quantity=1, unit_price=10)],
            currency="USD",
            inventory_allocated=True,
        )
        services.order_transition(order=order, transition="confirm", source="bench")
        services.shipment_create(order=order, carrier="acme", tracking_number=f"BENCH{n:05d}", source="bench")
        services.order_transition(order=order, transition="dispatch", source="bench")
    connections.close_all()


def _sign(msg_id: str, timestamp: int, body: bytes) -> str:
    from carriers.adapters.generic import sign

    return sign(SECRET, msg_id, timestamp, body)


def _write_requests(path: Path, *, count: int, shipments: int, prefix: str) -> None:
    """One unique, signed event per line: webhook-id, timestamp, signature, body (tab-separated)."""
    now = int(time.time())
    base = datetime.now(UTC) - timedelta(days=2)
    with path.open("w") as out:
        for i in range(count):
            event = {
                "event_id": f"{prefix}-{i}",
                "tracking_number": f"BENCH{i % shipments:05d}",
                "status": STATUSES[(i // shipments) % len(STATUSES)],
                "occurred_at": (base + timedelta(seconds=i)).isoformat(),
                "description": "Scanned at hub",
                "location": {"city": "Newark", "region": "NJ", "postcode": "07102", "country": "US"},
            }
            body = json.dumps({"events": [event]}, separators=(",", ":")).encode()
            msg_id = f"msg_{prefix}_{i}"
            out.write(f"{msg_id}\t{now}\t{_sign(msg_id, now, body)}\t{body.decode()}\n")


def _wait_for(port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("gunicorn did not start")


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(port: int, path: str, requests_file: Path, lua: Path, *, duration: int, connections: int) -> dict:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}",
        "--",
        str(requests_file),
        path,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children (gunicorn master + workers)."""
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return 0.0
    total = 0
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _check(env: dict) -> dict:
    query = """
        SELECT (SELECT count(*) FROM carriers_rawwebhook),
               (SELECT count(*) FROM carriers_rawwebhook WHERE status = 'processed'),
               (SELECT count(*) FROM carriers_rawwebhook WHERE status = 'duplicate'),
               (SELECT count(*) FROM orders_shipmentevent),
               (SELECT count(*) FROM carriers_eventkey WHERE key LIKE 'e:%%')
    """
    conn = psycopg2.connect(env["DATABASE_URL"])
    try:
        with conn.cursor() as cursor:
            cursor.execute(query)
            raws, processed, duplicates, timeline, keys = cursor.fetchone()
    finally:
        conn.close()
    return {"raw": raws, "processed": processed, "duplicate": duplicates, "timeline": timeline, "keys": keys}


def _received(env: dict) -> int:
    conn = psycopg2.connect(env["DATABASE_URL"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM carriers_rawwebhook WHERE status = 'received'")
            return cursor.fetchone()[0]
    finally:
        conn.close()


def _drain(env: dict, args: argparse.Namespace) -> dict:
    """Start a Celery worker on the critical queue (web server stopped) and time the backlog."""
    celery = str(Path(sys.executable).with_name("celery"))
    backlog = _received(env)
    worker = subprocess.Popen(
        [
            celery,
            "-A",
            "oms_notify",
            "worker",
            "-Q",
            "critical",
            "-c",
            str(args.drain_concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Time from the first processed row, so the worker's start-up is not counted.
        deadline = time.monotonic() + MAX_DURATION * 2
        while _received(env) == backlog and time.monotonic() < deadline:
            time.sleep(0.05)
        start, start_left = time.monotonic(), _received(env)
        left = start_left
        while left and time.monotonic() < deadline:
            time.sleep(0.25)
            left = _received(env)
        elapsed = time.monotonic() - start
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    done = start_left - left
    return {"backlog": backlog, "left": left, "rate": done / elapsed if elapsed else 0.0}


def run(args: argparse.Namespace) -> None:
    for tool in ("wrk",):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install -y {tool})")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    dbname = f"oms_bench_carriers_{os.getpid()}"
    scratch = server_url(database_url, dbname)
    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/4")
    env = _environment(scratch, args.mode, broker)
    create_database(database_url, dbname)
    workdir = Path(tempfile.mkdtemp(prefix="carrier-bench-"))
    server = None
    drain = None
    try:
        print(f"seeding {args.shipments} shipments in {dbname} ...", flush=True)
        _seed(env, args.shipments)
        if args.mode == "queued":
            subprocess.run(["redis-cli", "-u", broker, "FLUSHDB"], check=False, capture_output=True)
        lua = workdir / "signed.lua"
        lua.write_text(LUA)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [
                gunicorn,
                "oms_notify.wsgi",
                "-w",
                str(args.workers),
                "--threads",
                str(args.threads),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                # Load the app before forking: when the port answers every worker is ready, so a
                # loaded machine does not spend the measured seconds importing Django in 4 workers.
                "--preload",
            ],
            cwd=ROOT,
            env=env,
        )
        _wait_for(port)
        count = min(MAX_REQUESTS, args.duration * args.max_rate)
        warm = workdir / "warm.tsv"
        _write_requests(warm, count=200, shipments=args.shipments, prefix="warm")
        _wrk(port, "/webhooks/carriers/generic/", warm, lua, duration=2, connections=2)
        _wrk(port, "/bench/bare/", warm, lua, duration=2, connections=2)
        before = _check(env)

        real_file = workdir / "real.tsv"
        _write_requests(real_file, count=count, shipments=args.shipments, prefix="real")
        cpu = _cpu_seconds(server.pid)
        real = _wrk(
            port,
            "/webhooks/carriers/generic/",
            real_file,
            lua,
            duration=args.duration,
            connections=args.connections,
        )
        real["cpu_ms"] = (_cpu_seconds(server.pid) - cpu) * 1000 / max(real["requests"], 1)
        after = _check(env)
        cpu = _cpu_seconds(server.pid)
        bare = _wrk(port, "/bench/bare/", real_file, lua, duration=args.duration, connections=args.connections)
        bare["cpu_ms"] = (_cpu_seconds(server.pid) - cpu) * 1000 / max(bare["requests"], 1)
        load = os.getloadavg()[0]
        stop(server)
        server = None
        drain = _drain(env, args) if args.mode == "queued" and args.drain else None
    finally:
        # SIGTERM, then SIGKILL to the whole tree if a loaded machine makes the graceful stop too slow.
        stop(server)
        shutil.rmtree(workdir, ignore_errors=True)
        drop_database(database_url, dbname)
        if args.mode == "queued":
            subprocess.run(["redis-cli", "-u", broker, "FLUSHDB"], check=False, capture_output=True)

    applied = {k: after[k] - before[k] for k in after}
    print(f"\nmode={args.mode} cpus={os.cpu_count()} gunicorn workers={args.workers} threads={args.threads} ", end="")
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s, unique signed requests available={count}")
    print(f"load average (1 min) at the end: {load:.2f} - other processes share these cores")
    print(f"{'endpoint':<34}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}", end="")
    print(f"{'non-2xx':>9}{'web CPU ms/req':>16}")
    for label, row in (("POST /webhooks/carriers/generic/", real), ("POST /bench/bare/ (DRF, 200)", bare)):
        print(f"{label:<34}{row['rps']:>8.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['requests']:>10}", end="")
        print(f"{row['non_2xx']:>9}{row['cpu_ms']:>16.2f}  {row['socket_errors']}")
    print(f"ratio real/bare throughput: {real['rps'] / bare['rps']:.2f}" if bare["rps"] else "ratio: no bare figure")
    print(
        f"database after the real run: {applied['raw']} raw webhooks stored, {applied['processed']} processed, "
        f"{applied['duplicate']} duplicates, {applied['timeline']} timeline rows, {applied['keys']} event keys"
    )
    if drain:
        print(
            f"worker drain (celery -Q critical -c {args.drain_concurrency}, web stopped): backlog {drain['backlog']} "
            f"webhooks applied at {drain['rate']:.0f}/s, {drain['left']} left"
        )
    if real["requests"] > count:
        print("note: the request list wrapped around; repeats were answered as duplicates")
    if args.json:
        figures = {
            "mode": args.mode,
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "real": real,
            "bare": bare,
            "ratio": real["rps"] / bare["rps"] if bare["rps"] else None,
            "applied": applied,
            "drain": drain,
            "load_average": load,
        }
        Path(args.json).write_text(json.dumps(figures, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["inline", "queued"], default="queued")
    parser.add_argument("--duration", type=int, default=20, help=f"seconds per endpoint (max {MAX_DURATION})")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (>1: gthread)")
    parser.add_argument("--shipments", type=int, default=200)
    parser.add_argument("--no-drain", dest="drain", action="store_false", help="queued: skip the worker drain")
    parser.add_argument("--drain-concurrency", type=int, default=2)
    parser.add_argument("--max-rate", type=int, default=1500, help="unique requests generated per second of run")
    parser.add_argument("--json", metavar="PATH", help="also write the figures there (bench/suite/run.py reads it)")
    args = parser.parse_args()
    args.duration = max(1, min(args.duration, MAX_DURATION))
    run(args)


if __name__ == "__main__":
    main()
