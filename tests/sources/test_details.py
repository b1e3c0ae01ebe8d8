"""A newer update from a channel carries the new shipping address and contact, until dispatch.

The newer payloads are the vendor fixtures byte for byte with their published signatures; the
older versions they follow (or that arrive late) are the same fixtures with an older timestamp
and another address, signed with the fixture's secret.
"""

from __future__ import annotations

import json

import pytest

from orders.models import DomainEvent, Order, Shipment
from orders.sources.models import RawIntake
from tests.sources.conftest import fixture_bytes, post_shopify, post_woocommerce, shopify_order
from tests.sources.test_shopify import PUBLISHED_SIGNATURE, fulfillment
from tests.sources.test_woocommerce_and_generic import WIRE_SIGNATURE

pytestmark = pytest.mark.django_db
OLD_ADDRESS = {"address1": "1 Old Road", "city": "Oldtown", "zip": "40001"}


def older_shopify(**changes) -> dict:
    """The fixture order a day earlier: live, at another address, under another contact."""
    defaults = {
        "updated_at": "2021-12-30T19:00:00-05:00",
        "financial_status": "pending",
        "email": "old@example.com",
        "cancelled_at": None,
        "cancel_reason": None,
    }
    payload = shopify_order(**{**defaults, **changes})
    payload["shipping_address"] = {**payload["shipping_address"], **OLD_ADDRESS}
    payload["customer"] = {**payload["customer"], "first_name": "Jonathan"}
    return payload


def post_shopify_fixture(client):
    return post_shopify(client, fixture_bytes("shopify_orders_updated.json"), signature=PUBLISHED_SIGNATURE)


def older_woocommerce() -> dict:
    payload = json.loads(fixture_bytes("woocommerce_order_updated.json"))
    payload["date_modified_gmt"] = "2017-03-20T10:00:00"
    payload["status"] = "pending"
    payload["shipping"] = {**payload["shipping"], "address_1": "1 Old Road", "postcode": "94000"}
    payload["billing"] = {**payload["billing"], "email": "old.doe@example.com", "first_name": "Johnny"}
    return payload


def post_woocommerce_fixture(client):
    return post_woocommerce(client, fixture_bytes("woocommerce_order_updated.wire.txt"), signature=WIRE_SIGNATURE)


def test_a_newer_shopify_update_changes_the_address_and_contact_before_dispatch(client):
    post_shopify(client, older_shopify(), topic="orders/create")
    assert Order.objects.get().ship_line1 == "1 Old Road"

    response = post_shopify_fixture(client)

    assert response.json()["status"] == "applied"
    order = Order.objects.get()
    assert (order.ship_line1, order.ship_city, order.ship_postcode) == ("123 Shipping Street", "Shippington", "40003")
    assert order.customer.email == "jon@example.com"
    assert order.customer.name == "John Smith"
    event = DomainEvent.objects.get(order=order, name="order.details_changed")
    assert {"ship_line1", "ship_city", "ship_postcode", "customer.email", "customer.name"} <= set(
        event.payload["fields"]
    )
    assert event.payload["changes"]["ship_line1"] == {"from": "1 Old Road", "to": "123 Shipping Street"}
    assert "details updated: " in RawIntake.objects.latest("id").error
    # The status moves are still the lifecycle's: no StatusChange was written for the address.
    assert not order.history.filter(transition__icontains="detail").exists()


def test_a_stale_shopify_update_does_not_change_the_address(client):
    post_shopify_fixture(client)

    response = post_shopify(client, older_shopify())

    assert response.json()["status"] == "stale"
    order = Order.objects.get()
    assert order.ship_line1 == "123 Shipping Street"
    assert order.customer.email == "jon@example.com"
    assert not DomainEvent.objects.filter(name="order.details_changed").exists()


def test_after_dispatch_a_newer_shopify_update_changes_nothing_and_the_intake_says_why(client):
    post_shopify(client, older_shopify(financial_status="paid"), topic="orders/create")
    post_shopify(client, fulfillment(shipment_status="in_transit"), topic="fulfillments/create")
    assert Shipment.objects.get().dispatched_at is not None  # the carrier has the parcel

    response = post_shopify_fixture(client)

    assert response.json()["status"] == "applied"
    order = Order.objects.get()
    assert (order.ship_line1, order.customer.email) == ("1 Old Road", "old@example.com")
    assert not DomainEvent.objects.filter(name="order.details_changed").exists()
    note = RawIntake.objects.latest("id").error
    assert f"details not applied: a parcel of order {order.number} has left" in note


def test_a_newer_woocommerce_update_changes_the_address_and_contact_before_dispatch(client):
    post_woocommerce(client, older_woocommerce(), topic="order.created")
    assert Order.objects.get().ship_line1 == "1 Old Road"

    response = post_woocommerce_fixture(client)

    assert response.json()["status"] == "applied"
    order = Order.objects.get()
    assert (order.ship_line1, order.ship_postcode) == ("969 Market", "94103")
    assert (order.customer.email, order.customer.name) == ("john.doe@example.com", "John Doe")
    assert order.status == "confirmed"  # the moves of the same payload still apply
    fields = DomainEvent.objects.get(name="order.details_changed").payload["fields"]
    assert {"ship_line1", "ship_postcode", "customer.email", "customer.name"} <= set(fields)


def test_a_stale_woocommerce_update_does_not_change_the_address(client):
    post_woocommerce_fixture(client)

    response = post_woocommerce(client, older_woocommerce())

    assert response.json()["status"] == "stale"
    order = Order.objects.get()
    assert (order.ship_line1, order.customer.email) == ("969 Market", "john.doe@example.com")


def test_a_changed_email_moves_the_order_to_that_customer_and_keeps_the_counts_right(client):
    post_woocommerce(client, older_woocommerce(), topic="order.created")
    old_customer = Order.objects.get().customer

    post_woocommerce_fixture(client)

    old_customer.refresh_from_db()
    new_customer = Order.objects.get().customer
    assert new_customer.pk != old_customer.pk
    assert (old_customer.orders_count, new_customer.orders_count) == (0, 1)


def test_a_cancelled_order_keeps_its_details_and_the_intake_says_why(client):
    post_shopify(client, older_shopify(cancelled_at="2021-12-30T19:00:00-05:00"), topic="orders/create")
    assert Order.objects.get().status == "cancelled"

    post_shopify_fixture(client)

    order = Order.objects.get()
    assert order.ship_line1 == "1 Old Road"
    assert f"details not applied: order {order.number} is cancelled" in RawIntake.objects.latest("id").error


def test_an_update_with_an_address_our_model_refuses_keeps_ours_and_says_why(client):
    post_shopify(client, older_shopify(), topic="orders/create")
    newer = older_shopify(updated_at="2021-12-31T19:00:00-05:00")
    newer["shipping_address"] = {**newer["shipping_address"], "address1": "2 New Road", "country_code": "USA"}

    response = post_shopify(client, newer)

    assert response.json()["status"] == "applied"
    assert Order.objects.get().ship_line1 == "1 Old Road"
    assert "details not applied" in RawIntake.objects.latest("id").error
