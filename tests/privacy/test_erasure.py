"""Export and erasure: the export holds every personal value, the erasure leaves none behind and keeps the figures."""

from __future__ import annotations

import json

import pytest

from notifications.models import DeviceToken, Notification
from orders.models import Customer, DomainEvent, Order, StatusChange
from privacy import services
from privacy.models import PrivacyRequest
from privacy.registry import ERASED_NAME
from tests.privacy.people import OTTO, ZELDA, everywhere, found_anywhere

pytestmark = pytest.mark.django_db


@pytest.fixture
def zelda(django_capture_on_commit_callbacks) -> Customer:
    return everywhere(ZELDA, django_capture_on_commit_callbacks)


def test_the_export_contains_every_personal_value_held(zelda):
    export = services.customer_export(customer=zelda)

    text = json.dumps(export).lower()
    missing = [v for v in ZELDA.values if v.lower() not in text]
    assert missing == []
    assert {"orders.Customer", "orders.Order", "notifications.Notification", "carriers.RawWebhook"} <= set(
        export["records"]
    )


def test_the_export_is_logged_without_personal_data(zelda):
    services.customer_export(customer=zelda, via=PrivacyRequest.Via.ADMIN)

    record = PrivacyRequest.objects.get(kind=PrivacyRequest.Kind.EXPORT)
    assert record.customer_id == zelda.pk
    assert record.counts["orders.Order"] == 1
    assert found_anywhere(ZELDA.values).keys().isdisjoint({f"privacy.PrivacyRequest#{record.pk}"})


def test_erasure_leaves_no_personal_value_anywhere_in_the_database(zelda):
    services.customer_erase(customer_id=zelda.pk)

    assert found_anywhere(ZELDA.values) == {}


def test_after_erasure_the_export_holds_no_personal_value(zelda):
    services.customer_erase(customer_id=zelda.pk)

    text = json.dumps(services.customer_export(customer=Customer.objects.get(pk=zelda.pk))).lower()
    assert [v for v in ZELDA.values if v.lower() in text] == []


def test_erasure_leaves_another_customers_data_alone(zelda, django_capture_on_commit_callbacks):
    otto = everywhere(OTTO, django_capture_on_commit_callbacks)
    before = found_anywhere(OTTO.values)

    services.customer_erase(customer_id=zelda.pk)

    assert found_anywhere(OTTO.values) == before
    assert Customer.objects.get(pk=otto.pk).email == OTTO.email


def test_erasure_keeps_order_numbers_statuses_and_message_figures(zelda):
    order = Order.objects.get(customer=zelda)
    sent = Notification.objects.filter(order=order, sent_at__isnull=False)
    messages_before = list(sent.values_list("pk", "event", "channel", "provider", "status", "sent_at"))
    assert messages_before
    history_before = list(StatusChange.objects.filter(order=order).values_list("pk", "from_status", "to_status"))
    moves_before = [e.payload.get("to") for e in DomainEvent.objects.filter(order=order).order_by("pk")]

    services.customer_erase(customer_id=zelda.pk)

    order.refresh_from_db()
    assert (order.number, order.status, order.customer_id) == (
        Order.objects.get(pk=order.pk).number,
        "completed",
        zelda.pk,
    )
    assert list(sent.values_list("pk", "event", "channel", "provider", "status", "sent_at")) == messages_before
    assert (
        list(StatusChange.objects.filter(order=order).values_list("pk", "from_status", "to_status")) == history_before
    )
    assert StatusChange.objects.filter(order=order, reason__contains="phoned from").exists()
    assert [e.payload.get("to") for e in DomainEvent.objects.filter(order=order).order_by("pk")] == moves_before
    assert "completed" in moves_before


def test_the_erased_customer_is_anonymised_and_can_no_longer_be_contacted(zelda):
    services.customer_erase(customer_id=zelda.pk)

    customer = Customer.objects.get(pk=zelda.pk)
    assert customer.name == ERASED_NAME
    assert customer.email == f"erased-{zelda.pk}@erased.invalid"
    assert customer.phone == ""
    assert not (customer.consent_email or customer.consent_sms or customer.consent_whatsapp or customer.consent_push)
    assert not DeviceToken.objects.filter(customer=customer, active=True).exists()
    assert services.customer_lookup(email=ZELDA.email) == []


def test_erasure_is_recorded_with_counts_and_no_personal_data(zelda, django_user_model):
    actor = django_user_model.objects.create_user("dpo")

    result = services.customer_erase(customer_id=zelda.pk, actor=actor, via=PrivacyRequest.Via.ADMIN)

    record = PrivacyRequest.objects.get(pk=result.request.pk)
    assert (record.kind, record.outcome, record.via, record.actor, record.customer_id) == (
        "erase",
        "done",
        "admin",
        actor,
        zelda.pk,
    )
    assert record.counts["orders.Customer"] == 1
    assert record.counts["carriers.RawWebhook"] == 1
    assert record.counts["notifications.Notification"] >= 1


def test_erasing_twice_changes_nothing_the_second_time(zelda):
    services.customer_erase(customer_id=zelda.pk)

    again = services.customer_erase(customer_id=zelda.pk)

    assert again.counts == {}
    assert PrivacyRequest.objects.filter(kind="erase", outcome="done").count() == 2


def test_erasure_is_refused_while_an_order_is_in_flight(django_capture_on_commit_callbacks):
    customer = everywhere(ZELDA, django_capture_on_commit_callbacks, delivered=False)
    number = Order.objects.get(customer=customer).number

    with pytest.raises(services.ErasureRefused) as refused:
        services.customer_erase(customer_id=customer.pk)

    assert refused.value.code == "orders_in_flight"
    assert refused.value.orders == [number]
    assert Customer.objects.get(pk=customer.pk).email == ZELDA.email
    assert PrivacyRequest.objects.get(kind="erase").outcome == "refused"


def test_forced_erasure_of_an_order_in_flight_suppresses_what_was_not_sent_yet(django_capture_on_commit_callbacks):
    customer = everywhere(ZELDA, django_capture_on_commit_callbacks, delivered=False)
    order = Order.objects.get(customer=customer)
    waiting = Notification.objects.create(
        idempotency_key="privacy-waiting",
        order=order,
        customer=customer,
        event="out_for_delivery",
        audience="customer",
        channel="sms",
        provider="twilio",
        recipient=ZELDA.phone,
        status="scheduled",
    )

    result = services.customer_erase(customer_id=customer.pk, force=True)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.status_reason, waiting.recipient) == ("suppressed", "customer erased", "")
    assert result.request.forced is True
    assert found_anywhere(ZELDA.values) == {}


def test_no_message_reaches_an_erased_customer_when_their_parcel_moves_on(django_capture_on_commit_callbacks):
    from tests.privacy.people import _scan

    customer = everywhere(ZELDA, django_capture_on_commit_callbacks, delivered=False)
    shipment = Order.objects.get(customer=customer).shipments.get()
    services.customer_erase(customer_id=customer.pk, force=True)
    before = set(Notification.objects.values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        _scan(shipment, "out_for_delivery", 40)

    # The in-app feed is the shop's own app showing the order: it stays, with nothing personal in it.
    new = Notification.objects.exclude(pk__in=before).filter(audience="customer").exclude(channel="inapp")
    assert new.exists()
    assert set(new.values_list("status", flat=True)) == {"suppressed"}
    assert found_anywhere(ZELDA.values) == {}
