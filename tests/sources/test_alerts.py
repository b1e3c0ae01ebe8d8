"""A high-impact intake failure reaches people: the staff chat of the brand (or the outbox), once."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from notifications import destinations
from notifications.models import Notification, StaffDestination
from orders.models import Brand
from orders.sources import services
from orders.sources.models import RawIntake, SourceAccount
from tests.fakes.channels import FakeSlackWebhook
from tests.sources.conftest import generic_order, post_generic

pytestmark = pytest.mark.django_db
BIG = [{"sku": "A", "name": "A", "quantity": 3, "unit_price": "50.00"}]


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.SOURCE_HIGH_IMPACT_VALUE = Decimal("100")
    settings.FIELD_ENCRYPTION_KEY = "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c="


def send(client, order: dict, account: str = ""):
    return post_generic(client, {"type": "order.created", "account": account, "order": order})


def intake_alerts() -> list[Notification]:
    return list(Notification.objects.filter(event="intake_failed"))


def test_a_high_impact_failure_puts_a_staff_alert_in_the_outbox_with_what_why_and_the_admin_link(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(client, generic_order(currency="ZZZ", lines=BIG))

    intake = RawIntake.objects.get()
    [alert] = intake_alerts()
    assert (alert.audience, alert.channel, alert.provider, alert.order_id) == ("staff", "chat", "outbox", None)
    assert alert.status == "sent"  # dispatched and rendered like every staff message
    assert "Order intake failed: generic SO-1 (150.00 ZZZ)" in alert.subject
    assert "currency" in alert.body_text  # why: the serializer's refusal
    assert f"/admin/orders/rawintake/{intake.pk}/change/" in alert.body_text


def test_a_low_impact_failure_is_logged_as_a_dead_letter_but_alerts_no_one(client):
    send(client, generic_order(currency="ZZZ"))

    assert RawIntake.objects.get().status == "rejected"
    assert intake_alerts() == []


def test_the_same_dead_letter_alerts_once_however_often_it_is_retried(client, caplog):
    with caplog.at_level(logging.ERROR, logger="oms_notify.alerts.intake"):
        send(client, generic_order(currency="ZZZ", lines=BIG))
        services.intake_retry(intake=RawIntake.objects.get())
        services.intake_retry(intake=RawIntake.objects.get())

    assert len(intake_alerts()) == 1
    # The log record for log routing stays too, once.
    assert [r.event for r in caplog.records if r.name == "oms_notify.alerts.intake"] == ["intake.high_impact_failure"]


def test_the_alert_reaches_the_chat_destination_of_the_accounts_brand(client, django_capture_on_commit_callbacks):
    brand = Brand.objects.create(name="Northwind", slug="northwind", order_prefix="NW")
    SourceAccount.objects.create(source="generic", identifier="crm-eu", brand=brand)
    with FakeSlackWebhook() as slack:
        destination = StaffDestination(brand=brand, kind="slack_webhook", name="nw ops")
        destinations.destination_set_secret(destination=destination, secret=slack.hook_url())
        with django_capture_on_commit_callbacks(execute=True):
            send(client, generic_order(currency="ZZZ", lines=BIG), account="crm-eu")

        [alert] = intake_alerts()
        assert (alert.recipient, alert.provider, alert.status) == (
            f"destination:{destination.pk}",
            "slack_webhook",
            "sent",
        )
        [request] = slack.requests
        message = request.json
        assert message["text"].startswith("[Northwind] Order intake failed: generic SO-1")
        assert any(block.get("type") == "actions" for block in message["blocks"])  # the "Open in admin" button
