"""Shared fixtures: loopback provider fakes wired into settings, and customers who said yes."""

from __future__ import annotations

import os

import pytest

from orders.models import Customer
from tests.fakes.providers import FakeFCM, FakeOneSignal, FakeSendGrid, FakeTwilio

# The Twilio SDK rewrites the hostname when these are set: the fake lives on 127.0.0.1.
os.environ.pop("TWILIO_REGION", None)
os.environ.pop("TWILIO_EDGE", None)


@pytest.fixture(autouse=True)
def _no_providers(settings):
    """Every test starts with the zero-setup default (outbox) and short timeouts."""
    settings.SENDGRID_API_KEY = ""
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_FROM_NUMBER = settings.TWILIO_WHATSAPP_FROM = ""
    settings.TWILIO_WHATSAPP_CONTENT_SIDS = {}
    settings.FCM_PROJECT_ID = settings.FCM_CREDENTIALS_FILE = ""
    settings.ONESIGNAL_APP_ID = settings.ONESIGNAL_API_KEY = ""
    settings.NOTIFY_STAFF_EMAIL = "ops@brand.example"
    settings.NOTIFY_CONNECT_TIMEOUT = 1.0
    settings.NOTIFY_READ_TIMEOUT = 1.0
    settings.NOTIFY_BRAND_CACHE_SECONDS = 0  # tests edit brand settings and overrides between renders


@pytest.fixture
def twilio(settings):
    with FakeTwilio() as fake:
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.TWILIO_FROM_NUMBER = "+15017122661"
        settings.TWILIO_WHATSAPP_FROM = "+14155238886"
        settings.TWILIO_API_BASE_URL = fake.url
        yield fake


@pytest.fixture
def sendgrid(settings):
    with FakeSendGrid() as fake:
        settings.SENDGRID_API_KEY = fake.api_key
        settings.SENDGRID_API_HOST = fake.url
        yield fake


@pytest.fixture
def fcm(settings, tmp_path):
    import json

    from notifications.transports.fcm import forget_access_token

    with FakeFCM() as fake:
        creds = tmp_path / "fcm.json"
        creds.write_text(json.dumps(fake.credentials()))
        settings.FCM_PROJECT_ID = fake.project_id
        settings.FCM_CREDENTIALS_FILE = str(creds)
        settings.FCM_API_BASE_URL = fake.url
        forget_access_token()
        yield fake
        forget_access_token()


@pytest.fixture
def onesignal(settings):
    with FakeOneSignal() as fake:
        settings.ONESIGNAL_APP_ID = fake.app_id
        settings.ONESIGNAL_API_KEY = fake.api_key
        settings.ONESIGNAL_API_BASE_URL = fake.url
        yield fake


def consent_all(customer: Customer) -> Customer:
    Customer.objects.filter(pk=customer.pk).update(consent_sms=True, consent_whatsapp=True, consent_push=True)
    customer.refresh_from_db()
    return customer
