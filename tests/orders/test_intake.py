"""order_create: one order per (source, account, external id), whatever arrives twice."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from orders.exceptions import OrderConflict
from orders.models import Customer, Order, StatusChange
from tests.factories import BrandFactory, make_order

pytestmark = pytest.mark.django_db


def test_a_repeat_returns_the_existing_order():
    first = make_order(external_id="A-1")
    again = make_order(external_id="A-1")
    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert Customer.objects.get().orders_count == 1


def test_a_conflicting_repeat_is_refused_and_changes_nothing():
    first = make_order(external_id="A-1")
    with pytest.raises(OrderConflict) as conflict:
        make_order(external_id="A-1", lines=[("OTHER", 5)])
    assert conflict.value.order.pk == first.pk
    assert first.lines.get().sku == "SKU-1"


def test_two_shops_of_one_source_never_collide():
    one = make_order(source="woocommerce", source_account="shop-a.example", external_id="100")
    two = make_order(source="woocommerce", source_account="shop-b.example", external_id="100")
    assert one.pk != two.pk


def test_order_numbers_carry_the_brand_prefix_and_count_up():
    brand = BrandFactory(order_prefix="ACME")
    numbers = [make_order(brand=brand).number for _ in range(3)]
    assert numbers == ["ACME-000001", "ACME-000002", "ACME-000003"]


def test_orders_without_a_brand_belong_to_the_default_brand():
    assert make_order().brand.slug == "default"


def test_the_tracking_token_is_long_random_and_not_the_primary_key():
    tokens = {make_order().tracking_token for _ in range(5)}
    assert len(tokens) == 5
    for token in tokens:
        assert len(token) >= 32  # 24 random bytes, URL-safe base64
    order = Order.objects.first()
    assert str(order.pk) not in order.tracking_url.rsplit("/", 2)[-2]
    assert order.tracking_url == f"https://track.example.test/t/{order.tracking_token}/"


def test_a_returning_customer_is_counted_as_a_repeat_buyer():
    make_order(email="Grace@Example.com")
    make_order(email="grace@example.com")
    customer = Customer.objects.get()
    assert customer.orders_count == 2 and customer.is_repeat_buyer


def test_the_same_email_at_two_brands_is_two_customers():
    make_order(email="x@example.com")
    make_order(email="x@example.com", brand=BrandFactory())
    assert Customer.objects.count() == 2


@pytest.mark.parametrize("phone", ["4155550123", "+1415555", "+1 415 555 0123", "+99912345678"])
def test_it_refuses_a_phone_that_is_not_e164_and_writes_nothing(phone):
    from decimal import Decimal

    from orders import services
    from orders.services import LineIn

    with pytest.raises(ValidationError) as error:
        services.order_create(
            source="api",
            external_id="P-1",
            customer={"name": "A", "email": "a@example.com", "phone": phone},
            shipping_address={"line1": "1 Main", "city": "X", "country": "US"},
            lines=[LineIn(sku="A", name="A", quantity=1, unit_price=Decimal("1"))],
            currency="USD",
        )
    assert "phone" in error.value.message_dict
    assert not Order.objects.exists() and not Customer.objects.exists()


def test_creation_is_audited_with_the_source():
    order = make_order(source="shopify")
    change = StatusChange.objects.get(order=order)
    assert (change.from_status, change.to_status, change.transition, change.source) == (
        "",
        "pending",
        "create",
        "shopify",
    )
