from __future__ import annotations

import json
import time

import pytest
from rest_framework.authtoken.models import Token

from orders.models import Order
from orders.sources.models import RawIntake
from tests.factories import make_order, support_user
from tests.sources.conftest import (
    fixture_bytes,
    generic_order,
    post_generic,
    post_shopify,
    post_woocommerce,
    shopify_order,
)

pytestmark = pytest.mark.django_db
WIRE_SIGNATURE = "ZY2bTVIVk8uyEQFP7zx7uQqMaaHUKgO2B8h6J8cagj0="


def test_it_accepts_the_php_escaped_wire_bytes_with_their_signature(client):
    body = fixture_bytes("woocommerce_order_updated.wire.txt")
    assert b"https:\\/\\/example.com" in body  # the bytes WordPress sends, slashes escaped

    response = post_woocommerce(client, body, signature=WIRE_SIGNATURE)

    assert response.status_code == 202, response.content
    order = Order.objects.get(source="woocommerce", external_id="727")
    assert order.source_account == "https://example.com"
    assert order.customer.email == "john.doe@example.com"
    assert (order.ship_line1, order.ship_city, order.ship_region, order.ship_postcode) == (
        "969 Market",
        "San Francisco",
        "CA",
        "94103",
    )
    lines = {line.sku: line for line in order.lines.all()}
    # A line without a SKU is named by its product; HTML entities in names are decoded.
    assert lines["WC-93"].quantity == 2 and str(lines["WC-93"].unit_price) == "3.00"
    assert lines["Bar3"].name == "Ship Your Idea \u2013 Color: Black, Size: M Test"
    assert str(order.total) == "29.35"
    assert order.status == "confirmed"  # "completed" in WooCommerce: accepted here


def test_it_refuses_the_same_order_re_serialised_because_the_signature_covers_the_exact_bytes(client):
    pretty = fixture_bytes("woocommerce_order_updated.json")

    response = post_woocommerce(client, pretty, signature=WIRE_SIGNATURE)

    assert response.status_code == 401
    assert not RawIntake.objects.exists()


def test_it_answers_the_unsigned_ping_sent_when_a_webhook_is_created(client):
    response = client.post(
        "/webhooks/sources/woocommerce/", data="webhook_id=42", content_type="application/x-www-form-urlencoded"
    )

    assert (response.status_code, response.json()["status"]) == (200, "ping")
    assert not RawIntake.objects.exists()


def test_an_unsigned_body_that_is_not_a_ping_is_refused(client):
    response = client.post("/webhooks/sources/woocommerce/", data=b"{}", content_type="application/json")

    assert response.status_code == 401


def test_a_woocommerce_cancellation_cancels_the_order(client):
    payload = json.loads(fixture_bytes("woocommerce_order_updated.json"))
    post_woocommerce(client, {**payload, "status": "processing", "date_modified_gmt": "2026-01-01T10:00:00"})

    post_woocommerce(client, {**payload, "status": "cancelled", "date_modified_gmt": "2026-01-01T11:00:00"})

    assert Order.objects.get().status == "cancelled"


def test_a_stale_woocommerce_update_is_not_applied(client):
    payload = json.loads(fixture_bytes("woocommerce_order_updated.json"))
    post_woocommerce(client, {**payload, "status": "processing", "date_modified_gmt": "2026-01-01T11:00:00"})

    response = post_woocommerce(client, {**payload, "status": "cancelled", "date_modified_gmt": "2026-01-01T10:00:00"})

    assert response.json()["status"] == "stale"
    assert Order.objects.get().status == "confirmed"


def test_a_signed_generic_message_creates_an_order_through_the_api_serializer(client):
    response = post_generic(client, {"type": "order.created", "account": "crm-eu", "order": generic_order()})

    assert (response.status_code, response.json()["status"]) == (202, "applied")
    order = Order.objects.get(source="generic", external_id="SO-1")
    assert order.source_account == "crm-eu"
    assert order.customer.phone == "+14155550123"


def test_a_generic_status_change_moves_the_order(client):
    post_generic(client, {"type": "order.created", "account": "crm-eu", "order": generic_order()})

    post_generic(
        client,
        {"type": "order.status_changed", "account": "crm-eu", "external_id": "SO-1", "transition": "confirm"},
    )

    assert Order.objects.get().status == "confirmed"


def test_a_generic_status_change_the_order_cannot_make_is_a_dead_letter(client):
    post_generic(client, {"type": "order.created", "order": generic_order()})

    response = post_generic(client, {"type": "order.status_changed", "external_id": "SO-1", "transition": "complete"})

    assert response.json()["status"] == "rejected"
    assert "not_allowed_from_pending" in RawIntake.objects.get(status="rejected").error


def test_a_generic_message_with_an_old_timestamp_is_refused(client):
    response = post_generic(
        client, {"type": "order.created", "order": generic_order()}, timestamp=int(time.time()) - 3600
    )

    assert (response.status_code, response.json()["error"]) == (401, "stale_timestamp")


def test_the_generic_endpoint_cannot_file_orders_under_another_channel(client):
    response = post_generic(client, {"type": "order.created", "order": generic_order(source="shopify")})

    assert response.json()["status"] == "failed"
    assert not Order.objects.exists()


def test_what_the_api_would_refuse_is_refused_here_too_and_kept_as_a_dead_letter(client):
    response = post_generic(client, {"type": "order.created", "order": generic_order(currency="ZZZ")})

    assert response.json()["status"] == "rejected"
    intake = RawIntake.objects.get()
    assert "currency" in intake.error
    assert not Order.objects.exists()


def test_a_signed_body_that_is_not_json_is_stored_and_dead_lettered(client):
    response = post_generic(client, b"not json at all")

    assert (response.status_code, response.json()["status"]) == (202, "failed")
    assert bytes(RawIntake.objects.get().body) == b"not json at all"


def test_a_body_over_the_limit_is_refused_with_413(client, settings):
    settings.SOURCE_WEBHOOK_MAX_BYTES = 100

    response = post_generic(client, {"type": "order.created", "order": generic_order()})

    assert response.status_code == 413


def test_orders_from_shopify_woocommerce_generic_and_the_api_appear_in_one_list(client):
    post_shopify(client, shopify_order(cancelled_at=None, financial_status="paid"), topic="orders/create")
    post_woocommerce(client, fixture_bytes("woocommerce_order_updated.wire.txt"), signature=WIRE_SIGNATURE)
    post_generic(client, {"type": "order.created", "order": generic_order()})
    make_order(source="api")
    token = Token.objects.create(user=support_user())

    response = client.get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Token {token.key}")

    results = response.json()["results"]
    assert sorted(o["source"] for o in results) == ["api", "generic", "shopify", "woocommerce"]
    assert {tuple(sorted(o)) for o in results} == {tuple(sorted(results[0]))}  # one shape for every source
