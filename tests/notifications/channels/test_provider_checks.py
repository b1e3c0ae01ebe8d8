"""`manage.py check` names, per channel, the provider that is half configured and where its messages go instead."""

from __future__ import annotations

import pytest
from django.core import checks

from notifications.models import StaffDestination
from tests.notifications.channels.conftest import add_destination

pytestmark = pytest.mark.django_db
K = StaffDestination.Kind


@pytest.fixture(autouse=True)
def _nothing_configured(settings):
    settings.SENDGRID_API_KEY = settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = ""
    settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID = settings.MESSAGEBIRD_WHATSAPP_NAMESPACE = ""
    settings.MESSAGEBIRD_WHATSAPP_TEMPLATES = {}


def messages(id_: str) -> list[str]:
    return [m.msg for m in checks.run_checks() if m.id == id_]


def ids() -> set[str]:
    return {m.id for m in checks.run_checks() if m.id.startswith("notifications.")}


def test_mailgun_key_without_domain_is_reported_and_email_falls_back_to_the_outbox(settings):
    settings.MAILGUN_API_KEY = "key-test"
    [msg] = messages("notifications.W007")
    assert "MAILGUN_API_KEY is set but MAILGUN_DOMAIN is not" in msg and "outbox" in msg
    assert "notifications.W001" in ids()  # and email as a whole has no provider


def test_an_incomplete_mailgun_says_email_still_goes_through_sendgrid(settings):
    settings.SENDGRID_API_KEY, settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = "SG.x", "key"
    settings.MAILGUN_DOMAIN = "mg.brand.example"
    [msg] = messages("notifications.W007")
    assert "MAILGUN_API_KEY is not" in msg and "goes through sendgrid" in msg
    assert "notifications.W001" not in ids()


def test_a_configured_mailgun_alone_counts_as_an_email_provider(settings):
    settings.MAILGUN_API_KEY, settings.MAILGUN_DOMAIN = "key-test", "mg.brand.example"
    settings.MAILGUN_WEBHOOK_SIGNING_KEY = "signing"
    assert not {"notifications.W001", "notifications.W007", "notifications.W012"} & ids()


def test_a_whatsapp_token_without_phone_number_id_is_reported(settings):
    settings.WHATSAPP_ACCESS_TOKEN = "EAAG-token"
    [msg] = messages("notifications.W008")
    assert msg.startswith("WhatsApp: whatsapp_cloud is incomplete") and "WHATSAPP_PHONE_NUMBER_ID" in msg
    assert "notifications.W003" in ids()


def test_messagebird_whatsapp_without_a_channel_id_is_reported(settings):
    settings.MESSAGEBIRD_ACCESS_KEY = "live_key"
    settings.MESSAGEBIRD_WHATSAPP_NAMESPACE = "fa7dc6ea_f838_47e1_884c_965e50f358b6"
    [msg] = messages("notifications.W010")
    assert "MESSAGEBIRD_WHATSAPP_CHANNEL_ID is not" in msg and "messagebird_whatsapp is skipped" in msg


def test_the_messagebird_access_key_alone_is_sms_not_an_incomplete_whatsapp(settings):
    settings.MESSAGEBIRD_ACCESS_KEY, settings.MESSAGEBIRD_ORIGINATOR = "live_key", "BrandCo"
    settings.MESSAGEBIRD_SIGNING_KEY = "signing"
    found = ids()
    assert "notifications.W010" not in found and "notifications.W009" not in found
    assert "notifications.W002" not in found  # SMS is carried by MessageBird


def test_messagebird_sms_without_an_originator_is_reported(settings):
    settings.MESSAGEBIRD_ACCESS_KEY = "live_key"
    [msg] = messages("notifications.W009")
    assert msg.startswith("SMS: messagebird is incomplete") and "MESSAGEBIRD_ORIGINATOR" in msg


def test_whatsapp_without_templates_is_reported(settings):
    settings.WHATSAPP_ACCESS_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID = "EAAG-token", "1065"
    settings.WHATSAPP_TEMPLATES = {}
    assert messages("notifications.W011")
    settings.WHATSAPP_TEMPLATES = {"delayed": {"name": "order_delayed", "language": "en_US"}}
    assert not messages("notifications.W011")


def test_receipts_that_cannot_be_verified_are_reported(settings):
    settings.WHATSAPP_ACCESS_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID = "EAAG-token", "1065"
    [msg] = messages("notifications.W012")
    assert "WhatsApp Cloud API receipts are off: WHATSAPP_APP_SECRET" in msg


def test_an_unknown_provider_in_the_failover_order_is_reported(settings):
    settings.NOTIFY_PROVIDER_ORDER = {"whatsapp": ["twilio", "messagebird"]}
    [warning] = [m for m in checks.run_checks() if m.id == "notifications.W013"]
    assert "names 'messagebird', which is not a whatsapp provider" in warning.msg
    assert "messagebird_whatsapp" in warning.hint


def test_a_slack_bot_token_without_a_slack_channel_destination_is_reported(settings):
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    [msg] = messages("notifications.W014")
    assert "SLACK_BOT_TOKEN is set but no enabled Slack destination has a channel" in msg and "outbox" in msg
    add_destination(K.SLACK, "", channel="C0OPS")
    assert not messages("notifications.W014")


def test_a_slack_destination_without_a_channel_is_reported(settings):
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    add_destination(K.SLACK, "xoxb-own", name="ops")
    assert any("'ops' have no channel" in msg for msg in messages("notifications.W014"))


def test_a_slack_destination_without_any_token_is_reported(settings):
    add_destination(K.SLACK, "", channel="C0OPS")
    [msg] = messages("notifications.W014")
    assert "no bot token of its own and SLACK_BOT_TOKEN is not set" in msg


def test_nothing_is_said_about_providers_nobody_started_to_configure():
    assert ids() == {"notifications.W001", "notifications.W002", "notifications.W003", "notifications.W004"}
