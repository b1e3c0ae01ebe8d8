from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db.models.signals import post_save
from rest_framework.authtoken.models import Token

from notifications import netguard, outbound
from notifications.outbound_models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.factories import UserFactory, make_order
from tests.fakes.server import FakeServer, Reply
from tests.outbound.conftest import SECRET

pytestmark = pytest.mark.django_db


def deliver_all() -> list[str]:
    return [outbound.message_deliver(message_id=pk) for pk in WebhookMessage.objects.values_list("pk", flat=True)]


def test_a_loopback_destination_is_refused_when_loopback_is_not_allowed(endpoint, receiver, settings):
    settings.NETGUARD_ALLOW_LOOPBACK = False
    make_order()

    assert deliver_all() == ["refused"]

    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get()
    assert "loopback_address" in attempt.error
    assert WebhookMessage.objects.get().status == "pending"  # retried later: DNS can change back


def test_a_redirect_to_a_private_address_is_refused(db, settings):
    class Redirecting(FakeServer):
        def respond(self, request):
            return Reply(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    with Redirecting() as server:
        outbound.endpoint_create(url=server.url, event_types=[], secret=SECRET)
        make_order()

        assert deliver_all() == ["refused"]

    assert "private_address" in WebhookAttempt.objects.get().error


def test_subscribing_a_private_or_plain_http_destination_is_refused(settings):
    settings.NETGUARD_ALLOW_HTTP = False
    with pytest.raises(netguard.UnsafeDestination):
        outbound.endpoint_create(url="http://hooks.example.com/", event_types=[])
    settings.NETGUARD_ALLOW_HTTP = True
    with pytest.raises(netguard.UnsafeDestination):
        outbound.endpoint_create(url="http://10.0.0.8/hooks", event_types=[])


def api_user(*codenames: str):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return Token.objects.create(user=user).key


def test_an_integration_subscribes_through_the_api_and_gets_the_secret_once(client, receiver):
    token = api_user("add_webhookendpoint", "view_webhookendpoint")

    response = client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": f"{receiver.url}/wms", "event_types": ["order.delivered", "shipment.status_changed"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    listed = client.get("/api/v1/webhooks/endpoints/", HTTP_AUTHORIZATION=f"Token {token}").json()
    assert "secret" not in listed["results"][0] if isinstance(listed, dict) else "secret" not in listed[0]
    assert outbound.endpoint_secrets(WebhookEndpoint.objects.get()) == [secret]


def test_an_endpoint_created_disabled_is_written_disabled_in_one_insert(client, receiver):
    token = api_user("add_webhookendpoint")

    seen = []
    uid = "test-endpoint-saves"
    post_save.connect(
        lambda instance, **kw: seen.append(instance.enabled), sender=WebhookEndpoint, weak=False, dispatch_uid=uid
    )
    try:
        response = client.post(
            "/api/v1/webhooks/endpoints/",
            {"url": f"{receiver.url}/wms", "event_types": ["order.delivered"], "enabled": False},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
    finally:
        post_save.disconnect(sender=WebhookEndpoint, dispatch_uid=uid)
    assert response.status_code == 201, response.content
    assert response.json()["enabled"] is False
    assert seen == [False]  # never saved (and so never cached anywhere) as enabled
    assert WebhookEndpoint.objects.get().enabled is False


def test_the_api_refuses_an_unsafe_url_and_an_unknown_event_type(client):
    token = api_user("add_webhookendpoint")

    response = client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": "http://192.168.1.10/hook", "event_types": ["order.exploded"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"url", "event_types"}


def test_the_api_needs_the_permission(client):
    token = api_user("view_webhookendpoint")

    response = client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": "https://a.example/"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 403


def test_the_api_replays_everything_failed_since_t(client, endpoint, receiver):
    make_order()
    WebhookMessage.objects.update(status="failed")
    token = api_user("replay_webhookendpoint")

    response = client.post(
        f"/api/v1/webhooks/endpoints/{endpoint.pk}/replay/",
        {"since": "2000-01-01T00:00:00Z"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.json() == {"replayed": 1}


def test_staff_manage_endpoints_and_messages_in_the_admin(admin_client, endpoint):
    make_order()

    assert admin_client.get("/admin/notifications/webhookendpoint/").status_code == 200
    assert admin_client.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/").status_code == 200
    message = WebhookMessage.objects.get()
    assert admin_client.get(f"/admin/notifications/webhookmessage/{message.pk}/change/").status_code == 200
    assert admin_client.get("/admin/notifications/webhookendpoint/add/").status_code == 200
