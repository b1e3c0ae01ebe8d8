"""Overriding a status needs orders.override_status, whichever door is tried.

The admin's own flow (link hidden from support, a forged POST refused, a supervisor's override
audited) is tested in tests/orders/test_admin.py. Here the other doors: the form page itself, a user
holding every other orders permission, and the API, which has no override at all.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token

from orders.models import Order, StatusChange
from orders.statuses import OrderStatus
from tests.factories import UserFactory, make_order

pytestmark = pytest.mark.django_db


def staff_with_every_orders_permission_but_override():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="orders").exclude(codename="override_status")
    )
    return user


def override_url(order: Order) -> str:
    return reverse("admin:orders_order_override_status", args=[order.pk])


def test_the_override_form_itself_is_forbidden_without_the_permission(client):
    client.force_login(staff_with_every_orders_permission_but_override())

    assert client.get(override_url(make_order())).status_code == 403


def test_every_other_orders_permission_together_still_cannot_override(client):
    client.force_login(staff_with_every_orders_permission_but_override())
    order = make_order()

    response = client.post(override_url(order), {"status": "delivered", "reason": "forged"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert not StatusChange.objects.filter(order=order, transition="override").exists()


def test_the_permission_alone_opens_the_form(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["override_status", "view_order"]))
    client.force_login(user)

    assert client.get(override_url(make_order())).status_code == 200


def test_the_api_offers_no_override_even_to_a_superuser(client):
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key
    order = make_order()

    response = client.post(
        f"/api/v1/orders/{order.number}/transitions/",
        {"transition": "override", "status": "delivered", "reason": "forged"},
        content_type="application/json",
        headers={"Authorization": f"Token {token}"},
    )

    assert 400 <= response.status_code < 500 and response.json()["error"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
