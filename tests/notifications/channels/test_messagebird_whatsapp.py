"""WhatsApp through MessageBird's Conversations API, and its place in the WhatsApp failover order.

Wire format (no sample in ../shared/fixtures): MessageBird's Conversations API reference,
https://developers.messagebird.com/api/conversations/ — base https://conversations.messagebird.com/v1/,
`Authorization: AccessKey {accessKey}`, JSON bodies, errors as {"errors": [{code, description,
parameter}]} (its example: 1001 "You are requesting with an invalid credential."); its WhatsApp page
(https://developers.messagebird.com/api/whatsapp) says a template ("HSM") message may be sent with
POST /v1/send. The request body (`to`, `from` = channel id, `type: "hsm"`, `content.hsm` with
namespace, templateName, language {policy: deterministic|fallback, code}, params [{default}]) is the
one typed in MessageBird's Node SDK (types/conversations.d.ts: ConversationParameter, HSMContent) and
used by its PHP SDK example (examples/conversations/create-hsm.php). The answer {"id", "status":
"accepted"} is the Go SDK's conversation/testdata/messageSendResponse.json (the Node SDK types nest it
under "message"; the transport reads both). The 202 status is our assumption: the sources seen do not
state the code, so the transport accepts any 2xx carrying an id.
"""

from __future__ import annotations

import pytest

from notifications import failover
from notifications.models import DeliveryAttempt, Notification
from tests.fakes.channels import FakeMessageBirdConversations
from tests.notifications.channels.helpers import customer, delayed_order

pytestmark = pytest.mark.django_db
S = Notification.Status


@pytest.fixture(autouse=True)
def _no_messagebird_whatsapp(settings):
    settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID = settings.MESSAGEBIRD_WHATSAPP_NAMESPACE = ""
    settings.MESSAGEBIRD_WHATSAPP_TEMPLATES = {}


@pytest.fixture
def mb_whatsapp(settings):
    with FakeMessageBirdConversations() as fake:
        settings.MESSAGEBIRD_ACCESS_KEY = fake.access_key
        settings.MESSAGEBIRD_CONVERSATIONS_BASE_URL = fake.url
        settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID = fake.channel_id
        settings.MESSAGEBIRD_WHATSAPP_NAMESPACE = fake.namespace
        settings.MESSAGEBIRD_WHATSAPP_TEMPLATES = {
            "delayed": {"name": "order_delayed", "language": "en_US", "languages": {"es": "es"}}
        }
        yield fake


def attempts(n: Notification) -> list[tuple[str, str]]:
    return list(DeliveryAttempt.objects.filter(notification=n).order_by("number").values_list("provider", "outcome"))


def test_it_sends_the_approved_template_through_conversations_and_records_the_message_id(
    mb_whatsapp, django_capture_on_commit_callbacks
):
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    [request] = mb_whatsapp.requests
    body = request.json
    assert request.path == "/v1/send" and request.headers["authorization"] == "AccessKey live_testaccesskey"
    assert body["from"] == mb_whatsapp.channel_id and body["to"] == "+14155550123" and body["type"] == "hsm"
    hsm = body["content"]["hsm"]
    assert hsm["namespace"] == mb_whatsapp.namespace and hsm["templateName"] == "order_delayed"
    assert hsm["language"] == {"policy": "deterministic", "code": "en_US"}
    assert hsm["params"] == [{"default": "Ada"}, {"default": order.number}, {"default": order.tracking_url}]
    assert message.status == S.SENT and message.provider == "messagebird_whatsapp"
    assert len(message.provider_message_id) == 32 and attempts(message) == [("messagebird_whatsapp", "success")]


def test_it_takes_over_whatsapp_when_twilio_answers_500s(
    twilio, mb_whatsapp, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_PROVIDER_ORDER = {"whatsapp": ["twilio", "messagebird_whatsapp"]}
    settings.NOTIFY_FAILOVER_AFTER_ATTEMPTS = 1
    twilio.fail_next(500, times=5)
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    assert message.status == S.SENT and message.provider == "messagebird_whatsapp"
    assert attempts(message) == [("twilio", "transient"), ("messagebird_whatsapp", "success")]
    assert len(mb_whatsapp.requests) == 1


def test_a_rejected_access_key_is_the_providers_fault_and_hands_whatsapp_to_the_next_provider(
    mb_whatsapp, whatsapp, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_PROVIDER_ORDER = {"whatsapp": ["messagebird_whatsapp", "whatsapp_cloud"]}
    mb_whatsapp.access_key = "rotated"
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    assert message.status == S.SENT and message.provider == "whatsapp_cloud"
    assert attempts(message) == [("messagebird_whatsapp", "transient"), ("whatsapp_cloud", "success")]
    assert DeliveryAttempt.objects.get(notification=message, provider="messagebird_whatsapp").error_code == "1001"
    assert failover.circuit_state("messagebird_whatsapp") == "open"


def test_a_channel_id_that_is_not_ours_fails_the_message_and_opens_the_circuit(
    mb_whatsapp, settings, django_capture_on_commit_callbacks
):
    settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID = "0000000000000000000000000000dead"
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    assert message.status == S.FAILED and message.error_code == "1003" and "channel" in message.error_message
    assert failover.circuit_state("messagebird_whatsapp") == "open"


def test_an_unapproved_template_fails_the_message_without_touching_the_circuit(
    mb_whatsapp, settings, django_capture_on_commit_callbacks
):
    settings.MESSAGEBIRD_WHATSAPP_TEMPLATES = {"delayed": {"name": "order_late", "language": "en_US"}}
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    assert message.status == S.FAILED and "template not found" in message.error_message
    assert failover.circuit_state("messagebird_whatsapp") == "closed"


def test_without_its_own_templates_it_uses_the_cloud_api_template_list(
    mb_whatsapp, settings, django_capture_on_commit_callbacks
):
    settings.MESSAGEBIRD_WHATSAPP_TEMPLATES = {}
    settings.WHATSAPP_TEMPLATES = {"delayed": {"name": "order_delayed", "language": "en_US"}}
    order = delayed_order(django_capture_on_commit_callbacks)
    assert customer(order, "whatsapp").status == S.SENT
    assert mb_whatsapp.requests[0].json["content"]["hsm"]["templateName"] == "order_delayed"


def test_a_timeout_is_retried_later_not_failed(mb_whatsapp, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_READ_TIMEOUT = settings.NOTIFY_CONNECT_TIMEOUT = 0.3
    mb_whatsapp.hang_next(1.0)
    order = delayed_order(django_capture_on_commit_callbacks)
    message = customer(order, "whatsapp")
    assert message.status == S.SCHEDULED and message.error_code == "timeout"
    assert attempts(message) == [("messagebird_whatsapp", "transient")]


def test_it_is_not_a_whatsapp_provider_until_channel_and_namespace_are_set(settings):
    settings.MESSAGEBIRD_ACCESS_KEY = "live_key"
    assert failover.providers_for(brand=None, channel="whatsapp") == []
    settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID = "619747f69cf940a98fb443140ce9aed2"
    assert failover.providers_for(brand=None, channel="whatsapp") == []
    settings.MESSAGEBIRD_WHATSAPP_NAMESPACE = "fa7dc6ea_f838_47e1_884c_965e50f358b6"
    assert failover.providers_for(brand=None, channel="whatsapp") == ["messagebird_whatsapp"]
