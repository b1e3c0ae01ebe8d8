"""Failover between providers and the circuit breaker: 500s, timeouts, revoked keys, open and closing circuits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import failover, services
from notifications.models import DeliveryAttempt, Notification, ProviderHealth, ProviderRoute
from notifications.transports.base import TransportError
from tests.notifications.channels.helpers import customer, delayed_order

pytestmark = pytest.mark.django_db
S = Notification.Status


def attempts(n: Notification) -> list[tuple[str, str]]:
    return list(DeliveryAttempt.objects.filter(notification=n).values_list("provider", "outcome"))


def retry_now(n: Notification) -> str:
    Notification.objects.filter(pk=n.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    return services.notification_dispatch(notification_id=n.pk)


def test_a_primary_answering_500s_hands_the_message_to_the_next_provider_past_the_threshold(
    sendgrid, mailgun, django_capture_on_commit_callbacks
):
    sendgrid.fail_next(500, times=2)
    order = delayed_order(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    assert email.status == S.SCHEDULED and attempts(email) == [("sendgrid", "transient")]  # one failure: retry
    assert retry_now(email) == "failover"
    email.refresh_from_db()
    assert email.status == S.SENT and email.provider == "mailgun"
    assert attempts(email) == [("sendgrid", "transient"), ("sendgrid", "transient"), ("mailgun", "success")]
    assert any(r.field("v:notification") == str(email.public_id) for r in mailgun.requests)


def test_a_primary_that_times_out_hands_the_message_to_the_next_provider(
    sendgrid, mailgun, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_FAILOVER_AFTER_ATTEMPTS = 1
    settings.NOTIFY_READ_TIMEOUT = settings.NOTIFY_CONNECT_TIMEOUT = 0.5
    sendgrid.hang_next(1.5)
    order = delayed_order(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    assert email.status == S.SENT and email.provider == "mailgun"
    [first, second] = DeliveryAttempt.objects.filter(notification=email).order_by("number")
    assert (first.provider, first.error_code, second.provider) == ("sendgrid", "timeout", "mailgun")


def test_a_revoked_primary_key_fails_over_at_once_and_opens_its_circuit(
    sendgrid, mailgun, settings, django_capture_on_commit_callbacks
):
    settings.SENDGRID_API_KEY = "SG.revoked"
    order = delayed_order(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    assert email.status == S.SENT and email.provider == "mailgun"
    assert attempts(email) == [("sendgrid", "transient"), ("mailgun", "success")]
    assert failover.circuit_state("sendgrid") == "open"


def test_a_recipient_error_is_not_failed_over(twilio, messagebird, django_capture_on_commit_callbacks):
    twilio.unsubscribed.add("+14155550123")  # Twilio 21610: no other provider may text them either
    order = delayed_order(django_capture_on_commit_callbacks)
    sms = customer(order, "sms")
    assert sms.status == S.SUPPRESSED and attempts(sms) == [("twilio", "permanent")]
    assert messagebird.requests == [] and failover.circuit_state("twilio") == "closed"


def test_the_circuit_opens_after_repeated_failures_and_new_messages_skip_the_provider(
    sendgrid, mailgun, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_CIRCUIT_FAILURES = 3
    for _ in range(3):
        failover.record_failure("sendgrid", TransportError("boom", code="http_500", http_status=500))
    assert failover.circuit_state("sendgrid") == "open"
    order = delayed_order(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    assert email.status == S.SENT and email.provider == "mailgun" and attempts(email) == [("mailgun", "success")]
    assert not [r for r in sendgrid.requests if r.json["custom_args"]["notification"] == str(email.public_id)]


def test_a_half_open_circuit_lets_one_probe_through_and_its_success_closes_it(settings):
    settings.NOTIFY_CIRCUIT_FAILURES = 1
    failover.record_failure("sendgrid", TransportError("boom", code="http_503", http_status=503))
    assert failover.circuit_allows("sendgrid") is False
    ProviderHealth.objects.filter(provider="sendgrid").update(open_until=timezone.now() - timedelta(seconds=1))
    assert failover.circuit_state("sendgrid") == "half_open"
    assert failover.circuit_allows("sendgrid") is True  # the probe
    assert failover.circuit_allows("sendgrid") is False  # everyone else waits for its outcome
    failover.record_success("sendgrid")
    assert failover.circuit_state("sendgrid") == "closed" and failover.circuit_allows("sendgrid") is True


def test_a_failed_probe_opens_the_circuit_again(settings):
    settings.NOTIFY_CIRCUIT_FAILURES = 2
    for _ in range(2):
        failover.record_failure("twilio", TransportError("down", code="connection"))
    ProviderHealth.objects.filter(provider="twilio").update(open_until=timezone.now() - timedelta(seconds=1))
    assert failover.circuit_allows("twilio") is True
    failover.record_failure("twilio", TransportError("still down", code="connection"))
    assert failover.circuit_state("twilio") == "open"


def test_a_brand_route_sets_the_order_of_its_providers(sendgrid, mailgun, django_capture_on_commit_callbacks):
    from tests.factories import BrandFactory

    brand = BrandFactory(slug="mailgun-first", order_prefix="MGF")
    ProviderRoute.objects.create(brand=brand, channel="email", providers=["mailgun", "sendgrid"])
    order = delayed_order(django_capture_on_commit_callbacks, brand=brand)
    assert customer(order, "email").provider == "mailgun"
    assert failover.providers_for(brand=None, channel="email") == ["sendgrid", "mailgun"]


def test_unconfigured_providers_are_skipped(sendgrid):
    assert failover.providers_for(brand=None, channel="email") == ["sendgrid"]
    assert failover.providers_for(brand=None, channel="sms") == []


@pytest.fixture
def circuit_cache(settings):
    settings.NOTIFY_CIRCUIT_CACHE_SECONDS = 60
    failover._clean_until.clear()
    yield settings
    failover._clean_until.clear()


def test_a_clean_circuit_is_read_once_per_process_not_once_per_message(circuit_cache):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert failover.circuit_allows("twilio") is True
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert failover.circuit_allows("twilio") is True
    assert queries.captured_queries == []


def test_a_failure_this_worker_records_is_seen_at_once_despite_the_cache(circuit_cache):
    circuit_cache.NOTIFY_CIRCUIT_FAILURES = 1
    assert failover.circuit_allows("sendgrid") is True  # clean, trusted for a minute
    failover.record_failure("sendgrid", TransportError("boom", code="http_503", http_status=503))
    assert failover.circuit_allows("sendgrid") is False


def test_a_circuit_another_worker_opened_is_seen_once_the_cached_read_expires(circuit_cache):
    import time

    circuit_cache.NOTIFY_CIRCUIT_CACHE_SECONDS = 0.2
    assert failover.circuit_allows("sendgrid") is True
    # Another process opens it: nothing here hears of it until the cached clean read runs out.
    ProviderHealth.objects.create(
        provider="sendgrid", consecutive_failures=5, open_until=timezone.now() + timedelta(seconds=60)
    )
    assert failover.circuit_allows("sendgrid") is True
    time.sleep(0.25)
    assert failover.circuit_allows("sendgrid") is False
    assert failover.circuit_allows("sendgrid") is False  # an open circuit is never cached as clean
