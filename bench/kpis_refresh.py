"""Benchmark: the KPI rollup refresh and the dashboard page with about a million notifications.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/kpis_refresh.py \
        [--orders 250000] [--days 90] [--keep] [--json PATH]

Makes a scratch database on the server of DATABASE_URL (oms_kpis_bench; dropped at the end unless
--keep), migrates it and seeds it in SQL with generate_series: --orders delivered orders over --days
days, each with a shipment, two carrier events (out for delivery, delivered), their audit rows and
four messages (email and SMS for each event, over four providers, a few percent undelivered), a
survey answer for a third of them and a tracking visit for half. Then, in this process:

- a full rebuild of the rollups (what the first refresh does);
- an incremental refresh with nothing changed (what the beat does every few minutes);
- an incremental refresh after late receipts for 1,000 messages of five days ago;
- the dashboard page for a week, a day and a month, and one CSV export.

Each is reported as wall time, this process's CPU time and the CPU time of its PostgreSQL backend
(read from /proc: the database must run on this machine; parallel query is switched off for the
session so that one backend does all the work). The machine is shared: CPU times are the steadier
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scratch import create_database, drop_database  # noqa: E402 - bench/ is on sys.path

SEED_SQL = """
INSERT INTO orders_brand (name, slug, order_prefix, order_sequence, logo, primary_colour, accent_colour,
    support_email, support_phone, support_url, email_from_name, email_from_address, sms_sender, whatsapp_sender,
    default_locale, default_time_zone, banner_text, banner_url, created_at)
SELECT 'Bench ' || b, 'bench-' || b, 'BN' || b, 0, '', '#0f3d2e', '#e07a1f', '', '', '', '', '', '', '', 'en',
    (ARRAY['America/New_York','Europe/London','Europe/Berlin'])[b], '', '', now()
FROM generate_series(1, 3) b;

INSERT INTO orders_customer (name, email, phone, locale, time_zone, consent_email, consent_sms, consent_whatsapp,
    consent_push, orders_count, created_at, brand_id)
SELECT 'Customer ' || g, 'c' || g || '@bench.example', '', 'en', 'UTC', true, true, false, false, 1, now(),
    (SELECT min(id) FROM orders_brand) + g % 3
FROM generate_series(1, 3000) g;

INSERT INTO orders_order (number, source, source_account, external_id, source_number, intake_fingerprint, ship_name,
    ship_line1, ship_line2, ship_city, ship_region, ship_postcode, ship_country, currency, total, inventory_allocated,
    regulatory_hold, regulatory_hold_reason, status, status_before_hold, tracking_token, placed_at, created_at,
    updated_at, status_changed_at, brand_id, customer_id, promised_from, promised_to, delivered_at)
SELECT 'BN-' || lpad(g::text, 8, '0'), 'api', '', 'X' || g, '', md5(g::text), '', '1 Main St', '', 'Springfield',
    '', '', 'US', 'USD', 10, true, false, '', 'delivered', '', md5('t' || g) || md5('u' || g),
    p.placed, p.placed, now() - interval '2 hours', p.placed, (SELECT min(id) FROM orders_brand) + g % 3,
    (SELECT min(id) FROM orders_customer) + g % 3000,
    (p.placed + interval '2 days')::date, (p.placed + interval '4 days')::date,
    p.placed + interval '1 day' * (2 + g % 4) + interval '1 minute' * (g % 600)
FROM generate_series(1, %(orders)s) g
-- Placed from --days + 5 days ago up to 5 days ago: every parcel is delivered by now.
CROSS JOIN LATERAL (SELECT now() - interval '5 days' - interval '1 day' * %(days)s * g / %(orders)s AS placed) p;

INSERT INTO orders_shipment (carrier, service_level, tracking_number, tracking_id, status, last_progress_status,
    status_reason, pod_signed_by, pod_signature_ref, pod_photo_ref, created_at, updated_at, order_id, eta,
    dispatched_at, last_event_at, delivered_at)
SELECT (ARRAY['ups','fedex','dhl','dpd'])[1 + o.id % 4], 'Ground', '1Z' || lpad(o.id::text, 12, '0'),
    'OMSK' || lpad(o.id::text, 16, '0'), 'delivered', '', '', '', '', '', o.placed_at, now() - interval '2 hours', o.id,
    (o.placed_at + interval '3 days')::date, o.placed_at + interval '6 hours', o.delivered_at, o.delivered_at
FROM orders_order o;

INSERT INTO orders_shipmentevent (carrier, status, carrier_code, reason, description, city, region, postcode, country,
    occurred_at, received_at, estimated_delivery, signed_by, signature_ref, photo_ref, dedupe_key, applied,
    recorded_at, shipment_id)
SELECT s.carrier, e.status, e.status, '', '', '', '', '', 'US', s.delivered_at - e.before,
    s.delivered_at - e.before + interval '2 seconds', CASE WHEN e.n = 1 THEN s.eta END, '', '', '',
    's' || s.id || '-' || e.n, true, now(), s.id
FROM orders_shipment s
CROSS JOIN LATERAL (VALUES (1, 'out_for_delivery', interval '4 hours'), (2, 'delivered', interval '0'))
    e(n, status, before);

INSERT INTO orders_statuschange (from_status, to_status, transition, source, reason, notify_customer, occurred_at,
    recorded_at, order_id, shipment_id, shipment_event_id)
SELECT 'in_transit', e.status, 'mark_' || e.status, 'carrier', '', true, e.occurred_at, now(), s.order_id, s.id, e.id
FROM orders_shipmentevent e JOIN orders_shipment s ON s.id = e.shipment_id;

INSERT INTO notifications_notification (public_id, idempotency_key, event, audience, channel, provider, recipient,
    locale, variant, urgent, queue, status, status_reason, subject, body_text, body_html, sms_encoding, data, proof,
    provider_message_id, attempts, error_code, error_message, correlation_id, created_at, updated_at, sent_at,
    delivered_at, order_id, shipment_id, status_change_id)
SELECT md5(c.id || '-' || m.channel)::uuid, 'b-' || c.id || '-' || m.channel, c.to_status, 'customer', m.channel,
    m.provider, '', 'en', '', false, 'default',
    CASE WHEN (c.id + m.k) % 37 = 0 THEN 'undelivered' WHEN (c.id + m.k) % 101 = 0 THEN 'sent' ELSE 'delivered' END,
    '', '', '', '', '', '{}', '{}', '', 1, '', '', '', c.occurred_at, now() - interval '2 hours',
    c.occurred_at + interval '2 seconds' + interval '1 millisecond' * ((c.id * 7919 + m.k * 104729) % 3000),
    CASE WHEN (c.id + m.k) % 37 <> 0 AND (c.id + m.k) % 101 <> 0 THEN c.occurred_at + interval '10 seconds' END,
    c.order_id, c.shipment_id, c.id
FROM orders_statuschange c
CROSS JOIN LATERAL (VALUES
    (0, 'email', CASE WHEN c.id % 2 = 0 THEN 'sendgrid' ELSE 'mailgun' END),
    (1, 'sms', CASE WHEN c.id % 3 = 0 THEN 'messagebird' ELSE 'twilio' END)
) m(k, channel, provider);

INSERT INTO orders_deliveryfeedback (received, score, comment, carrier, service_level, route, driver, language,
    needs_support, support_note, created_at, updated_at, order_id, shipment_id)
SELECT true, 1 + (s.id * 31) % 5, '', s.carrier, '', 'Route ' || s.id % 7, '', 'en', false, '',
    s.delivered_at + interval '1 day', now() - interval '2 hours', s.order_id, s.id
FROM orders_shipment s WHERE s.id % 3 = 0;

INSERT INTO orders_trackingvisit (visited_at, order_status, exception, via, language, order_id)
SELECT s.delivered_at - interval '3 hours', (ARRAY['in_transit','out_for_delivery','delayed'])[1 + s.id % 3],
    s.id % 3 = 2, 'link', 'en', s.order_id
FROM orders_shipment s WHERE s.id % 2 = 0;
ANALYZE;
"""


def backend_cpu(pid: int | None) -> float:
    """CPU seconds of our PostgreSQL backend (same machine: /proc), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def timed(label: str, fn, results: dict, pid: int | None = None):
    wall, cpu, db = time.perf_counter(), time.process_time(), backend_cpu(pid)
    value = fn()
    results[label] = {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "db_cpu_s": round(backend_cpu(pid) - db, 3),
    }
    row = results[label]
    print(
        f"{label:<36} wall {row['wall_s']:>8.3f} s   cpu {row['cpu_s']:>8.3f} s   db cpu {row['db_cpu_s']:>8.3f} s",
        flush=True,
    )
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=250_000, help="4 messages each (default: 1,000,000 messages)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database", default="oms_kpis_bench")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse, if seeded) the scratch database")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(server)
    url = f"{parts.scheme}://{parts.netloc}/{args.database}"
    import psycopg2

    reuse = False
    if args.keep:
        try:
            psycopg2.connect(url).close()
            reuse = True
        except psycopg2.OperationalError:
            reuse = False
    if not reuse:
        drop_database(server, args.database)
        create_database(server, args.database)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from kpis.refresh import kpis_refresh
    from notifications.models import Notification

    results: dict = {"orders": args.orders, "days": args.days}
    try:
        if not reuse:
            call_command("migrate", verbosity=0)
            with connection.cursor() as cursor:
                timed(
                    "seed (SQL)",
                    lambda: cursor.execute(
                        SEED_SQL.replace("%(orders)s", str(args.orders)).replace("%(days)s", str(args.days))
                    ),
                    results,
                )
        results["notifications"] = Notification.objects.count()
        print(f"{results['notifications']:,} notifications", flush=True)

        # One backend does all the work (no parallel workers), so its CPU time is the database's share.
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        full = timed("refresh: full rebuild", lambda: kpis_refresh(full=True), results, pid)
        results["full_days"] = full.days
        idle = timed("refresh: incremental, nothing new", kpis_refresh, results, pid)
        results["idle_days"] = idle.days
        # Receipts that land late: 1,000 messages created five to seven days ago turn out undelivered.
        now = timezone.now()
        late = list(
            Notification.objects.filter(
                created_at__gte=now - timezone.timedelta(days=7), created_at__lt=now - timezone.timedelta(days=5)
            ).values_list("pk", flat=True)[:1000]
        )
        Notification.objects.filter(pk__in=late).update(status="undelivered", updated_at=timezone.now())
        receipts = timed("refresh: after 1,000 late receipts", kpis_refresh, results, pid)
        results["late_days"] = receipts.days

        user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
        client = Client()
        client.force_login(user)
        for label, query in (
            ("page: week (all)", "?grain=week"),
            ("page: day (all)", "?grain=day"),
            ("page: month (all)", "?grain=month&span=4"),
            ("page: week, brand + sms", "?grain=week&brand=2&channel=sms"),
            ("csv: delivery by provider", "?grain=week&export=delivery_by_provider"),
        ):
            client.get("/admin/kpis/" + query)  # warm: templates, form choices
            with CaptureQueriesContext(connection) as queries:
                response = timed(label, lambda q=query: client.get("/admin/kpis/" + q), results, pid)
            assert response.status_code == 200, response.status_code
            results[label]["queries"] = len(queries)
        from kpis.models import NotificationRollup

        results["rollup_rows"] = NotificationRollup.objects.count()
    finally:
        connection.close()
        if not args.keep:
            drop_database(server, args.database)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
