"""Each KPI computed from a known set of records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kpis import queries
from kpis.histograms import bucket_of, hist_empty, hist_percentile, hist_share_under
from kpis.periods import kpi_zone
from kpis.refresh import kpis_refresh
from notifications.models import Notification
from tests.kpis import records as r

pytestmark = pytest.mark.django_db
S = Notification.Status


def day_of(moment):
    return moment.astimezone(kpi_zone()).date()


def selection(moment, **kwargs) -> queries.Selection:
    return queries.Selection(grain=kwargs.pop("grain", "day"), period=day_of(moment), span=2, **kwargs)


def provider_row(tables: dict, channel: str, provider: str) -> dict:
    table = next(t for t in tables["tables"] if t.key == "delivery_by_provider")
    labels = [label for label, _ in table.columns]
    rows = [dict(zip(labels, row, strict=True)) for row in table.rows if row[:2] == [channel, provider]]
    assert len(rows) == 1, table.rows
    return rows[0]


@pytest.fixture
def clean():
    """Orders made by the services may queue their own messages: the tests count only theirs."""

    def wipe():
        Notification.objects.all().delete()

    return wipe


def test_with_no_records_every_figure_is_none_rather_than_zero():
    kpis_refresh()
    sel = selection(r.NOW)
    n = queries.notification_tables(sel)
    assert n["delivery"]["delivery_rate"] is None
    assert n["delivery"]["acceptance_rate"] is None
    assert n["confirm"]["p50_ms"] is None and n["latency"]["under_2s"] is None
    assert queries.feedback_tables(sel)["feedback"]["csat"] is None
    assert queries.shipment_tables(sel)["shipments"]["on_time_rate"] is None
    assert queries.visit_tables(sel)["visits"]["per_order"] is None


def test_delivery_rate_counts_receipts_over_messages_accepted_by_providers_that_report_them(clean):
    o = r.order()
    clean()
    at = r.days_ago(2)
    sent = at + timedelta(seconds=1)
    for _ in range(3):
        r.message(o=o, status=S.DELIVERED, created_at=at, sent_at=sent, delivered_at=sent)
    r.message(o=o, status=S.UNDELIVERED, created_at=at, sent_at=sent)
    r.message(o=o, status=S.SENT, created_at=at, sent_at=sent)  # no receipt yet
    r.message(o=o, status=S.FAILED, created_at=at)  # refused by the provider
    r.message(o=o, status=S.SUPPRESSED, created_at=at)  # never handed over
    kpis_refresh()

    tables = queries.notification_tables(selection(at, channel="sms"))
    row = provider_row(tables, "sms", "twilio")
    assert row["Messages"] == 7
    assert row["Accepted"] == 5 and row["Rejected"] == 1
    assert row["Acceptance rate"] == pytest.approx(5 / 6)
    assert row["Delivery rate"] == pytest.approx(3 / 5)
    assert row["Not delivered"] == 1 and row["No receipt yet"] == 1
    assert tables["delivery"]["delivery_rate"] == pytest.approx(3 / 5)


def test_a_channel_without_receipts_has_an_acceptance_rate_but_no_delivery_rate(clean):
    o = r.order()
    clean()
    at = r.days_ago(1)
    r.message(o=o, channel="push", provider="fcm", created_at=at, sent_at=at)
    r.message(o=o, channel="push", provider="fcm", created_at=at, sent_at=at)
    kpis_refresh()

    tables = queries.notification_tables(selection(at))
    row = provider_row(tables, "push", "fcm")
    assert row["Acceptance rate"] == 1.0
    assert row["With receipts"] == 0
    assert row["Delivery rate"] is None
    assert tables["delivery"]["delivery_rate"] is None


def test_the_provider_that_dropped_the_most_is_listed_first(clean):
    o = r.order()
    clean()
    at = r.days_ago(1)
    r.message(o=o, provider="twilio", status=S.UNDELIVERED, created_at=at, sent_at=at)
    for _ in range(2):
        r.message(o=o, provider="messagebird", status=S.UNDELIVERED, created_at=at, sent_at=at)
    r.message(o=o, channel="email", provider="sendgrid", status=S.DELIVERED, created_at=at, sent_at=at)
    kpis_refresh()

    table = next(t for t in queries.notification_tables(selection(at))["tables"] if t.key == "delivery_by_provider")
    assert [row[1] for row in table.rows] == ["messagebird", "twilio", "sendgrid"]


def test_time_to_confirm_runs_from_the_carriers_delivered_scan_to_the_provider_accepting_the_message(clean):
    o = r.order()
    s = r.shipment(o)
    clean()
    scanned = r.days_ago(1)
    # 5 s, 10 s, 20 s, 40 s after the scan; a resend is left out.
    for seconds in (5, 10, 20, 40):
        _, change = r.scan(s, "delivered", occurred_at=scanned)
        r.message(
            o=o, s=s, event="delivered", change=change, created_at=scanned, sent_at=scanned + timedelta(seconds=seconds)
        )
    kpis_refresh()

    confirm = queries.notification_tables(selection(scanned))["confirm"]
    assert confirm["count"] == 4
    assert confirm["avg_ms"] == pytest.approx(18_750)
    assert confirm["under_30s"] == pytest.approx(0.75)
    assert 10_000 <= confirm["p50_ms"] <= 20_000
    assert 30_000 <= confirm["p95_ms"] <= 40_000


def test_update_latency_runs_from_the_webhooks_arrival_and_leaves_out_messages_held_on_purpose(clean):
    o = r.order()
    s = r.shipment(o)
    clean()
    received = r.days_ago(1)
    for ms in (300, 800, 1500, 2500):
        _, change = r.scan(s, "out_for_delivery", occurred_at=received - timedelta(minutes=5), received_at=received)
        r.message(o=o, s=s, change=change, created_at=received, sent_at=received + timedelta(milliseconds=ms))
    # Held for quiet hours: sent nine hours later on purpose.
    _, change = r.scan(s, "out_for_delivery", occurred_at=received, received_at=received)
    r.message(
        o=o,
        s=s,
        change=change,
        created_at=received,
        sent_at=received + timedelta(hours=9),
        due_at=received + timedelta(hours=9),
    )
    kpis_refresh()

    latency = queries.notification_tables(selection(received))["latency"]
    assert latency["count"] == 4
    assert latency["under_2s"] == pytest.approx(0.75)
    assert 500 <= latency["p50_ms"] <= 1_000
    assert 2_000 <= latency["p99_ms"] <= 2_500


def test_csat_average_distribution_response_rate_and_the_lowest_scoring_route(clean):
    at = r.days_ago(1)
    orders = [r.order() for _ in range(4)]
    clean()
    for o in orders:
        r.message(o=o, event="feedback_request", channel="email", provider="sendgrid", created_at=at, sent_at=at)
    r.feedback(orders[0], score=5, carrier="ups", route="north", at=at)
    r.feedback(orders[1], score=4, carrier="ups", route="north", at=at)
    r.feedback(orders[2], score=1, carrier="dhl", route="south", received=False, at=at)
    kpis_refresh()

    result = queries.feedback_tables(selection(at))
    f = result["feedback"]
    assert f["csat"] == pytest.approx(10 / 3)
    assert f["scores"] == [1, 0, 0, 1, 1]
    assert f["response_rate"] == pytest.approx(3 / 4)
    lowest = next(t for t in result["tables"] if t.key == "csat_lowest")
    assert lowest.rows[0][:4] == ["dhl", "south", 1, 1.0]
    assert lowest.rows[0][4] == 1  # said it never arrived


def test_on_time_eta_accuracy_and_failed_first_attempt_use_the_first_eta_and_the_promised_window():
    delivered = r.days_ago(1)
    day = day_of(delivered)
    # On time, delivered on the first ETA, after a failed attempt.
    a = r.shipment(
        r.order(promised=(day - timedelta(days=1), day)), delivered_at=delivered, eta=day + timedelta(days=3)
    )
    r.scan(a, "in_transit", occurred_at=delivered - timedelta(days=2), eta=day)
    r.scan(a, "in_transit", occurred_at=delivered - timedelta(days=1), eta=day + timedelta(days=3))
    r.scan(a, "attempt_failed", occurred_at=delivered - timedelta(hours=5))
    # Late by two days against both the window and the ETA (no ETA event: the shipment's own).
    b = r.shipment(
        r.order(promised=(None, day - timedelta(days=2))), delivered_at=delivered, eta=day - timedelta(days=2)
    )
    # No window, no ETA.
    r.shipment(r.order(), delivered_at=delivered)
    kpis_refresh()

    result = queries.shipment_tables(selection(delivered))["shipments"]
    assert result["delivered"] == 3
    assert result["on_time_rate"] == pytest.approx(1 / 2)
    assert result["eta_accuracy"] == pytest.approx(1 / 2)
    assert result["eta_mean_error_days"] == pytest.approx(1.0)
    assert result["failed_first_attempt_rate"] == pytest.approx(1 / 3)
    assert b.carrier == "ups"


def test_tracking_visits_per_order_and_by_exception_type_count_distinct_orders_across_a_week():
    monday = day_of(r.NOW) - timedelta(days=day_of(r.NOW).weekday() + 7)
    first, second = r.order(), r.order()
    zone = kpi_zone()
    from datetime import datetime, time

    def at(offset_days: int):
        return datetime.combine(monday + timedelta(days=offset_days), time(12), zone)

    r.visit(first, at=at(0))
    r.visit(first, at=at(1))
    r.visit(first, at=at(2), status="delayed", exception=True)
    r.visit(second, at=at(3))
    kpis_refresh()

    week = queries.visit_tables(queries.Selection(grain="week", period=monday, span=1))
    assert week["visits"]["visits"] == 4
    # Three statuses rows: in_transit (2 orders, 3 visits) and delayed (1 order, 1 visit).
    assert week["visits"]["per_order"] == pytest.approx(4 / 3)
    assert week["visits"]["exception_share"] == pytest.approx(1 / 4)
    table = week["tables"][0]
    assert table.rows[0][:4] == ["delayed", "yes", 1, 1]


@pytest.mark.parametrize(
    ("samples", "q", "low", "high"),
    [([50] * 10, 0.5, 0, 100), ([150, 1500, 1500, 1500], 0.5, 1_000, 2_000), ([10] * 99 + [50_000], 0.99, 0, 100)],
)
def test_a_percentile_falls_inside_the_bucket_that_holds_it(samples, q, low, high):
    hist = hist_empty()
    for ms in samples:
        hist[bucket_of(ms)] += 1
    assert low <= hist_percentile(hist, q, max_ms=max(samples)) <= high


def test_the_share_under_a_target_is_exact_at_a_bucket_edge():
    hist = hist_empty()
    for ms in (1_999, 2_000, 29_999, 30_000):
        hist[bucket_of(ms)] += 1
    assert hist_share_under(hist, 2_000) == 0.25
    assert hist_share_under(hist, 30_000) == 0.75
