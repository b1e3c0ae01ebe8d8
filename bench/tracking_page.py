"""Benchmark: the tracking page and its JSON endpoint with 1,000,000 orders in PostgreSQL.

    .venv/bin/python bench/tracking_page.py [--orders 1000000] [--requests 500] [--keep] [--http] [--json PATH]

Creates a scratch database (default oms_track_bench; dropped and re-made unless --keep and it is
already seeded), migrates it, seeds with generate_series in SQL (one statement per table, not the
ORM row by row): orders in every status, one parcel per dispatched order with 2–4 carrier events,
a confirmation audit row per order. Then it requests random orders' pages in-process through
Django's test client and reports p50/p95/max server time and the query count per request.

--http also measures over HTTP, as a visitor sees it: gunicorn (sync workers, production settings,
DEBUG off) on loopback, wrk in its own process replaying GETs of --http-orders random orders' pages
(then their JSON) for --duration seconds each, and, as the same run's baseline, a bare DRF GET view
(/bench/bare/, bench/carrier_bench_urls.py) on the same server. --json writes every figure there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from suite.processes import free_port, start_gunicorn, stop, tree_cpu_seconds  # noqa: E402 - bench/ is on sys.path
from suite.wrkload import Request, write_requests, wrk_run  # noqa: E402

SEED_SQL = """
INSERT INTO orders_brand (name, slug, order_prefix, order_sequence, logo, primary_colour, accent_colour,
    support_email, support_phone, support_url, email_from_name, email_from_address, sms_sender, whatsapp_sender,
    default_locale, default_time_zone, banner_text, banner_url, created_at)
VALUES ('Bench Brand', 'bench', 'BEN', 0, '', '#0f3d2e', '#e07a1f', 'help@bench.example', '', '', '', '', '', '',
    'en', 'America/New_York', 'Free returns', '', now());

INSERT INTO orders_customer (name, email, phone, locale, time_zone, consent_email, consent_sms, consent_whatsapp,
    consent_push, orders_count, created_at, brand_id)
SELECT 'Customer ' || g, 'c' || g || '@bench.example', '', (ARRAY['en','es','fr'])[1 + g % 3],
    'America/New_York', true, false, false, false, 5, now(), (SELECT id FROM orders_brand WHERE slug = 'bench')
FROM generate_series(1, %(customers)s) g;

INSERT INTO orders_order (number, source, source_account, external_id, source_number, intake_fingerprint, ship_name,
    ship_line1, ship_line2, ship_city, ship_region, ship_postcode, ship_country, currency, total, inventory_allocated,
    regulatory_hold, regulatory_hold_reason, status, status_before_hold, tracking_token, placed_at, created_at,
    updated_at, status_changed_at, brand_id, customer_id, promised_from, promised_to, delivered_at)
SELECT 'BEN-' || lpad(g::text, 7, '0'), 'api', '', 'X' || g, '', md5(g::text), '', '1 Main St', '', 'Springfield',
    'IL', '62701', 'US', 'USD', 49.90, true, false, '',
    (ARRAY['confirmed','processing','dispatched','in_transit','in_transit','out_for_delivery','delayed','delivered',
           'delivered','delivered'])[1 + g % 10],
    '', md5('token' || g) || substr(md5('t2' || g), 1, 8), now() - interval '3 days', now(), now(), now(),
    (SELECT id FROM orders_brand WHERE slug = 'bench'), (SELECT min(id) FROM orders_customer) + g %% %(customers)s,
    current_date + 1, current_date + 3,
    CASE WHEN g % 10 >= 7 THEN now() - interval '1 day' END
FROM generate_series(1, %(orders)s) g;

INSERT INTO orders_statuschange (from_status, to_status, transition, source, reason, notify_customer, occurred_at,
    recorded_at, order_id)
SELECT 'pending', 'confirmed', 'confirm', 'api', '', true, o.placed_at + interval '5 minutes', now(), o.id
FROM orders_order o;

INSERT INTO orders_shipment (carrier, service_level, tracking_number, tracking_id, status, last_progress_status,
    status_reason, pod_signed_by, pod_signature_ref, pod_photo_ref, created_at, updated_at, order_id, eta,
    dispatched_at, last_event_at, delivered_at)
SELECT 'ups', 'Ground', '1Z' || lpad(o.id::text, 12, '0'), 'OMSB' || lpad(o.id::text, 16, '0'),
    CASE o.status WHEN 'dispatched' THEN 'info_received' WHEN 'delayed' THEN 'delayed' ELSE o.status END,
    CASE WHEN o.status = 'delayed' THEN 'in_transit' ELSE '' END, '',
    CASE WHEN o.status = 'delivered' THEN 'J. Doe' ELSE '' END, '', '', now(), now(), o.id,
    current_date + CASE WHEN o.status = 'delayed' THEN 5 ELSE 2 END,
    now() - interval '2 days', now() - interval '1 hour',
    CASE WHEN o.status = 'delivered' THEN o.delivered_at END
FROM orders_order o WHERE o.status NOT IN ('confirmed', 'processing');

INSERT INTO orders_shipmentevent (carrier, status, carrier_code, reason, description, city, region, postcode, country,
    occurred_at, received_at, signed_by, signature_ref, photo_ref, dedupe_key, applied, recorded_at, shipment_id)
SELECT 'ups', e.status, e.status, '', 'Scan: ' || e.status, (ARRAY['Louisville','Memphis','Springfield'])[e.n],
    'KY', '', 'US', now() - interval '2 days' + e.n * interval '10 hours', now(), '', '', '',
    's' || s.id || '-' || e.n, true, now(), s.id
FROM orders_shipment s
CROSS JOIN LATERAL (
    SELECT n, (ARRAY['in_transit', 'in_transit', s.status])[n] AS status
    FROM generate_series(1, CASE WHEN s.status = 'info_received' THEN 1 ELSE 3 END) n
) e;
"""


def run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# A GET on a POST-only URL: answered 405 without touching the database (wrkload's filler).
FILLER = "/webhooks/carriers/generic/"


def measure_http(url: str, tokens: list[str], args: argparse.Namespace) -> dict:
    """Pages over HTTP through gunicorn, loaded by wrk; the bare view is the same run's baseline."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.carrier_bench_settings",
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "600",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)
    results: dict = {}
    server = None
    with tempfile.TemporaryDirectory(prefix="bench-track-") as workdir:
        # As a deployment does: collected static files, or the manifest storage fails every page.
        env["BENCH_STATIC_ROOT"] = str(Path(workdir) / "static")
        run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], env)
        log = open(Path(workdir) / "gunicorn.log", "wb")  # noqa: SIM115 - closed below, after the server
        try:
            port = free_port()
            server = start_gunicorn(env, port=port, workers=args.web_workers, log=log)
            targets = {
                "page": [Request("GET", f"/t/{token}/") for token in tokens],
                "json": [Request("GET", f"/t/{token}/status.json") for token in tokens],
                "bare": [Request("GET", "/bench/bare/")],
            }
            for name, requests in targets.items():
                path = Path(workdir) / f"{name}.tsv"
                write_requests(path, requests)
                # Warm-up, not measured, counted rather than timed (on a busy machine 2 s may be a handful
                # of requests): every worker imports the app, opens its connection, loads each language.
                wrk_run(
                    port=port,
                    requests_file=path,
                    duration=60,
                    connections=args.connections,
                    limit=args.web_workers * 30,
                    filler_path=FILLER,
                )
                cpu = tree_cpu_seconds(server.pid)
                row = wrk_run(port=port, requests_file=path, duration=args.duration, connections=args.connections)
                row["web_cpu_ms_per_request"] = (tree_cpu_seconds(server.pid) - cpu) * 1000 / max(row["requests"], 1)
                results[name] = row
        finally:
            stop(server)
            log.close()
        errors = (Path(workdir) / "gunicorn.log").read_text(errors="replace")
    if any(results[name]["requests"] != results[name]["status_2xx"] for name in targets):
        print(f"some answers were not 2xx; the server's log ends with:\n{errors[-3000:]}", file=sys.stderr)
    results["web_workers"] = args.web_workers
    results["connections"] = args.connections
    results["duration_s"] = args.duration
    results["orders_requested"] = len(tokens)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database", default="oms_track_bench")
    parser.add_argument("--host", default="postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    parser.add_argument("--http", action="store_true", help="also measure over HTTP (gunicorn + wrk)")
    parser.add_argument("--http-orders", type=int, default=2000, help="distinct random orders wrk cycles through")
    parser.add_argument("--duration", type=int, default=15, help="--http: seconds per endpoint (max 120)")
    parser.add_argument("--connections", type=int, default=4, help="--http: wrk keep-alive connections")
    parser.add_argument("--web-workers", type=int, default=4, help="--http: gunicorn sync workers")
    parser.add_argument("--json", metavar="PATH", help="also write the figures there (bench/suite/run.py reads it)")
    args = parser.parse_args()
    args.duration = max(1, min(args.duration, 120))

    url = f"postgres://{args.host}/{args.database}"
    admin_url = f"postgres://{args.host}/postgres"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, "LOG_LEVEL": "ERROR"}
    os.environ.update(env)

    import psycopg2

    def connect(dsn: str):
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        return conn

    def one(conn, sql: str, params=None):
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None

    conn = connect(admin_url)
    exists = one(conn, "SELECT 1 FROM pg_database WHERE datname = %s", [args.database])
    if exists and not args.keep:
        one(conn, f'DROP DATABASE "{args.database}"')
        exists = None
    if not exists:
        one(conn, f'CREATE DATABASE "{args.database}"')
    conn.close()
    conn = connect(url)
    seeded = False
    has_table = one(conn, "SELECT to_regclass('orders_order')")[0]
    if has_table:
        seeded = one(conn, "SELECT count(*) FROM orders_order")[0] >= args.orders
    if not has_table:
        run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env)
    seed_seconds = None
    if not seeded:
        started = time.perf_counter()
        one(conn, "SET synchronous_commit = off")
        for statement in SEED_SQL.split(";\n\n"):
            sql = statement.replace("%(customers)s", str(args.customers)).replace("%(orders)s", str(args.orders))
            one(conn, sql.replace("%%", "%"))
        one(conn, "ANALYZE")
        counts = {
            t: one(conn, f"SELECT count(*) FROM {t}")[0]
            for t in ("orders_order", "orders_shipment", "orders_shipmentevent", "orders_statuschange")
        }
        seed_seconds = time.perf_counter() - started
        print(f"seeded in {seed_seconds:.1f} s: {counts}")
    conn.close()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM orders_order")
        low, high = cursor.fetchone()
    rng = random.Random(7)
    ids = [rng.randint(low, high) for _ in range(args.requests)]
    from orders.models import Order

    tokens = dict(Order.objects.filter(pk__in=ids).values_list("pk", "tracking_token"))
    client = Client()
    results = {}
    for name, suffix in (("page", ""), ("json", "status.json")):
        for token in list(tokens.values())[:20]:  # warm-up: connections, templates, caches
            client.get(f"/t/{token}/{suffix}")
        timings, queries = [], []
        for pk in ids:
            token = tokens[pk]
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(f"/t/{token}/{suffix}")
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            queries.append(len(captured.captured_queries))
        results[name] = (timings, queries)
    connection.close()
    http = None
    if args.http:
        http_ids = [rng.randint(low, high) for _ in range(args.http_orders)]
        http_tokens = dict(Order.objects.filter(pk__in=http_ids).values_list("pk", "tracking_token"))
        connection.close()
        http = measure_http(url, [http_tokens[pk] for pk in http_ids], args)
    print(f"{len(ids)} requests each, random orders among {high - low + 1:,}")
    print(f"{'endpoint':<10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'queries':>12}")
    for name, (timings, queries) in results.items():
        q = sorted(set(queries))
        print(
            f"{name:<10}{statistics.median(timings):>9.1f}{percentile(timings, 95):>9.1f}{max(timings):>9.1f}"
            f"{(str(q[0]) if len(q) == 1 else f'{q[0]}–{q[-1]}'):>12}"
        )
    if http:
        print(
            f"over HTTP: gunicorn {args.web_workers} sync workers, wrk -t1 -c{args.connections} "
            f"-d{args.duration}s, {args.http_orders} random orders"
        )
        print(f"{'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'CPU ms/req':>12}")
        for name in ("page", "json", "bare"):
            row = http[name]
            bad = row["requests"] - row["status_2xx"]
            print(
                f"{name:<10}{row['rps']:>9.0f}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}"
                f"{bad:>9}{row['web_cpu_ms_per_request']:>12.2f}"
            )
    if args.json:
        figures = {
            "orders": high - low + 1,
            "seed_seconds": seed_seconds,
            "in_process": {
                name: {
                    "requests": len(timings),
                    "p50_ms": statistics.median(timings),
                    "p95_ms": percentile(timings, 95),
                    "max_ms": max(timings),
                    "queries": sorted(set(queries)),
                }
                for name, (timings, queries) in results.items()
            },
            "http": http,
        }
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
