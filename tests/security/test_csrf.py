"""Every HTML form refuses a POST without a CSRF token; only signed webhooks and token-less APIs skip it.

Uses Client(enforce_csrf_checks=True), which checks as a browser's request is checked. The admin is
swept route by route (every model's list, add, change and delete forms, actions and the custom
pages), so a form added later is covered without a new test.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from notifications.preferences import preferences_for
from tests.factories import UserFactory, make_order

pytestmark = pytest.mark.django_db

CSRF_FAILURE = "CSRF verification failed"
# Views that may skip CSRF, and why. Anything else that skips it fails the first test.
EXEMPT = {
    "webhooks/": "signed by the sender (tests/security/test_webhook_signatures.py)",
    "api/": "DRF: token auth needs no CSRF, and DRF enforces it itself for session auth (tested below)",
    "t/<str:token>/devices/": "DRF, no session: the unguessable tracking token is the credential",
    "t/<str:token>/feed/": "DRF, no session: the unguessable tracking token is the credential",
    "preferences/<str:token>/unsubscribe/": "RFC 8058 one-click unsubscribe: mail clients POST without a page",
}


def _routes(resolver=None, prefix: str = ""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            # Router patterns are regexes ("^api/v1/...$"): compare them as plain prefixes.
            yield (prefix + str(entry.pattern)).replace("^", "").replace("$", ""), entry.callback


def _concrete(route: str) -> str:
    """A path for a route: each converter or group becomes "1" (CSRF is checked before the view runs)."""
    path = re.sub(r"\(\?P<app_label>([a-z_]+)[^)]*\)", r"\1", route)  # an app: its first name
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", path)
    path = re.sub(r"<[^>]+>", "1", path)
    return "/" + path.replace("\\", "")


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def order():
    return make_order(inventory_allocated=True)


def test_only_webhooks_token_apis_and_one_click_unsubscribe_skip_csrf():
    skipping = {route for route, view in _routes() if getattr(view, "csrf_exempt", False)}
    unexplained = {route for route in skipping if not any(route.startswith(prefix) for prefix in EXEMPT)}

    assert unexplained == set()


def test_every_csrf_exempt_api_route_is_a_drf_view():
    for route, view in _routes():
        if route.startswith("api/v1/") and getattr(view, "csrf_exempt", False):
            assert issubclass(getattr(view, "cls", object), APIView), route


@pytest.mark.parametrize(
    "path",
    ["/track/", "/t/{token}/delivery/", "/t/{token}/feedback/", "/preferences/{prefs}/"],
)
def test_each_customer_form_refuses_a_post_without_a_csrf_token(browser, order, path):
    path = path.format(token=order.tracking_token, prefs=preferences_for(order.customer).token)
    response = browser.post(path, {"number": order.number, "secret": "ada@example.com"})

    assert response.status_code == 403
    assert CSRF_FAILURE in response.content.decode()


def test_the_lookup_form_accepts_the_same_post_with_its_token(browser, order):
    page = browser.get("/track/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    response = browser.post(
        "/track/", {"number": order.number, "secret": "ada@example.com", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302


def test_the_admin_login_refuses_a_post_without_a_csrf_token(browser):
    UserFactory(username="boss", is_staff=True, is_superuser=True, password="pw-for-tests")

    response = browser.post("/admin/login/", {"username": "boss", "password": "pw-for-tests"})

    assert response.status_code == 403


def test_every_admin_page_refuses_a_post_without_a_csrf_token(browser):
    browser.force_login(UserFactory(is_staff=True, is_superuser=True))
    admin_routes = [route for route, _ in _routes() if route.startswith("admin/")]

    accepted, reached = [], set()
    for route in admin_routes:
        response = browser.post(_concrete(route), {"action": "delete_selected", "_selected_action": ["1"]})
        if response.status_code != 403 or CSRF_FAILURE not in response.content.decode():
            accepted.append((route, response.status_code))
        if not response.resolver_match.route.endswith("(?P<url>.*)$"):  # not the admin's catch-all
            reached.add(route)

    assert accepted == []
    assert len(reached) == len(admin_routes) - 1  # each real view was reached, not the catch-all page


def test_a_signed_in_session_cannot_use_the_api_without_a_csrf_token(browser):
    browser.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = browser.post("/api/v1/orders/", {}, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
