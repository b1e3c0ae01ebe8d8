"""Factories for test data. Orders are made through the service, as every real order is."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orders import services
from orders.groups import SUPERVISORS, SUPPORT, ensure_groups
from orders.models import Brand, Order
from orders.services import LineIn


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")
    order_prefix = factory.Sequence(lambda n: f"B{n:03d}")
    support_email = "help@brand.example"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@staff.example")
    is_staff = True
    password = factory.django.Password("pw-for-tests-only")


def group(name: str) -> Group:
    """A group the migrations make; rebuilt when a transactional test flushed the database."""
    found = Group.objects.filter(name=name).first()
    if found is None:
        ensure_groups()
        found = Group.objects.get(name=name)
    return found


def user_in(group_name: str, **kwargs):
    user = UserFactory(**kwargs)
    user.groups.add(group(group_name))
    return user


def support_user(**kwargs):
    return user_in(SUPPORT, **kwargs)


def supervisor_user(**kwargs):
    return user_in(SUPERVISORS, **kwargs)


_counter = iter(range(1, 10**9))


def make_order(
    *,
    brand: Brand | None = None,
    lines: list[tuple[str, int]] | None = None,
    source: str = "api",
    external_id: str | None = None,
    email: str = "ada@example.com",
    **kwargs,
) -> Order:
    lines = lines or [("SKU-1", 1)]
    order, _ = services.order_create(
        source=source,
        external_id=external_id or f"EXT-{next(_counter)}",
        brand=brand,
        customer={"name": "Ada Lovelace", "email": email, "phone": "+14155550123"},
        shipping_address={
            "line1": "1 Main St",
            "city": "Springfield",
            "postcode": "12345",
            "country": "US",
            "latitude": Decimal("40.700000"),
            "longitude": Decimal("-74.000000"),
        },
        lines=[LineIn(sku=sku, name=f"Item {sku}", quantity=qty, unit_price=Decimal("9.99")) for sku, qty in lines],
        currency="USD",
        **kwargs,
    )
    return order
