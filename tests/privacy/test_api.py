"""The privacy API: token auth, a dedicated permission, the API's error shape."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import Customer
from privacy.models import PrivacyRequest
from tests.factories import supervisor_user, support_user
from tests.privacy.people import ZELDA, everywhere

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def supervisor() -> APIClient:
    return _client(supervisor_user())


@pytest.fixture
def zelda(django_capture_on_commit_callbacks) -> Customer:
    return everywhere(ZELDA, django_capture_on_commit_callbacks)


def test_the_grant_gives_supervisors_and_only_them_the_export_and_erase_permissions():
    from privacy.groups import grant_privacy_permissions

    supervisors = Group.objects.get(name="Supervisors")
    supervisors.permissions.remove(*supervisors.permissions.filter(content_type__app_label="privacy"))

    grant_privacy_permissions()

    codenames = set(supervisors.permissions.values_list("codename", flat=True))
    assert {"export_customer_data", "erase_customer_data"} <= codenames
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    assert not {"export_customer_data", "erase_customer_data"} & support


def test_a_shop_finds_the_customer_id_by_email_in_the_body(supervisor, zelda):
    response = supervisor.post("/api/v1/customers/lookup/", {"email": ZELDA.email.upper()}, format="json")

    assert response.status_code == 200
    assert response.json()["customers"] == [
        {
            "id": zelda.pk,
            "brand": zelda.brand.slug,
            "orders_count": 1,
            "created_at": response.json()["customers"][0]["created_at"],
        }
    ]


def test_a_lookup_without_an_email_is_a_400_in_the_api_error_shape(supervisor):
    response = supervisor.post("/api/v1/customers/lookup/", {"mail": "x"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == {"email", "mail"}


def test_the_export_answers_json_with_every_record(supervisor, zelda):
    response = supervisor.get(f"/api/v1/customers/{zelda.pk}/export/")

    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == zelda.pk
    assert body["records"]["orders.Customer"][0]["email"] == ZELDA.email
    assert PrivacyRequest.objects.get(kind="export").via == "api"


def test_an_unknown_customer_is_a_404_in_the_api_error_shape(supervisor):
    response = supervisor.get("/api/v1/customers/999999/export/")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No such customer."}


def test_support_staff_without_the_permission_are_refused(zelda):
    client = _client(support_user())

    export = client.get(f"/api/v1/customers/{zelda.pk}/export/")
    erase = client.post(f"/api/v1/customers/{zelda.pk}/erase/", {}, format="json")

    assert (export.status_code, erase.status_code) == (403, 403)
    assert export.json()["error"] == "permission_denied"
    assert "privacy.export_customer_data" in export.json()["detail"]
    assert Customer.objects.get(pk=zelda.pk).email == ZELDA.email


def test_no_token_is_a_401(zelda):
    response = APIClient().post(f"/api/v1/customers/{zelda.pk}/erase/", {}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_erase_anonymises_and_answers_the_counts(supervisor, zelda):
    response = supervisor.post(f"/api/v1/customers/{zelda.pk}/erase/", {}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == zelda.pk
    assert body["counts"]["orders.Customer"] == 1
    assert PrivacyRequest.objects.get(pk=body["request"]).via == "api"
    assert Customer.objects.get(pk=zelda.pk).email.endswith("@erased.invalid")


def test_erase_of_a_customer_with_an_order_in_flight_is_a_409_listing_the_orders(
    supervisor, django_capture_on_commit_callbacks
):
    customer = everywhere(ZELDA, django_capture_on_commit_callbacks, delivered=False)

    refused = supervisor.post(f"/api/v1/customers/{customer.pk}/erase/", {}, format="json")
    forced = supervisor.post(f"/api/v1/customers/{customer.pk}/erase/", {"force": True}, format="json")

    assert refused.status_code == 409
    assert refused.json()["error"] == "orders_in_flight"
    assert refused.json()["orders"] == [customer.orders.get().number]
    assert forced.status_code == 200
    assert forced.json()["forced"] is True


def test_erase_refuses_unknown_fields(supervisor, zelda):
    response = supervisor.post(f"/api/v1/customers/{zelda.pk}/erase/", {"forse": True}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"forse": ["Unknown field."]}


def test_the_privacy_api_is_described_in_the_schema_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    from privacy import urls

    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=urls.urlpatterns).get_schema(request=None, public=True)

    validate_schema(schema)
    assert not GENERATOR_STATS
    assert set(schema["paths"]["/api/v1/customers/{id}/erase/"]["post"]["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
    }
