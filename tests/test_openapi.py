"""The API's description: the OpenAPI schema documents the orders API and the docs page stays offline."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from orders import urls as orders_urls

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _ref(content: dict) -> str:
    return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_the_schema_documents_every_orders_endpoint(schema):
    paths = schema["paths"]

    assert set(paths["/api/v1/orders/"]) >= {"get", "post"}
    assert set(paths["/api/v1/orders/{number}/"]) >= {"get", "patch"}
    assert "put" not in paths["/api/v1/orders/{number}/"]
    assert "post" in paths["/api/v1/orders/{number}/transitions/"]
    assert "post" in paths["/api/v1/orders/{number}/shipments/"]


def test_the_schema_documents_request_bodies_and_answers_including_errors(schema):
    create = schema["paths"]["/api/v1/orders/"]["post"]
    move = schema["paths"]["/api/v1/orders/{number}/transitions/"]["post"]
    ship = schema["paths"]["/api/v1/orders/{number}/shipments/"]["post"]

    assert _ref(create["requestBody"]["content"]) == "OrderCreate"
    assert {code: _ref(r["content"]) for code, r in create["responses"].items()} == {
        "201": "OrderDetail",
        "200": "OrderDetail",
        "400": "InvalidRequest",
        "401": "Error",
        "403": "Error",
        "409": "OrderConflict",
        "429": "Error",
    }
    assert _ref(move["responses"]["409"]["content"]) == "TransitionNotAllowed"
    assert _ref(ship["responses"]["201"]["content"]) == "Shipment"
    assert _ref(ship["responses"]["404"]["content"]) == "Error"


def test_the_schema_marks_the_status_read_only_and_lists_its_values(schema):
    components = schema["components"]["schemas"]

    assert "status" not in components["OrderCreate"]["properties"]
    assert "status" not in components["PatchedOrderFlags"]["properties"]
    assert components["OrderDetail"]["properties"]["status"]["readOnly"] is True
    assert "partially_shipped" in components["OrderStatusEnum"]["enum"]
    assert "fields" in components["InvalidRequest"]["properties"]


def test_the_orders_api_schema_generates_without_warnings_and_validates():
    # A view or serializer spectacular cannot describe is a warning; for the orders API, a failure.
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=orders_urls.urlpatterns).get_schema(request=None, public=True)

    assert not GENERATOR_STATS, "drf-spectacular warned while describing the orders API"
    validate_schema(schema)  # raises on an invalid OpenAPI 3 document
    assert "/api/v1/orders/{number}/transitions/" in schema["paths"]


def test_the_docs_page_loads_everything_from_the_app_itself(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    outside = [url for url in re.findall(r"https?://[^\s\"'<>)]+", html) if not url.startswith("http://testserver/")]
    assert outside == []
    assert '"validatorUrl": null' in html  # the bundle would otherwise call validator.swagger.io
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL) or asset.startswith("/" + settings.STATIC_URL)
        assert finders.find(asset.split(settings.STATIC_URL, 1)[1]), f"{asset} is not served by the app"
