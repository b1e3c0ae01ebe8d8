"""Rules, provider routes and outbound endpoints are cached per brand (notifications/brand_cache.py):
a change staff make is used at once, and nothing a transaction did not commit is ever kept."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications import failover, outbound, rules
from notifications.models import Audience, Channel, Event, NotificationRule, ProviderRoute
from notifications.outbound_models import EventType, WebhookEndpoint, WebhookMessage
from tests.factories import BrandFactory
from tests.notifications.helpers import confirmed_order, messages

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cached(settings):
    # tests/notifications/conftest.py turns brand caches off; these tests are about them.
    settings.NOTIFY_BRAND_CACHE_SECONDS = 30
    for cache in (rules._rule_rows, failover._routes, outbound._endpoints):
        cache.clear()
    yield
    for cache in (rules._rule_rows, failover._routes, outbound._endpoints):
        cache.clear()


def _queries(work) -> int:
    with CaptureQueriesContext(connection) as captured:
        work()
    return len(captured)


def _channels(brand, event=Event.ORDER_CONFIRMED) -> list[str]:
    return [c for r in rules.rules_for(brand=brand, event=event) if r.audience == Audience.CUSTOMER for c in r.channels]


def test_the_rules_of_a_brand_are_read_once_for_every_event():
    brand = BrandFactory()
    assert _queries(lambda: rules.rules_for(brand=brand, event=Event.ORDER_CONFIRMED)) == 1
    assert _queries(lambda: rules.rules_for(brand=brand, event=Event.OUT_FOR_DELIVERY)) == 0
    assert _queries(lambda: rules.rules_for(brand=brand, event=Event.ORDER_CONFIRMED)) == 0


def test_a_rule_saved_in_the_admin_is_used_at_once():
    brand = BrandFactory()
    assert "sms" not in _channels(brand)
    rule = NotificationRule.objects.create(brand=brand, event=Event.ORDER_CONFIRMED, channels=["sms"])
    assert _channels(brand) == ["sms"]
    rule.channels = ["email", "sms"]
    rule.save()
    assert _channels(brand) == ["email", "sms"]
    rule.delete()
    assert "sms" not in _channels(brand)


def test_a_rule_saved_for_every_brand_reaches_the_next_message():
    brand = BrandFactory()
    confirmed_order(brand=brand)  # fills the cache
    NotificationRule.objects.create(event=Event.ORDER_CONFIRMED, channels=["email"], enabled=False)
    assert messages(confirmed_order(brand=brand), event=Event.ORDER_CONFIRMED) == []


def test_a_rule_from_a_rolled_back_transaction_is_never_used():
    brand = BrandFactory()
    _channels(brand)
    with pytest.raises(RuntimeError), transaction.atomic():
        NotificationRule.objects.create(brand=brand, event=Event.ORDER_CONFIRMED, channels=["sms"])
        assert _channels(brand) == ["sms"]  # its own transaction sees it
        raise RuntimeError("the admin form failed after the save")
    assert "sms" not in _channels(brand)


def test_a_provider_route_saved_is_used_at_once(settings):
    settings.SENDGRID_API_KEY = "SG.test"
    settings.MAILGUN_API_KEY, settings.MAILGUN_DOMAIN = "key-test", "mg.example.test"
    brand = BrandFactory()
    assert failover.providers_for(brand=brand, channel=Channel.EMAIL) == ["sendgrid", "mailgun"]
    assert _queries(lambda: failover.providers_for(brand=brand, channel=Channel.SMS)) == 0
    route = ProviderRoute.objects.create(brand=brand, channel=Channel.EMAIL, providers=["mailgun", "sendgrid"])
    assert failover.providers_for(brand=brand, channel=Channel.EMAIL) == ["mailgun", "sendgrid"]
    route.delete()
    assert failover.providers_for(brand=brand, channel=Channel.EMAIL) == ["sendgrid", "mailgun"]


def test_a_brand_without_endpoints_costs_no_query_per_domain_event():
    brand = BrandFactory()
    outbound._enabled_endpoints(brand.pk)
    assert _queries(lambda: outbound._enabled_endpoints(brand.pk)) == 0


def test_an_endpoint_saved_gets_the_next_event_and_a_disabled_one_does_not():
    brand = BrandFactory()
    confirmed_order(brand=brand)  # fills the cache: no endpoint
    endpoint, _ = outbound.endpoint_create(
        url="http://127.0.0.1:9/in", event_types=[EventType.ORDER_STATUS_CHANGED], brand=brand
    )
    first = confirmed_order(brand=brand)
    assert WebhookMessage.objects.filter(endpoint=endpoint, order=first).count() == 1
    outbound.endpoint_disable(endpoint=endpoint, reason="410 Gone")  # an UPDATE: no signal
    second = confirmed_order(brand=brand)
    assert not WebhookMessage.objects.filter(endpoint=endpoint, order=second).exists()


@pytest.mark.django_db(transaction=True)
def test_a_commit_in_another_thread_is_seen_by_this_one():
    brand = BrandFactory()
    assert outbound._enabled_endpoints(brand.pk) == []
    assert outbound._enabled_endpoints(brand.pk) == []  # cached

    def admin_saves():
        WebhookEndpoint.objects.create(url="https://hooks.example.test/in", brand=brand, secret_encrypted="x")
        connection.close()

    saver = threading.Thread(target=admin_saves)
    saver.start()
    saver.join()
    assert [e.url for e in outbound._enabled_endpoints(brand.pk)] == ["https://hooks.example.test/in"]
