"""`make bench`: every benchmark against real PostgreSQL, Redis, gunicorn and Celery; one report.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/suite/run.py [--quick]

Each benchmark is its own script, run here as a subprocess with `--json PATH` (a fresh process
per run: no state carried between runs) and bounded in time. Every figure is the median of
--runs runs (default 3); the 1,000,000-order seed and the spike are done once (say so in the
report). Each benchmark measures its baseline in the same run, on the same server processes.
The broker is a redis-server of the suite's own on a free loopback port (one database per
benchmark) unless BENCH_BROKER_URL is set; PostgreSQL work happens in scratch databases made on
the server of DATABASE_URL and dropped afterwards. Writes BENCHMARKS.md and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

from scratch import drop_database, server_url  # noqa: E402

from suite.machine import machine_describe  # noqa: E402
from suite.processes import ROOT, RedisServer  # noqa: E402
from suite.report import report_write  # noqa: E402

PYTHON = sys.executable


@dataclass
class Benchmark:
    name: str
    title: str
    script: str
    args: list[str]
    quick_args: list[str]
    timeout: int  # seconds per run, full size
    runs_once: bool = False
    quick_timeout: int = 0  # seconds per run with --quick; 0: a quarter of `timeout`
    # Arguments for runs after the first (the tracking page reuses its seeded database).
    later_args: list[str] = field(default_factory=list)


# The README's production layout: carrier events on two solo `critical` workers (one per core),
# messages on one `default,bulk` worker of threads (the provider's I/O). Why solo and not prefork or
# threads for carrier events: docs/notifications.md, "Figures (2026-12-05, evening ...)".
E2E_WORKERS = ["--layout", "production", "--critical-pool", "solo", "--critical-processes", "2", "--concurrency", "24"]
DISPATCH_WORKERS = ["--processes", "2", "--concurrency", "24"]


def _end_to_end(name: str, rate: int, title: str) -> Benchmark:
    """bench/notifications_latency.py at a steady rate: 1,000 events, 10 s at 100/s (100 with --quick).
    Long enough that workers falling behind the rate show as a backlog that grows (and as fewer SMS
    per second delivered than events offered), not as a queue left over from the warm-up."""
    rate_args = ["--rate", str(rate), *E2E_WORKERS]
    return Benchmark(
        name=name,
        title=f"{title}, steady {rate} events/s",
        script="bench/notifications_latency.py",
        args=["--events", "1000", *rate_args],
        quick_args=["--events", "100", *rate_args],
        timeout=1200,
        quick_timeout=600,
    )


def benchmarks(track_db: str, pg_host: str) -> list[Benchmark]:
    return [
        Benchmark(
            name="ingest",
            title="Webhook ingest: carrier endpoint with real signatures vs a bare DRF view",
            script="bench/carrier_webhooks.py",
            args=["--mode", "queued", "--no-drain", "--duration", "20", "--connections", "4", "--workers", "4"],
            quick_args=[
                "--mode",
                "queued",
                "--no-drain",
                "--duration",
                "5",
                "--connections",
                "4",
                "--workers",
                "4",
                "--shipments",
                "50",
            ],  # fmt: skip
            timeout=900,
            quick_timeout=900,  # the scratch database's migrations alone take minutes on a loaded machine
        ),
        _end_to_end("end_to_end", 100, "End to end: carrier webhook received -> provider request at the fake"),
        _end_to_end("end_to_end_80", 80, "End to end at 80% of the rate"),
        _end_to_end("end_to_end_50", 50, "End to end at half the rate"),
        Benchmark(
            name="dispatch",
            title="Dispatch: notifications/s with a 50 ms fake provider vs a no-op Celery task",
            script="bench/notifications_throughput.py",
            # 6,000 messages: about 20 s at the target rate, so the figure is the steady state.
            args=["--messages", "6000", *DISPATCH_WORKERS],
            quick_args=["--messages", "300", *DISPATCH_WORKERS],
            timeout=1200,
            quick_timeout=600,
        ),
        Benchmark(
            name="tracking",
            title="Tracking page over HTTP with 1,000,000 orders seeded vs a bare view",
            script="bench/tracking_page.py",
            args=["--database", track_db, "--host", pg_host, "--http", "--duration", "15", "--requests", "300"],
            quick_args=[
                "--database",
                track_db,
                "--host",
                pg_host,
                "--http",
                "--duration",
                "5",
                "--requests",
                "100",
                "--orders",
                "20000",
                "--customers",
                "2000",
                "--http-orders",
                "500",
            ],  # fmt: skip
            later_args=["--keep"],
            timeout=2400,
        ),
        Benchmark(
            name="spike",
            title="Spike: a burst of signed carrier events at the highest rate the machine takes",
            script="bench/suite/spike.py",
            args=["--events", "50000", "--shipments", "200"],
            quick_args=["--events", "2000", "--shipments", "50", "--drain-timeout", "1500"],
            runs_once=True,
            quick_timeout=2400,
            timeout=6000,
        ),
    ]


def _run_once(bench: Benchmark, *, args: list[str], env: dict, timeout: int, log: Path) -> dict:
    """One run in a fresh process: its figures, or why there are none ('missing' / 'failed')."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as workdir:
        out = Path(workdir) / "figures.json"
        command = [PYTHON, bench.script, *args, "--json", str(out)]
        started = time.monotonic()
        with log.open("a") as sink:
            sink.write(f"\n$ {' '.join(command)}\n")
            sink.flush()
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
            try:
                code = process.wait(timeout=timeout)
            except KeyboardInterrupt:
                # Interrupted ourselves: let the benchmark clean up its servers and databases first.
                process.send_signal(signal.SIGINT)
                process.wait(timeout=120)
                raise
            except subprocess.TimeoutExpired:
                # SIGINT first: the scripts clean up (servers, scratch databases) on KeyboardInterrupt.
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                return {"status": "failed", "reason": f"no result within {timeout} s", "seconds": timeout}
        seconds = time.monotonic() - started
        tail = log.read_text(errors="replace")[-4000:]
        if out.exists():
            try:
                figures = json.loads(out.read_text())
            except json.JSONDecodeError:
                return {"status": "failed", "reason": "its --json file is not JSON", "seconds": seconds}
            # A script may exit 1 after writing figures (e.g. loss detected): keep both.
            return {"status": "ok" if code == 0 else "failed", "exit_code": code, "figures": figures,
                    "seconds": seconds}  # fmt: skip
        if "unrecognized arguments" in tail and "--json" in tail:
            return {"status": "missing", "reason": "the script does not accept --json yet", "seconds": seconds}
        return {"status": "failed", "reason": f"exit {code} without figures (see the log)", "seconds": seconds}


def _flatten(value, prefix: str = "") -> dict[str, float]:
    """Numeric leaves as dotted keys (lists of samples are left out: the median is of scalars)."""
    flat: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
    elif isinstance(value, int | float):  # bool is an int: True counts 1
        flat[prefix[:-1]] = float(value)
    return flat


def medians(runs: list[dict]) -> dict[str, float]:
    flats = [_flatten(run["figures"]) for run in runs if "figures" in run]
    keys = sorted({key for flat in flats for key in flat})
    return {key: statistics.median([flat[key] for flat in flats if key in flat]) for key in keys}


def spread(runs: list[dict]) -> dict[str, list[float]]:
    flats = [_flatten(run["figures"]) for run in runs if "figures" in run]
    keys = sorted({key for flat in flats for key in flat})
    return {key: [min(f[key] for f in flats if key in f), max(f[key] for f in flats if key in f)] for key in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes, to check the suite")
    parser.add_argument("--runs", type=int, help="runs per figure (default 3; 1 with --quick)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names (ingest,end_to_end,...)")
    parser.add_argument("--spike-events", type=int, help="events in the spike (default 50,000; 2,000 with --quick)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="re-run only the --only benchmarks and keep the others' results from the existing --json file",
    )
    parser.add_argument("--report", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()
    args.runs = max(1, min(args.runs or (1 if args.quick else 3), 9))

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (scratch databases are made and dropped on it).")
    # KeyboardInterrupt on SIGTERM too, so every `finally` below stops what it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    own_redis = None if os.environ.get("BENCH_BROKER_URL") else RedisServer().start()
    broker_base = (os.environ.get("BENCH_BROKER_URL") or own_redis.url).rstrip("/")
    if not own_redis:
        broker_base = broker_base.rsplit("/", 1)[0] if broker_base.rsplit("/", 1)[-1].isdigit() else broker_base
    track_db = f"oms_bench_track_{os.getpid()}"
    pg_host = database_url.split("://", 1)[1].split("/", 1)[0]
    selected = [b for b in benchmarks(track_db, pg_host) if not args.only or b.name in args.only.split(",")]
    log = Path(tempfile.gettempdir()) / f"bench-suite-{os.getpid()}.log"
    results: dict = {}
    started = time.monotonic()
    try:
        # The maintenance database: DATABASE_URL's own database need not exist (only its server is used).
        machine = machine_describe(database_url=server_url(database_url, "postgres"), broker_url=f"{broker_base}/0")
        load = machine["load_average_at_start"]
        print(f"machine: {machine['cpu_model']}, {machine['logical_cpus']} CPUs, load average {load}")
        print(f"log of every run: {log}", flush=True)
        for index, bench in enumerate(selected):
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                # A database of its own per benchmark on the suite's broker.
                "BENCH_BROKER_URL": f"{broker_base}/{index + 1}",
            }
            runs_wanted = 1 if bench.runs_once else args.runs
            base_args = bench.quick_args if args.quick else bench.args
            if bench.name == "spike" and args.spike_events:
                base_args = [*base_args, "--events", str(args.spike_events)]  # the last one wins
            timeout = (bench.quick_timeout or bench.timeout // 4) if args.quick else bench.timeout
            runs = []
            for number in range(runs_wanted):
                extra = bench.later_args if number else []
                print(f"[{bench.name}] run {number + 1}/{runs_wanted} ...", end=" ", flush=True)
                run = _run_once(bench, args=[*base_args, *extra], env=env, timeout=timeout, log=log)
                print(f"{run['status']} in {run['seconds']:.0f} s", flush=True)
                runs.append(run)
                if run["status"] == "missing":
                    break
            ok = [r for r in runs if "figures" in r]
            results[bench.name] = {
                "title": bench.title,
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "command": f"{bench.script} {' '.join(base_args)}",
                "runs_wanted": runs_wanted,
                "status": "ok" if ok and all(r["status"] == "ok" for r in runs) else runs[-1]["status"],
                "runs": runs,
                "median": medians(ok),
                "range": spread(ok),
            }
    finally:
        drop_database(database_url, track_db)
        if own_redis:
            own_redis.stop()
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    document = {
        "machine": machine,
        "quick": args.quick,
        "runs": args.runs,
        "suite_seconds": round(time.monotonic() - started),
        "benchmarks": results,
    }
    if args.merge and Path(args.json).exists():
        earlier = json.loads(Path(args.json).read_text())
        if earlier.get("quick") != args.quick:
            sys.exit("--merge: the existing results are of the other size (quick vs full); not mixing them")
        merged = {**earlier.get("benchmarks", {}), **results}
        # Keep the suite's order; say in the report that the benchmarks ran at different times.
        order = [b.name for b in benchmarks(track_db, pg_host)]
        document["benchmarks"] = {name: merged[name] for name in order if name in merged}
        document["merged_from"] = earlier["machine"].get("measured_at")
        document["suite_seconds"] += earlier.get("suite_seconds", 0)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document, indent=2, default=str))
    report_write(document, Path(args.report))
    print(f"wrote {args.report} and {args.json} in {document['suite_seconds']} s")
    return 0 if all(r["status"] == "ok" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
