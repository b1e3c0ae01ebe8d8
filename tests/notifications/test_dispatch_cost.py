"""The dispatch hot path: a clean circuit costs no writes, and a success still heals a failing one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import services
from notifications.models import DeliveryAttempt, Notification, ProviderHealth
from tests.notifications.helpers import dispatched_order, messages
from tests.sqlcapture import executed

pytestmark = pytest.mark.django_db


def test_a_success_after_a_recorded_failure_still_resets_the_circuit(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = messages(order, channel="sms")[0]
    ProviderHealth.objects.update_or_create(provider="twilio", defaults={"consecutive_failures": 2})
    Notification.objects.filter(pk=sms.pk).update(status=Notification.Status.PENDING, body_text="", subject="")
    assert services.notification_dispatch(notification_id=sms.pk) == "sent"
    assert ProviderHealth.objects.get(provider="twilio").consecutive_failures == 0


def test_a_send_reads_its_row_in_the_claim_and_writes_its_outcome_with_the_attempt_in_one_statement(
    twilio, django_capture_on_commit_callbacks
):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = messages(order, channel="sms")[0]
    ProviderHealth.objects.filter(provider="twilio").delete()
    Notification.objects.filter(pk=sms.pk).update(status=Notification.Status.PENDING, body_text="", subject="")
    with CaptureQueriesContext(connection) as queries:
        assert services.notification_dispatch(notification_id=sms.pk) == "sent"
    statements = executed(queries)
    # A clean circuit is read, never written.
    assert [s for s in statements if "providerhealth" in s and not s.startswith("SELECT")] == []
    # The row: claimed and loaded with what dispatch reads in one statement, then its outcome, its
    # rendered content and its attempt row in another. Each is its own transaction: no BEGIN/COMMIT.
    on_row = [s for s in statements if '"notifications_notification"' in s]
    assert len(on_row) == 2, on_row
    claim, outcome = on_row
    assert claim.startswith("WITH") and "RETURNING" in claim and '"orders_order"' in claim
    assert "INSERT INTO" in outcome and "notifications_deliveryattempt" in outcome
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (Notification.Status.SENT, 2)
    assert order.number in sms.body_text
    assert DeliveryAttempt.objects.filter(notification=sms).count() == 2
