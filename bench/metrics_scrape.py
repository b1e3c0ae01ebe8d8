"""Benchmark: the cost of one /metrics scrape with millions of rows in PostgreSQL.

    .venv/bin/python bench/metrics_scrape.py [--rows 1000000] [--scrapes 20] [--keep]

Creates a scratch database (oms_metrics_bench on the server of DATABASE_URL), migrates it, seeds
with generate_series in SQL: --rows notifications spread evenly over 30 days (every status, a
retry backlog, dead letters), 1.2 attempts per notification, --rows carrier webhooks and
--rows/2 source intakes over the same 30 days. Then it runs the database part of a scrape
(operations.collectors.DatabaseCollector) --scrapes times and reports the wall time per scrape
(p50/max), this process's CPU time per scrape, and the plan of every query (EXPLAIN): an index
range, or a sequential scan (which would grow with the table).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scratch import create_database, drop_database  # noqa: E402

NAME = "oms_metrics_bench"
DAYS = 30

SEED_SQL = """
INSERT INTO notifications_notification (public_id, idempotency_key, event, audience, channel, provider, recipient,
    locale, variant, urgent, queue, status, status_reason, subject, body_text, body_html, sms_encoding, data, proof,
    provider_message_id, attempts, error_code, error_message, correlation_id, created_at, updated_at,
    dead_lettered_at)
SELECT gen_random_uuid(), 'bench-' || g, 'order_dispatched', 'customer',
    (ARRAY['email','sms','whatsapp','push'])[1 + g %% 4],
    (ARRAY['sendgrid','twilio','twilio','fcm'])[1 + g %% 4], '', 'en', '', false, 'default',
    CASE WHEN g %% 1000 = 0 THEN 'failed' WHEN g %% 997 = 0 THEN 'scheduled' WHEN g %% 50 = 0 THEN 'sent'
         ELSE 'delivered' END,
    CASE WHEN g %% 997 = 0 THEN 'retry' WHEN g %% 1000 = 0 THEN 'dead-lettered' ELSE '' END,
    '', '', '', '', '{}', '{}', '', 1 + (g %% 5 = 0)::int, '', '', '',
    now() - (%(days)s * interval '1 day') * (1 - g::float / %(rows)s),
    now() - (%(days)s * interval '1 day') * (1 - g::float / %(rows)s),
    CASE WHEN g %% 1000 = 0 THEN now() ELSE NULL END
FROM generate_series(1, %(rows)s) AS g;

INSERT INTO notifications_deliveryattempt (number, provider, started_at, latency_ms, outcome, provider_message_id,
    error_code, error_message, notification_id)
SELECT 1, n.provider, n.created_at, 80, CASE WHEN n.attempts > 1 THEN 'transient' ELSE 'success' END, '',
    CASE WHEN n.attempts > 1 THEN 'http_503' ELSE '' END, '', n.id
FROM notifications_notification n;
INSERT INTO notifications_deliveryattempt (number, provider, started_at, latency_ms, outcome, provider_message_id,
    error_code, error_message, notification_id)
SELECT 2, n.provider, n.created_at + interval '1 minute', 80, 'success', '', '', '', n.id
FROM notifications_notification n WHERE n.attempts > 1;

INSERT INTO carriers_rawwebhook (carrier, source, headers, body, received_at, status, error, events_count, attempts)
SELECT (ARRAY['easypost','shippo','aftership','ups','fedex','generic'])[1 + g %% 6], 'webhook', '{}', '\\x7b7d',
    now() - (%(days)s * interval '1 day') * (1 - g::float / %(rows)s),
    CASE WHEN g %% 500 = 0 THEN 'failed' ELSE 'processed' END, '', 1, 1
FROM generate_series(1, %(rows)s) AS g;

INSERT INTO orders_rawintake (source, topic, delivery_id, headers, body, received_at, status, error, findings,
    external_id, order_value, currency, customer_email, customer_tier, impact, attempts, redeliveries)
SELECT (ARRAY['shopify','woocommerce','generic'])[1 + g %% 3], 'orders/create', 'd-' || g, '{}', '\\x7b7d',
    now() - (%(days)s * interval '1 day') * (1 - g::float / %(half)s),
    CASE WHEN g %% 400 = 0 THEN 'rejected' ELSE 'applied' END, '', '[]', 'x-' || g, 0, 'USD', '', '', 0, 1, 0
FROM generate_series(1, %(half)s) AS g;
ANALYZE;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")

    import psycopg2

    seeded = False
    if args.keep:
        try:
            url = base_url.rsplit("/", 1)[0] + f"/{NAME}"
            with psycopg2.connect(url) as conn, conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM notifications_notification")
                seeded = cursor.fetchone()[0] >= args.rows
        except psycopg2.Error:
            seeded = False
    if not seeded:
        drop_database(base_url, NAME)
        url = create_database(base_url, NAME)
    os.environ.update(
        DATABASE_URL=url, DJANGO_SETTINGS_MODULE="tests.settings", CELERY_TASK_ALWAYS_EAGER="true", LOG_LEVEL="ERROR"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if not seeded:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(SEED_SQL, {"rows": args.rows, "half": args.rows // 2, "days": DAYS})
        print(f"seeded {args.rows:,} notifications/webhooks in {time.perf_counter() - started:.0f}s")

    from django.conf import settings
    from django.test.utils import CaptureQueriesContext

    from operations.collectors import DatabaseCollector

    collector = DatabaseCollector()
    list(collector.collect())  # warm the connection and the caches
    walls, cpus = [], []
    for _ in range(args.scrapes):
        wall, cpu = time.perf_counter(), time.process_time()
        families = list(collector.collect())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert any(f.name == "oms_metrics_database_up" and f.samples[0].value == 1 for f in families)
    with CaptureQueriesContext(connection) as queries:
        list(collector.collect())
    print(f"window {settings.METRICS_WINDOW_SECONDS}s of {DAYS} days; {args.scrapes} scrapes")
    print(f"wall per scrape: p50 {statistics.median(walls) * 1000:.1f} ms, max {max(walls) * 1000:.1f} ms")
    print(f"this process's CPU per scrape: p50 {statistics.median(cpus) * 1000:.1f} ms")
    print(f"queries per scrape: {len(queries.captured_queries) - 1} (plus SET LOCAL statement_timeout)")
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            sql = query["sql"]
            if not sql.startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN " + sql)
            plan = [row[0] for row in cursor.fetchall()]
            scans = sorted({line.strip().split(" on ")[0].lstrip("-> ").strip() for line in plan if " on " in line})
            print(f"  {', '.join(scans):60} {sql[:90]}")
    if not args.keep:
        connection.close()
        drop_database(base_url, NAME)


if __name__ == "__main__":
    main()
