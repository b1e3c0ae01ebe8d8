"""Each platform carries a real message end to end against its fake: request shape, auth, answer, errors."""

from __future__ import annotations

import pytest

from notifications import netguard, services
from notifications.models import Notification, ProviderHealth, StaffDestination
from tests.notifications.channels.conftest import add_destination
from tests.notifications.channels.helpers import customer, delayed_order, staff_chat

pytestmark = pytest.mark.django_db
S = Notification.Status
K = StaffDestination.Kind


def test_slack_chat_post_message_carries_block_kit_with_order_status_reason_and_admin_link(
    slack_api, django_capture_on_commit_callbacks
):
    add_destination(K.SLACK, "xoxb-test-token", channel="C0OPS")
    order = delayed_order(django_capture_on_commit_callbacks)
    [alert] = staff_chat(order)
    [request] = slack_api.requests
    body = request.json
    assert request.headers["authorization"] == "Bearer xoxb-test-token"
    assert body["channel"] == "C0OPS" and body["unfurl_links"] is False
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": alert.subject}}
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert f"*Order*\n{order.number}" in fields and "*Reason*\nweather" in fields
    assert (
        body["blocks"][2]["elements"][0]["url"] == f"https://track.example.test/admin/orders/order/{order.pk}/change/"
    )
    assert order.number in body["text"]
    assert alert.status == S.SENT and alert.provider == "slack" and alert.provider_message_id.startswith("C0OPS:")


def test_a_slack_incoming_webhook_gets_the_same_message_and_its_ok(slack_webhook, django_capture_on_commit_callbacks):
    add_destination(K.SLACK_WEBHOOK, slack_webhook.hook_url())
    order = delayed_order(django_capture_on_commit_callbacks)
    [request] = slack_webhook.requests
    assert request.path == "/services/T000/B000/XXXXXXXX"
    assert request.headers["content-type"].startswith("application/json")
    assert request.json["blocks"][0]["type"] == "header" and order.number in request.json["text"]
    assert staff_chat(order)[0].status == S.SENT


def test_a_revoked_slack_token_disables_the_destination_and_alerts_staff_once(
    slack_api, django_capture_on_commit_callbacks
):
    destination = add_destination(K.SLACK, "xoxb-test-token", channel="C0OPS")
    slack_api.revoked.add("xoxb-test-token")
    order = delayed_order(django_capture_on_commit_callbacks)
    [alert] = staff_chat(order, event="delayed")
    destination.refresh_from_db()
    assert alert.status == S.FAILED and alert.error_code == "token_revoked" and alert.attempts == 1
    assert not destination.enabled and "token_revoked" in destination.disabled_reason and destination.disabled_at
    [email] = Notification.objects.filter(order=order, event="destination_disabled", channel="email")
    assert "token_revoked" in email.body_text and email.recipient == "ops@brand.example"
    # The disabled destination is not used again: the next alert falls back to the outbox.
    assert [n.provider for n in staff_chat(order, event="destination_disabled")] == ["outbox"]


def test_teams_gets_an_adaptive_card_in_a_workflows_message_envelope(teams, django_capture_on_commit_callbacks):
    add_destination(K.TEAMS, teams.hook_url())
    order = delayed_order(django_capture_on_commit_callbacks)
    [request] = teams.requests
    attachment = request.json["attachments"][0]
    card = attachment["content"]
    assert request.json["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert {"title": "Reason", "value": "weather"} in card["body"][1]["facts"]
    assert card["actions"][0]["type"] == "Action.OpenUrl"
    assert staff_chat(order)[0].status == S.SENT


def test_a_deleted_teams_workflow_disables_the_destination(teams, django_capture_on_commit_callbacks):
    destination = add_destination(K.TEAMS, teams.hook_url(workflow="gone"))
    order = delayed_order(django_capture_on_commit_callbacks)
    destination.refresh_from_db()
    assert staff_chat(order, event="delayed")[0].status == S.FAILED
    assert not destination.enabled and "404" in destination.disabled_reason


def test_google_chat_gets_text_and_a_card_and_the_message_name_is_kept(google_chat, django_capture_on_commit_callbacks):
    add_destination(K.GOOGLE_CHAT, google_chat.hook_url())
    order = delayed_order(django_capture_on_commit_callbacks)
    [request] = google_chat.requests
    card = request.json["cardsV2"][0]["card"]
    assert request.query["key"] == ["key-1"] and request.query["token"] == ["token-1"]
    assert order.number in request.json["text"]
    assert card["header"]["title"] == staff_chat(order)[0].subject
    assert {"decoratedText": {"topLabel": "Reason", "text": "weather", "wrapText": True}} in card["sections"][0][
        "widgets"
    ]
    assert staff_chat(order)[0].provider_message_id.startswith("spaces/AAAA1234/messages/")


def test_a_google_chat_webhook_whose_token_was_revoked_is_disabled(google_chat, django_capture_on_commit_callbacks):
    destination = add_destination(K.GOOGLE_CHAT, google_chat.hook_url(token="revoked"))
    delayed_order(django_capture_on_commit_callbacks)
    destination.refresh_from_db()
    assert not destination.enabled and "UNAUTHENTICATED" in destination.disabled_reason


def test_whatsapp_cloud_sends_the_approved_template_and_records_the_wamid(whatsapp, django_capture_on_commit_callbacks):
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    [request] = whatsapp.requests
    body = request.json
    assert request.path == "/v21.0/106540352242922/messages"
    assert request.headers["authorization"] == "Bearer EAAG-test-token"
    assert body["messaging_product"] == "whatsapp" and body["type"] == "template" and body["to"] == "14155550123"
    assert body["template"]["name"] == "order_delayed" and body["template"]["language"] == {"code": "en_US"}
    params = [p["text"] for p in body["template"]["components"][0]["parameters"]]
    assert params == ["Ada", order.number, order.tracking_url]
    assert message.status == S.SENT and message.provider == "whatsapp_cloud"
    assert message.provider_message_id.startswith("wamid.")


def test_a_rejected_whatsapp_access_token_is_the_providers_fault_and_opens_its_circuit(
    whatsapp, django_capture_on_commit_callbacks
):
    whatsapp.token = "rotated"
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    assert message.status == S.FAILED and message.error_code == "190"
    assert ProviderHealth.objects.get(provider="whatsapp_cloud").open_until is not None


def test_mailgun_sends_form_fields_with_basic_auth_to_the_configured_base_url(
    mailgun, django_capture_on_commit_callbacks
):
    order = delayed_order(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    request = next(r for r in mailgun.requests if r.field("to") == "ada@example.com")
    assert request.path == "/v3/mg.brand.example/messages"
    assert request.field("subject") == email.subject and request.field("text") == email.body_text
    assert request.field("html").startswith("<!") or "<html" in request.field("html")
    assert request.field("v:notification") == str(email.public_id)
    assert request.field("h:List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert email.provider == "mailgun" and email.status == S.SENT
    assert email.provider_message_id.endswith("@mg.brand.example") and "<" not in email.provider_message_id


def test_mailgun_on_an_unknown_domain_fails_without_retrying_the_recipient(
    mailgun, settings, django_capture_on_commit_callbacks
):
    settings.MAILGUN_DOMAIN = "mg.other.example"
    order = delayed_order(django_capture_on_commit_callbacks)
    email = customer(order, "email")
    assert email.status == S.FAILED and "Domain not found" in email.error_message


def test_messagebird_sends_the_sms_with_our_reference_and_report_url(messagebird, django_capture_on_commit_callbacks):
    order = delayed_order(django_capture_on_commit_callbacks)
    sms = customer(order, "sms")
    [request] = messagebird.requests
    body = request.json
    assert request.headers["authorization"] == "AccessKey live_testaccesskey"
    assert body["recipients"] == ["14155550123"] and body["originator"] == "BrandCo"
    assert body["body"] == sms.body_text and body["reference"] == str(sms.public_id)
    assert body["reportUrl"] == "https://track.example.test/webhooks/providers/messagebird/status/"
    assert sms.provider == "messagebird" and sms.status == S.SENT and len(sms.provider_message_id) == 32


def test_destination_secrets_are_stored_encrypted(slack_webhook):
    url = slack_webhook.hook_url()
    destination = add_destination(K.SLACK_WEBHOOK, url)
    stored = StaffDestination.objects.values_list("secret_encrypted", flat=True).get(pk=destination.pk)
    assert "XXXXXXXX" not in stored and "127.0.0.1" not in stored


def test_a_loopback_webhook_url_is_refused_when_saved_and_when_sent(
    slack_webhook, settings, django_capture_on_commit_callbacks
):
    destination = add_destination(K.SLACK_WEBHOOK, slack_webhook.hook_url())
    settings.NETGUARD_ALLOW_LOOPBACK = False
    with pytest.raises(netguard.UnsafeDestination):
        add_destination(K.SLACK_WEBHOOK, slack_webhook.hook_url(), name="second")
    order = delayed_order(django_capture_on_commit_callbacks)
    destination.refresh_from_db()
    assert slack_webhook.requests == []
    assert staff_chat(order, event="delayed")[0].status == S.FAILED
    assert not destination.enabled and "loopback" in destination.disabled_reason


def test_with_no_destination_the_staff_alert_lands_in_the_outbox(client, django_capture_on_commit_callbacks):
    from tests.factories import supervisor_user

    order = delayed_order(django_capture_on_commit_callbacks)
    [alert] = staff_chat(order)
    assert alert.provider == "outbox" and alert.status == S.SENT and "Delayed" in alert.subject
    client.force_login(supervisor_user())
    page = client.get("/outbox/").content.decode()
    assert alert.subject in page


def test_services_dispatch_is_idempotent_for_a_sent_staff_alert(slack_webhook, django_capture_on_commit_callbacks):
    add_destination(K.SLACK_WEBHOOK, slack_webhook.hook_url())
    order = delayed_order(django_capture_on_commit_callbacks)
    assert services.notification_dispatch(notification_id=staff_chat(order)[0].pk) == "skipped"
    assert len(slack_webhook.requests) == 1
