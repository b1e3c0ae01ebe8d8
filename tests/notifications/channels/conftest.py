"""Fakes of the issue-6 platforms wired into settings, and staff destinations pointing at them."""

from __future__ import annotations

import pytest

from notifications import destinations
from notifications.models import StaffDestination
from tests.fakes.channels import (
    FakeGoogleChat,
    FakeMailgun,
    FakeMessageBird,
    FakeSlackAPI,
    FakeSlackWebhook,
    FakeTeamsWorkflow,
    FakeWhatsAppCloud,
)

ENCRYPTION_KEY = "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c="


@pytest.fixture(autouse=True)
def _no_channel_providers(settings):
    settings.SLACK_BOT_TOKEN = ""
    settings.WHATSAPP_ACCESS_TOKEN = settings.WHATSAPP_PHONE_NUMBER_ID = settings.WHATSAPP_APP_SECRET = ""
    settings.WHATSAPP_VERIFY_TOKEN = ""
    settings.WHATSAPP_TEMPLATES = {}
    settings.MAILGUN_API_KEY = settings.MAILGUN_DOMAIN = settings.MAILGUN_WEBHOOK_SIGNING_KEY = ""
    settings.MESSAGEBIRD_ACCESS_KEY = settings.MESSAGEBIRD_ORIGINATOR = settings.MESSAGEBIRD_SIGNING_KEY = ""
    settings.NOTIFY_PROVIDER_ORDER = {}
    settings.NOTIFY_FAILOVER_AFTER_ATTEMPTS = 2
    settings.NOTIFY_CIRCUIT_FAILURES = 5
    settings.NOTIFY_CIRCUIT_OPEN_SECONDS = 60
    settings.FIELD_ENCRYPTION_KEY = ENCRYPTION_KEY


@pytest.fixture
def slack_api(settings):
    with FakeSlackAPI() as fake:
        settings.SLACK_API_BASE_URL = f"{fake.url}/api/"
        yield fake


@pytest.fixture
def slack_webhook():
    with FakeSlackWebhook() as fake:
        yield fake


@pytest.fixture
def teams():
    with FakeTeamsWorkflow() as fake:
        yield fake


@pytest.fixture
def google_chat():
    with FakeGoogleChat() as fake:
        yield fake


@pytest.fixture
def whatsapp(settings):
    with FakeWhatsAppCloud() as fake:
        settings.WHATSAPP_ACCESS_TOKEN = fake.token
        settings.WHATSAPP_PHONE_NUMBER_ID = fake.phone_number_id
        settings.WHATSAPP_API_BASE_URL = fake.base_url
        settings.WHATSAPP_TEMPLATES = {
            "delayed": {"name": "order_delayed", "language": "en_US", "languages": {"es": "es"}}
        }
        yield fake


@pytest.fixture
def mailgun(settings):
    with FakeMailgun() as fake:
        settings.MAILGUN_API_KEY = fake.api_key
        settings.MAILGUN_DOMAIN = fake.domain
        settings.MAILGUN_API_BASE_URL = fake.url
        yield fake


@pytest.fixture
def messagebird(settings):
    with FakeMessageBird() as fake:
        settings.MESSAGEBIRD_ACCESS_KEY = fake.access_key
        settings.MESSAGEBIRD_ORIGINATOR = "BrandCo"
        settings.MESSAGEBIRD_API_BASE_URL = fake.url
        yield fake


def add_destination(kind: str, secret: str, *, brand=None, channel: str = "", name: str = "") -> StaffDestination:
    destination = StaffDestination(brand=brand, kind=kind, name=name or f"{kind} ops", channel=channel)
    return destinations.destination_set_secret(destination=destination, secret=secret)
