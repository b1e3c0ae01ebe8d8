"""Push over FCM HTTP v1 and OneSignal (plain HTTP to loopback fakes), device tokens and the in-app feed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from notifications.models import DeviceToken, Event, Notification
from orders import services as order_services
from tests.factories import UserFactory, make_order
from tests.notifications.helpers import messages, reachable_everywhere

pytestmark = pytest.mark.django_db
S = Notification.Status


def order_with_device(provider: str, token: str):
    order = make_order(inventory_allocated=True)
    reachable_everywhere(order.customer)
    DeviceToken.objects.create(customer=order.customer, provider=provider, token=token, platform="android")
    return order


def dispatch(order, django_capture_on_commit_callbacks):
    order_services.order_transition(order=order, transition="confirm", source="api")
    order_services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_transition(order=order, transition="dispatch", source="api")


def test_fcm_gets_an_oauth_token_then_the_v1_message(fcm, django_capture_on_commit_callbacks):
    order = order_with_device("fcm", "device-token-1")
    dispatch(order, django_capture_on_commit_callbacks)
    sends = [r for r in fcm.requests if r.path.endswith("messages:send")]
    assert [r.path for r in fcm.requests][0] == "/token"
    message = sends[-1].json["message"]
    assert message["token"] == "device-token-1"
    assert message["notification"]["title"] == "Your order is on its way"
    assert all(isinstance(v, str) for v in message["data"].values())
    push = messages(order, event=Event.ORDER_DISPATCHED, channel="push")[0]
    assert push.provider == "fcm" and push.status == S.SENT and push.provider_message_id.startswith("projects/")
    assert len([r for r in fcm.requests if r.path == "/token"]) == 1  # the token is cached


def test_an_unregistered_fcm_token_fails_permanently_and_retires_the_device(fcm, django_capture_on_commit_callbacks):
    fcm.unregistered.add("dead-token")
    order = order_with_device("fcm", "dead-token")
    dispatch(order, django_capture_on_commit_callbacks)
    push = messages(order, event=Event.ORDER_DISPATCHED, channel="push")[0]
    assert (push.status, push.error_code) == (S.FAILED, "UNREGISTERED")
    assert DeviceToken.objects.get(token="dead-token").active is False


def test_onesignal_targets_the_external_id_with_an_idempotency_key(onesignal, django_capture_on_commit_callbacks):
    order = order_with_device("onesignal", "customer-42")
    dispatch(order, django_capture_on_commit_callbacks)
    body = onesignal.requests[-1].json
    assert onesignal.requests[-1].headers["authorization"] == "Key os-test-key"
    assert body["include_aliases"] == {"external_id": ["customer-42"]} and body["target_channel"] == "push"
    push = messages(order, event=Event.ORDER_DISPATCHED, channel="push")[0]
    assert body["idempotency_key"] == str(push.public_id)
    assert push.status == S.SENT


def test_onesignal_200_with_invalid_aliases_is_a_permanent_failure(onesignal, django_capture_on_commit_callbacks):
    onesignal.known_external_ids = {"someone-else"}
    order = order_with_device("onesignal", "customer-43")
    dispatch(order, django_capture_on_commit_callbacks)
    push = messages(order, event=Event.ORDER_DISPATCHED, channel="push")[0]
    assert (push.status, push.error_code) == (S.FAILED, "invalid_aliases")


def test_the_shops_app_registers_a_device_with_its_api_token():
    order = make_order()
    user = UserFactory(is_staff=False)
    user.user_permissions.add(
        Permission.objects.get(codename="view_order"), Permission.objects.get(codename="add_devicetoken")
    )
    client = APIClient()
    client.force_authenticate(user)
    url = f"/api/v1/orders/{order.number}/devices/"
    first = client.post(url, {"provider": "fcm", "token": "tok-1", "platform": "ios"}, format="json")
    again = client.post(url, {"provider": "fcm", "token": "tok-1", "platform": "ios"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    order.customer.refresh_from_db()
    assert order.customer.consent_push is True


def test_the_tracking_page_registers_a_device_with_the_orders_token(client):
    order = make_order()
    url = f"/t/{order.tracking_token}/devices/"
    response = client.post(url, {"provider": "onesignal", "token": "ext-1"}, content_type="application/json")
    assert response.status_code == 201
    assert DeviceToken.objects.get(token="ext-1").customer == order.customer
    wrong = client.post("/t/wrong/devices/", {"provider": "fcm", "token": "x"}, content_type="application/json")
    assert wrong.status_code == 404


def test_the_in_app_feed_lists_messages_and_marks_them_read(client, django_capture_on_commit_callbacks):
    order = make_order(inventory_allocated=True)
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_transition(order=order, transition="confirm", source="api")
    feed = client.get(f"/t/{order.tracking_token}/feed/").json()
    assert feed["unread"] == 1 and feed["results"][0]["title"] == "Order confirmed"
    item = feed["results"][0]["id"]
    assert client.post(f"/t/{order.tracking_token}/feed/{item}/read/").json() == {"read": True, "changed": True}
    assert client.get(f"/t/{order.tracking_token}/feed/").json()["unread"] == 0
