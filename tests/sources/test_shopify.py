from __future__ import annotations

from decimal import Decimal

import pytest

from oms_notify import crypto
from orders.models import Order, Shipment
from orders.sources import services
from orders.sources.models import RawIntake, SourceAccount
from tests.sources.conftest import SHOP, fixture_bytes, post_shopify, shopify_order

pytestmark = pytest.mark.django_db
PUBLISHED_SIGNATURE = "nDUqIWSLQlBhgRJAVPg4SWZEbBe8M619OS7UyZ+nNxo="


def live_order(**changes) -> dict:
    """The fixture order as a live one: not cancelled, not paid yet (unless changed)."""
    return shopify_order(**{"cancelled_at": None, "cancel_reason": None, "financial_status": "pending", **changes})


def test_it_accepts_the_fixture_bytes_with_the_published_signature_and_files_the_order():
    from django.test import Client

    response = post_shopify(
        Client(), fixture_bytes("shopify_orders_updated.json"), topic="orders/create", signature=PUBLISHED_SIGNATURE
    )

    assert response.status_code == 202, response.content
    order = Order.objects.get(source="shopify", external_id="820982911946154508")
    assert order.source_account == SHOP
    assert order.source_number == "#9999"
    assert order.total == Decimal("404.95")
    assert order.customer.email == "jon@example.com"
    assert sorted(order.lines.values_list("sku", flat=True)) == [
        "CASE-LEATHER-PREM",
        "LENS-PROTECT-2YR",
        "SKU2006-001",
        "SKU2006-020",
        "SKU2006-035",
    ]
    assert (order.ship_line1, order.ship_city, order.ship_region, order.ship_country) == (
        "123 Shipping Street",
        "Shippington",
        "KY",
        "US",
    )
    # The fixture is a cancelled order: the cancellation is applied through the lifecycle.
    assert order.status == "cancelled"
    assert order.history.filter(transition="cancel", source="shopify").exists()


def test_it_drops_a_phone_that_is_not_a_valid_number_instead_of_refusing_the_order(client):
    post_shopify(client, live_order(phone="555-555-SHIP"))

    assert Order.objects.get(source="shopify").customer.phone == ""


def test_it_refuses_a_wrong_signature_and_stores_nothing(client):
    response = post_shopify(client, fixture_bytes("shopify_orders_updated.json"), signature="AAAA" + "A" * 40)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert not RawIntake.objects.exists()


def test_it_refuses_a_body_changed_after_signing(client):
    body = fixture_bytes("shopify_orders_updated.json").replace(b"404.95", b"4.95")

    response = post_shopify(client, body, signature=PUBLISHED_SIGNATURE)

    assert response.status_code == 401


def test_a_shop_signs_with_its_own_secret_and_both_secrets_work_during_rotation(client, settings):
    settings.SOURCE_WEBHOOK_SECRETS = {"shopify": ""}
    account = SourceAccount.objects.create(source="shopify", identifier=SHOP)
    services.source_account_set_secret(account=account, secret="old-shop-secret")
    services.source_account_set_secret(account=account, secret="new-shop-secret")

    assert post_shopify(client, live_order(id=1), secret="old-shop-secret").status_code == 202
    assert post_shopify(client, live_order(id=2), secret="new-shop-secret").status_code == 202
    services.source_account_drop_previous_secret(account=account)
    assert post_shopify(client, live_order(id=3), secret="old-shop-secret").status_code == 401
    assert crypto.decrypt(SourceAccount.objects.get().secret_encrypted) == "new-shop-secret"


def test_another_shop_cannot_use_a_shop_secret(client, settings):
    settings.SOURCE_WEBHOOK_SECRETS = {"shopify": ""}
    account = SourceAccount.objects.create(source="shopify", identifier=SHOP)
    services.source_account_set_secret(account=account, secret="shop-secret")

    response = post_shopify(client, live_order(), secret="shop-secret", shop="other.myshopify.com")

    assert response.status_code == 401


def test_a_repeated_webhook_id_is_answered_as_a_duplicate_and_applied_once(client):
    body = live_order()
    first = post_shopify(client, body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    again = post_shopify(client, body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")

    assert first.status_code == 202
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert Order.objects.count() == 1
    assert RawIntake.objects.get().redeliveries == 1


def test_a_newer_update_moves_the_order(client):
    post_shopify(client, live_order(updated_at="2026-01-01T10:00:00Z"), topic="orders/create")
    post_shopify(client, live_order(updated_at="2026-01-01T11:00:00Z", financial_status="paid"))

    assert Order.objects.get().status == "confirmed"


def test_a_stale_update_is_kept_but_never_overwrites_newer_data(client):
    post_shopify(client, live_order(updated_at="2026-01-01T11:00:00Z", financial_status="paid"))
    stale = shopify_order(updated_at="2026-01-01T10:00:00Z")  # older, and says cancelled

    response = post_shopify(client, stale)

    assert response.json()["status"] == "stale"
    assert Order.objects.get().status == "confirmed"
    assert RawIntake.objects.filter(status="stale").count() == 1


def test_the_triggered_at_header_dates_a_payload_without_updated_at(client):
    post_shopify(client, live_order(updated_at=None, financial_status="paid"), triggered_at="2026-01-01T11:00:00Z")

    response = post_shopify(client, shopify_order(updated_at=None), triggered_at="2026-01-01T10:00:00Z")

    assert response.json()["status"] == "stale"


def test_orders_cancelled_cancels_the_order(client):
    post_shopify(client, live_order(updated_at="2026-01-01T10:00:00Z"), topic="orders/create")

    post_shopify(client, live_order(updated_at="2026-01-01T12:00:00Z"), topic="orders/cancelled")

    assert Order.objects.get().status == "cancelled"


def fulfillment(**changes) -> dict:
    payload = {
        "id": 255858046,
        "order_id": 820982911946154508,
        "status": "success",
        "created_at": "2026-01-02T09:00:00-05:00",
        "updated_at": "2026-01-02T09:00:00-05:00",
        "tracking_company": "UPS",
        "tracking_number": "1Z2345",
        "tracking_numbers": ["1Z2345"],
        "shipment_status": None,
        "line_items": [{"id": 487817672276298554, "sku": "SKU2006-001", "quantity": 1}],
    }
    payload.update(changes)
    return payload


def test_a_fulfillment_creates_a_shipment_with_its_tracking_number_and_lines(client):
    post_shopify(client, live_order(financial_status="paid"), topic="orders/create")

    response = post_shopify(client, fulfillment(), topic="fulfillments/create")

    assert response.json()["status"] == "applied"
    shipment = Shipment.objects.get()
    assert (shipment.carrier, shipment.tracking_number) == ("ups", "1Z2345")
    assert [(line.order_line.sku, line.quantity) for line in shipment.lines.all()] == [("SKU2006-001", 1)]


def test_a_fulfillment_update_moves_the_shipment(client):
    post_shopify(client, live_order(financial_status="paid"), topic="orders/create")
    post_shopify(client, fulfillment(), topic="fulfillments/create")

    post_shopify(
        client,
        fulfillment(shipment_status="in_transit", updated_at="2026-01-02T15:00:00-05:00"),
        topic="fulfillments/update",
    )

    assert Shipment.objects.get().status == "in_transit"


def test_a_fulfillment_that_beats_its_order_waits_and_the_sweeper_applies_it(client, settings):
    settings.SOURCE_SWEEP_AFTER_SECONDS = 0
    early = post_shopify(client, fulfillment(), topic="fulfillments/create")
    assert early.json()["status"] == "failed"

    post_shopify(client, live_order(financial_status="paid"), topic="orders/create")
    result = services.intakes_sweep()

    assert result["waiting_applied"] == 1
    assert Shipment.objects.get().tracking_number == "1Z2345"


def test_a_field_of_the_wrong_type_is_a_dead_letter_not_a_stuck_payload(client):
    payload = live_order()
    payload["line_items"][0]["quantity"] = "two"

    response = post_shopify(client, payload)

    assert response.json()["status"] == "failed"
    assert "unparseable" in RawIntake.objects.get().error


def test_an_update_with_changed_lines_applies_its_moves_and_says_the_lines_were_kept(client):
    post_shopify(client, live_order(updated_at="2026-01-01T10:00:00Z"), topic="orders/create")
    moved = live_order(updated_at="2026-01-01T11:00:00Z", financial_status="paid")
    moved["line_items"][0]["quantity"] += 5

    post_shopify(client, moved)

    order = Order.objects.get()
    assert order.status == "confirmed"
    assert order.lines.get(sku=moved["line_items"][0]["sku"]).quantity == moved["line_items"][0]["quantity"] - 5
    assert "lines kept" in RawIntake.objects.latest("id").error
