"""One plain test per defect the fuzzers found, so each stays fixed even if the generators change.

(The escaped HTML e-mail and the SendGrid "stale" reason, found by the security checks, are pinned
in tests/security.)
"""

from __future__ import annotations

import json

import pytest
from rest_framework.authtoken.models import Token

from carriers import services
from carriers.models import RawWebhook
from tests.carriers.conftest import SECRETS, fixture_bytes, signed_headers
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client


def test_an_api_path_that_matches_no_route_answers_404_in_the_error_shape(api):
    response = api.get("/api/v1/orders/%C2%84/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_a_webhook_path_that_matches_no_route_answers_404_in_the_error_shape(client):
    response = client.post("/webhooks/carriers/not a slug/", b"{}", content_type="application/json")

    assert (response.status_code, response.json()["error"]) == (404, "not_found")


def test_a_page_that_is_not_found_is_still_an_html_page(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_cursor_that_does_not_decode_is_a_400_naming_the_cursor(api):
    response = api.get("/api/v1/orders/", {"cursor": "status"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"cursor": ["Invalid cursor."]}


def test_a_body_that_is_not_json_gets_the_documented_400_shape(api):
    response = api.post("/api/v1/orders/", b"{not json", content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail", "fields"}


def test_a_signed_carrier_payload_with_a_list_where_an_object_was_is_a_dead_letter_not_a_500(client, settings):
    settings.CARRIER_WEBHOOK_SECRETS = dict(SECRETS)
    services.secrets_cache_clear()
    document = json.loads(fixture_bytes("easypost_tracker_updated.json"))
    document["result"]["tracking_details"][0]["tracking_location"] = ["Orlando"]
    body = json.dumps(document).encode()

    response = client.generic(
        "POST", "/webhooks/carriers/easypost/", body, "application/json", headers=signed_headers("easypost", body)
    )

    assert (response.status_code, response.json()["error"]) == (400, "unparseable")
    raw = RawWebhook.objects.get()
    assert bytes(raw.body) == body
    assert raw.status == RawWebhook.Status.FAILED and "unexpected payload shape" in raw.error
    services.secrets_cache_clear()
