"""The dispatch hot path: a clean circuit costs no writes, and a success still heals a failing one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import services
from notifications.models import DeliveryAttempt, Notification, ProviderHealth
from tests.notifications.helpers import dispatched_order, messages

pytestmark = pytest.mark.django_db


def test_a_success_after_a_recorded_failure_still_resets_the_circuit(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = messages(order, channel="sms")[0]
    ProviderHealth.objects.update_or_create(provider="twilio", defaults={"consecutive_failures": 2})
    Notification.objects.filter(pk=sms.pk).update(status=Notification.Status.PENDING, body_text="", subject="")
    assert services.notification_dispatch(notification_id=sms.pk) == "sent"
    assert ProviderHealth.objects.get(provider="twilio").consecutive_failures == 0


def test_a_send_on_a_clean_circuit_loads_once_and_writes_no_circuit_state(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = messages(order, channel="sms")[0]
    ProviderHealth.objects.filter(provider="twilio").delete()
    Notification.objects.filter(pk=sms.pk).update(status=Notification.Status.PENDING, body_text="", subject="")
    with CaptureQueriesContext(connection) as queries:
        assert services.notification_dispatch(notification_id=sms.pk) == "sent"
    statements = [q["sql"] for q in queries.captured_queries]
    assert [s for s in statements if "providerhealth" in s and not s.startswith("SELECT")] == []
    row = f'"id" = {sms.pk}'
    loads = [s for s in statements if s.startswith("SELECT") and 'FROM "notifications_notification"' in s and row in s]
    assert len(loads) == 1
    assert DeliveryAttempt.objects.filter(notification=sms).count() == 2
