"""The tracking page and its JSON endpoint: access, content per status, escaping, languages, visits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from orders.statuses import OrderStatus
from orders.tracking.models import TrackingVisit
from orders.tracking.selectors import brand_palette, contrast_ratio
from tests.factories import BrandFactory
from tests.tracking.helpers import STAGES, order_at, scan

pytestmark = pytest.mark.django_db

HEADLINES = {
    "pending": "We have your order",
    "confirmed": "Your order is confirmed",
    "dispatched": "Your order has left our warehouse",
    "in_transit": "Your order is on its way",
    "out_for_delivery": "Your order is out for delivery today",
    "delayed": "Your order is delayed",
    "delivered": "Your order was delivered",
}


@pytest.mark.parametrize("stage", STAGES)
def test_it_shows_the_status_in_plain_words_at_every_stage(client, make_order, stage):
    order = order_at(stage, make_order=make_order)
    response = client.get(f"/t/{order.tracking_token}/")
    assert response.status_code == 200
    assert HEADLINES[stage] in response.content.decode()


def test_it_answers_404_for_an_unknown_token(client):
    assert client.get("/t/not-a-real-token/").status_code == 404


def test_it_shows_only_the_first_name_and_city(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert "Hello Ada" in body and "Springfield" in body
    assert "Lovelace" not in body
    assert "1 Main St" not in body
    assert "+14155550123" not in body
    assert "ada@example.com" not in body


def test_it_links_the_tracking_number_to_the_carriers_own_page(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    shipment = order.shipments.get()
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert f"https://www.ups.com/track?tracknum={shipment.tracking_number}" in body


def test_it_never_leaks_the_token_through_the_referrer_or_caches(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    response = client.get(f"/t/{order.tracking_token}/")
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cache-Control"] == "no-store"


def test_it_escapes_carrier_supplied_text(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    scan(order.shipments.get(), "in_transit", hours=5, description="<script>alert('x')</script>", city="<b>Reno</b>")
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert" in body
    assert "<b>Reno</b>" not in body


def test_it_highlights_an_exception_event(client, make_order):
    order = order_at("delayed", make_order=make_order)
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert "event--exception" in body
    assert "Needs attention" in body


def test_it_announces_a_revised_eta_later_than_promised(client, make_order):
    order = order_at("delayed", make_order=make_order)
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert "New expected delivery" in body
    assert "running late" in body


def test_it_shows_times_in_the_customers_time_zone(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    order.customer.time_zone = "America/Los_Angeles"
    order.customer.save()
    data = client.get(f"/t/{order.tracking_token}/status.json").json()
    # The hub scan happened at 11:00 UTC: 03:00 in Los Angeles (PST, UTC-8).
    assert data["shipments"][0]["events"][0]["at"].startswith("2026-11-20T03:00:00-08:00")


def test_it_marks_milestones_done_and_current(client, make_order):
    order = order_at("out_for_delivery", make_order=make_order)
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert 'data-milestone="in_transit" data-state="done"' in body
    assert 'data-milestone="out_for_delivery" data-state="current"' in body
    assert 'data-milestone="delivered" data-state="upcoming"' in body


def test_it_shows_each_parcel_of_a_split_order(client, make_order):
    from orders import services

    order = make_order(inventory_allocated=True, lines=[("A", 1), ("B", 1)])
    services.order_transition(order=order, transition="confirm", source="api")
    services.order_transition(order=order, transition="start_processing", source="api")
    services.shipment_create(order=order, carrier="ups", tracking_number="1ZA", source="api", lines=[("A", 1)])
    services.shipment_create(order=order, carrier="fedex", tracking_number="7777", source="api", lines=[("B", 1)])
    body = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert "Parcel 1 of 2" in body and "Parcel 2 of 2" in body
    assert "FedEx" in body


def test_it_counts_every_visit_with_the_state_at_that_moment(client, make_order):
    order = order_at("delayed", make_order=make_order)
    client.get(f"/t/{order.tracking_token}/")
    client.get(f"/t/{order.tracking_token}/")
    client.get(f"/t/{order.tracking_token}/status.json")  # polling is not a visit
    visits = TrackingVisit.objects.filter(order=order)
    assert visits.count() == 2
    assert all(v.exception and v.order_status == OrderStatus.DELAYED for v in visits)


def test_it_records_a_calm_visit_as_not_an_exception(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    client.get(f"/t/{order.tracking_token}/")
    assert TrackingVisit.objects.get(order=order).exception is False


def test_it_refuses_a_token_expired_after_delivery(client, make_order, settings):
    settings.TRACKING_TOKEN_DAYS_AFTER_DELIVERY = 30
    order = order_at("delivered", make_order=make_order)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=31))
    assert client.get(f"/t/{order.tracking_token}/").status_code == 410
    assert client.get(f"/t/{order.tracking_token}/status.json").status_code == 410


def test_it_keeps_a_token_alive_within_the_days_after_delivery(client, make_order, settings):
    settings.TRACKING_TOKEN_DAYS_AFTER_DELIVERY = 30
    order = order_at("delivered", make_order=make_order)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=29))
    assert client.get(f"/t/{order.tracking_token}/").status_code == 200


def test_it_shows_the_banner_only_between_its_start_and_end(client, make_order):
    brand = BrandFactory(banner_text="Free returns this week", banner_ends_at=timezone.now() + timedelta(days=1))
    order = order_at("in_transit", make_order=make_order, brand=brand)
    assert "Free returns this week" in client.get(f"/t/{order.tracking_token}/").content.decode()
    brand.banner_ends_at = timezone.now() - timedelta(minutes=1)
    brand.save()
    assert "Free returns this week" not in client.get(f"/t/{order.tracking_token}/").content.decode()


def test_it_keeps_the_same_number_of_queries_whatever_the_timeline_length(
    client, make_order, django_assert_max_num_queries
):
    order = order_at("in_transit", make_order=make_order)
    shipment = order.shipments.get()
    for hour in range(3, 23):
        scan(shipment, "in_transit", hours=hour, city=f"Hub {hour}")
    with django_assert_max_num_queries(10):
        client.get(f"/t/{order.tracking_token}/")
    with django_assert_max_num_queries(6):
        client.get(f"/t/{order.tracking_token}/status.json")


def test_the_json_version_changes_when_an_event_lands(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    before = client.get(f"/t/{order.tracking_token}/status.json").json()["version"]
    scan(order.shipments.get(), "out_for_delivery", hours=30)
    after = client.get(f"/t/{order.tracking_token}/status.json").json()
    assert after["version"] != before
    assert after["status"] == "out_for_delivery"


# --- languages ------------------------------------------------------------------------------


def test_the_url_parameter_wins_over_everything(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    order.customer.locale = "es"
    order.customer.save()
    body = client.get(f"/t/{order.tracking_token}/?lang=fr", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Votre commande est en route" in body
    assert 'lang="fr"' in body


def test_the_customers_preference_wins_over_the_browser(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    order.customer.locale = "es-MX"
    order.customer.save()
    body = client.get(f"/t/{order.tracking_token}/", HTTP_ACCEPT_LANGUAGE="fr,en;q=0.5").content.decode()
    assert "Tu pedido está en camino" in body


def test_the_browser_wins_over_the_brand_default(client, make_order):
    brand = BrandFactory(default_locale="es")
    order = order_at("in_transit", make_order=make_order, brand=brand)
    body = client.get(f"/t/{order.tracking_token}/", HTTP_ACCEPT_LANGUAGE="de;q=1, fr;q=0.8").content.decode()
    assert "Votre commande est en route" in body


def test_the_brand_default_applies_when_nothing_else_says(client, make_order):
    brand = BrandFactory(default_locale="es")
    order = order_at("in_transit", make_order=make_order, brand=brand)
    body = client.get(f"/t/{order.tracking_token}/", HTTP_ACCEPT_LANGUAGE="").content.decode()
    assert "Tu pedido está en camino" in body


# --- colours --------------------------------------------------------------------------------


def test_it_replaces_a_brand_accent_too_pale_for_text_on_white():
    palette = brand_palette("#0f3d2e", "#f59e0b")  # amber fails 4.5:1 on white
    assert palette["action"] == "#0f3d2e"
    assert contrast_ratio(palette["action"], "#ffffff") >= 4.5


def test_it_picks_readable_text_on_a_light_brand_colour():
    palette = brand_palette("#fde68a", "#1d4ed8")
    assert palette["on_primary"] == "#111827"
    assert contrast_ratio(palette["on_primary"], "#fde68a") >= 4.5
