"""A disabled outbound endpoint reaches people: one staff chat alert per disablement, not per failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import outbound
from notifications.models import Notification
from notifications.outbound_models import WebhookEndpoint, WebhookMessage
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def deliver_all() -> list[str]:
    return [outbound.message_deliver(message_id=pk) for pk in WebhookMessage.objects.values_list("pk", flat=True)]


def disabled_alerts() -> list[Notification]:
    return list(Notification.objects.filter(event="webhook_endpoint_disabled"))


def test_a_410_disables_the_endpoint_and_puts_one_staff_alert_in_the_outbox(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.fail_next(410)
    make_order()

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_all() == ["gone"]

    [alert] = disabled_alerts()
    assert (alert.audience, alert.channel, alert.provider, alert.order_id, alert.status) == (
        "staff",
        "chat",
        "outbox",
        None,
        "sent",
    )
    assert "410 Gone" in alert.body_text
    assert f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/" in alert.body_text


def test_an_endpoint_failing_for_five_days_alerts_once_however_many_messages_fail(endpoint, receiver):
    receiver.fail_next(500)
    receiver.fail_next(500)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    make_order()
    make_order()

    deliver_all()
    outbound.webhooks_sweep()

    [alert] = disabled_alerts()
    assert "no successful delivery for 5 days" in alert.data["facts"][1][1]


def test_a_second_disablement_after_enabling_again_is_a_new_incident(endpoint, receiver):
    outbound.endpoint_disable(endpoint=endpoint, reason="the endpoint answered 410 Gone")
    outbound.endpoint_disable(endpoint=endpoint, reason="the endpoint answered 410 Gone")  # already off: no news
    assert len(disabled_alerts()) == 1

    endpoint.refresh_from_db()
    outbound.endpoint_enable(endpoint=endpoint)
    outbound.endpoint_disable(endpoint=endpoint, reason="no successful delivery for 5 days")

    assert len(disabled_alerts()) == 2


def test_the_alert_does_not_show_a_token_in_the_receiver_url(db, receiver):
    port = receiver.url.rsplit(":", 1)[1]
    created, _ = outbound.endpoint_create(url=f"http://127.0.0.1:{port}/hooks?token=s3cret", event_types=[])

    outbound.endpoint_disable(endpoint=created, reason="the endpoint answered 410 Gone")

    [alert] = disabled_alerts()
    shown = str(alert.data)
    assert "s3cret" not in shown
    assert f"http://127.0.0.1:{port}/hooks" in shown


def test_a_staff_destination_disabled_outside_any_order_still_alerts_staff(db, settings):
    from notifications import destinations
    from notifications.models import StaffDestination

    settings.FIELD_ENCRYPTION_KEY = "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c="
    destination = StaffDestination(kind="slack_webhook", name="ops")
    destinations.destination_set_secret(destination=destination, secret="http://127.0.0.1:9/services/T/B/X")

    destinations.destination_disable(destination=destination, reason="Slack answered 404: no_service")

    [alert] = Notification.objects.filter(event="destination_disabled")
    assert (alert.order_id, alert.provider) == (None, "outbox")  # the only destination is the one disabled
    assert ["Reason", "Slack answered 404: no_service"] in alert.data["facts"]
