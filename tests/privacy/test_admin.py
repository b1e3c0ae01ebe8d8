"""Admin: the customer actions download the export and erase after a confirmation page."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin import helpers

from orders.models import Customer
from privacy.models import PrivacyRequest
from tests.factories import supervisor_user, support_user
from tests.privacy.people import ZELDA, everywhere

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/orders/customer/"


@pytest.fixture
def zelda(django_capture_on_commit_callbacks) -> Customer:
    return everywhere(ZELDA, django_capture_on_commit_callbacks)


def _act(client, action: str, customer: Customer, **extra):
    return client.post(CHANGELIST, {"action": action, helpers.ACTION_CHECKBOX_NAME: [customer.pk], **extra})


def test_the_export_action_downloads_the_customers_data_as_json(client, zelda):
    client.force_login(supervisor_user())

    response = _act(client, "export_customers", zelda)

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="customer-{zelda.pk}.json"'
    assert json.loads(response.content)["records"]["orders.Customer"][0]["email"] == ZELDA.email
    assert PrivacyRequest.objects.get(kind="export").via == "admin"


def test_the_erase_action_asks_for_confirmation_first(client, zelda):
    client.force_login(supervisor_user())

    response = _act(client, "erase_customers", zelda)

    assert response.status_code == 200
    assert b"This cannot be undone" in response.content
    assert ZELDA.email.encode() not in response.content
    assert Customer.objects.get(pk=zelda.pk).email == ZELDA.email


def test_confirming_erases_and_records_who_did_it(client, zelda):
    supervisor = supervisor_user()
    client.force_login(supervisor)

    response = _act(client, "erase_customers", zelda, confirm="yes")

    assert response.status_code == 302
    assert Customer.objects.get(pk=zelda.pk).email.endswith("@erased.invalid")
    record = PrivacyRequest.objects.get(kind="erase")
    assert (record.actor, record.via) == (supervisor, "admin")


def test_an_order_in_flight_needs_the_erase_anyway_box(client, django_capture_on_commit_callbacks):
    customer = everywhere(ZELDA, django_capture_on_commit_callbacks, delivered=False)
    client.force_login(supervisor_user())

    page = _act(client, "erase_customers", customer)
    _act(client, "erase_customers", customer, confirm="yes")
    kept = Customer.objects.get(pk=customer.pk).email
    _act(client, "erase_customers", customer, confirm="yes", force="on")

    assert b'name="force"' in page.content
    assert kept == ZELDA.email
    assert Customer.objects.get(pk=customer.pk).email.endswith("@erased.invalid")


def test_staff_without_the_permission_get_a_message_not_the_data(client, zelda):
    client.force_login(support_user())  # may view customers, not export them

    response = _act(client, "export_customers", zelda)

    assert response.status_code == 302
    assert PrivacyRequest.objects.count() == 0
