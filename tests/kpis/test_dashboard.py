"""The dashboard page: staff only, every figure with its definition, CSV of every table, the demo."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from carriers.models import ReconciliationRun, SyncMismatch
from kpis.definitions import DEFINITIONS
from kpis.demo import BRAND_SETUP, kpis_demo_history
from kpis.models import RefreshState
from kpis.periods import kpi_zone, period_start
from kpis.refresh import kpis_refresh
from notifications.models import Notification
from orders.models import Brand
from tests.factories import BrandFactory
from tests.kpis import records as r

pytestmark = pytest.mark.django_db
S = Notification.Status
URL = "/admin/kpis/"


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("kpi-staff", password="x", is_staff=True)
    client.force_login(user)
    return client


def last_week() -> str:
    today = timezone.localdate()
    return str(period_start(today, "week") - timedelta(days=7))


@pytest.fixture
def sms_last_week():
    """Brand X's SMS last week: Twilio delivers 3 of 3, MessageBird drops 2 of 4."""
    brand = BrandFactory(slug="brand-x", name="Brand X", order_prefix="BRX")
    other = BrandFactory(slug="brand-y", name="Brand Y", order_prefix="BRY")
    o, elsewhere = r.order(brand=brand), r.order(brand=other)
    Notification.objects.all().delete()
    at = timezone.datetime.fromisoformat(last_week()).replace(hour=10, tzinfo=kpi_zone()) + timedelta(days=2)
    for _ in range(3):
        r.message(o=o, provider="twilio", status=S.DELIVERED, created_at=at, sent_at=at)
    for status in (S.DELIVERED, S.DELIVERED, S.UNDELIVERED, S.UNDELIVERED):
        r.message(o=o, provider="messagebird", status=status, created_at=at, sent_at=at)
    # Another brand's drops must not count.
    for _ in range(5):
        r.message(o=elsewhere, provider="twilio", status=S.UNDELIVERED, created_at=at, sent_at=at)
    kpis_refresh()
    return brand


def test_someone_who_is_not_staff_is_sent_to_the_admin_login(client):
    for url in (URL, URL + "?export=delivery_by_provider", URL + "definitions/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(get_user_model().objects.create_user("customer", password="x"))
    response = client.get(URL + "?export=delivery_by_provider")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.post(URL + "refresh/").status_code == 302


def test_the_admin_index_links_to_the_dashboard(staff):
    page = staff.get("/admin/").content.decode()
    link = reverse("admin:kpis_refreshstate_changelist")
    assert f'href="{link}"' in page
    assert staff.get(link)["Location"] == URL


def test_with_no_data_the_page_says_so_instead_of_showing_zeros(staff):
    page = staff.get(URL).content.decode()
    assert "No reconciliation run yet." in page
    assert "No data for this selection." in page
    assert "0.0 %" not in page


def test_sms_delivery_rate_of_a_brand_last_week_and_the_provider_that_dropped_the_most(staff, sms_last_week):
    query = f"?grain=week&period={last_week()}&brand={sms_last_week.pk}&channel=sms"
    page = staff.get(URL + query).content.decode()
    tiles = re.findall(r'<div class="kpi-value">([^<]+)</div>', page)
    assert tiles[0] == "71.4 %"  # 5 delivered of 7 with receipts

    rows = list(csv.reader(io.StringIO(staff.get(URL + query + "&export=delivery_by_provider").content.decode())))
    assert rows[0][:2] == ["Channel", "Provider"]
    assert [row[1] for row in rows[1:]] == ["messagebird", "twilio"]
    header = rows[0]
    assert rows[1][header.index("Not delivered")] == "2"
    assert rows[1][header.index("Delivery rate")] == "0.5000"


def test_every_figure_has_its_definition_one_click_away(staff, sms_last_week):
    page = staff.get(URL).content.decode()
    tiles = page.count('class="kpi-value"')
    assert page.count('<details class="kpi-def">') >= tiles - 1  # the open-mismatches tile is a link
    definitions = staff.get(URL + "definitions/").content.decode()
    for anchor, (title, _) in DEFINITIONS.items():
        assert f'id="{anchor}"' in definitions and title in definitions
        assert f"definitions/#{anchor}" in page or anchor in ("percentiles", "periods", "drop-rate")


def test_every_table_exports_as_csv_with_raw_numbers(staff, sms_last_week):
    page = staff.get(URL + f"?grain=week&period={last_week()}").content.decode()
    keys = set(re.findall(r"export=([a-z_]+)", page))
    assert {"delivery_by_provider", "update_latency", "csat_lowest", "delivery_performance", "visits_by_status"} <= keys
    for key in keys:
        response = staff.get(URL + f"?grain=week&period={last_week()}&export={key}")
        assert response.status_code == 200, key
        assert response["Content-Type"].startswith("text/csv")
        assert f"kpis-{key}-week-{last_week()}.csv" in response["Content-Disposition"]
        assert "%" not in response.content.decode()


def test_an_unknown_table_or_a_bad_selection_gets_a_clear_error(staff):
    response = staff.get(URL + "?export=nope")
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_table"
    assert "delivery_by_provider" in response.json()["fields"]["export"]
    response = staff.get(URL + "?grain=year&export=delivery_by_provider")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_selection" and "grain" in response.json()["fields"]
    # On the page the same mistake is shown next to the field.
    assert staff.get(URL + "?grain=year").status_code == 200


def test_data_sync_accuracy_comes_from_the_latest_reconciliation_runs(staff):
    now = timezone.now()
    ReconciliationRun.objects.create(
        started_at=now - timedelta(days=1), finished_at=now, checked=200, mismatched=2, running=False
    )
    latest = ReconciliationRun.objects.create(
        started_at=now - timedelta(hours=1), finished_at=now, checked=100, mismatched=0, running=False
    )
    ReconciliationRun.objects.create(started_at=now, checked=5, mismatched=5)  # still running: left out
    shipment = r.shipment(r.order())
    SyncMismatch.objects.create(
        run=latest,
        shipment=shipment,
        client="ups",
        kind="missed_event",
        ours="in_transit",
        carrier_status="delivered",
        carrier_event_at=now,
        detected_at=now,
        last_seen_at=now,
    )
    page = staff.get(URL).content.decode()
    assert "No reconciliation run yet." not in page
    tiles = re.findall(r'<div class="kpi-value">([^<]+)</div>', page)
    assert tiles[-3:] == ["100.0 %", "99.3 %", "1"]
    assert reverse("admin:carriers_syncmismatch_changelist") + "?open=yes" in page


def test_the_demo_history_gives_every_chart_and_table_values(staff):
    for slug in BRAND_SETUP:
        brand = Brand.objects.filter(slug=slug).first() or BrandFactory(slug=slug)
        r.order(brand=brand)
    assert kpis_demo_history(days=21, orders_per_day=2) > 0
    assert kpis_demo_history(days=21) == 0  # once only
    kpis_refresh(full=True)

    page = staff.get(URL).content.decode()
    assert "No data for this selection" not in page
    charts = re.findall(r'<svg[^>]*class="pygal-chart".*?</svg>', page, re.S)
    assert len(charts) == 7
    for svg in charts:
        # Drawn on the server: no script, nothing fetched from elsewhere.
        assert "<script" not in svg
        assert set(re.findall(r"https?://[^\s\"'<>]+", svg)) <= {
            "http://www.w3.org/2000/svg",
            "http://www.w3.org/1999/xlink",
        }
    tiles = re.findall(r'<div class="kpi-value">([^<]+)</div>', page)
    assert "—" not in tiles


def test_refresh_now_queues_the_refresh_and_comes_back_to_the_dashboard(staff):
    response = staff.post(URL + "refresh/")
    assert response.status_code == 302 and response["Location"] == URL
    # Tasks run in-process in the tests: the refresh has happened.
    assert RefreshState.objects.get(pk=1).watermark is not None
    assert staff.get(URL + "refresh/").status_code == 405
