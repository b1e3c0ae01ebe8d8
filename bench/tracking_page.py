"""Benchmark: the tracking page and its JSON endpoint with 1,000,000 orders in PostgreSQL.

    .venv/bin/python bench/tracking_page.py [--orders 1000000] [--requests 500] [--keep]

Creates a scratch database (default oms_track_bench; dropped and re-made unless --keep and it is
already seeded), migrates it, seeds with generate_series in SQL (one statement per table, not the
ORM row by row): orders in every status, one parcel per dispatched order with 2–4 carrier events,
a confirmation audit row per order. Then it requests random orders' pages in-process through
Django's test client and reports p50/p95/max server time and the query count per request.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database", default="oms_track_bench")
    parser.add_argument("--host", default="postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    args = parser.parse_args()

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
        print(f"seeded in {time.perf_counter() - started:.1f} s: {counts}")
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
    print(f"{len(ids)} requests each, random orders among {high - low + 1:,}")
    print(f"{'endpoint':<10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'queries':>12}")
    for name, (timings, queries) in results.items():
        q = sorted(set(queries))
        print(
            f"{name:<10}{statistics.median(timings):>9.1f}{percentile(timings, 95):>9.1f}{max(timings):>9.1f}"
            f"{(str(q[0]) if len(q) == 1 else f'{q[0]}–{q[-1]}'):>12}"
        )


if __name__ == "__main__":
    main()
