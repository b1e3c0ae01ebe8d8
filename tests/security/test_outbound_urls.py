"""Every place that takes a URL we will call refuses private, loopback and link-local addresses.

With the test relaxations (NETGUARD_ALLOW_HTTP/LOOPBACK) switched off, as in production. The entry
points: the outbound-webhook API (integrators), the staff chat destinations (Slack, Teams, Google
Chat) and, at send time, a name that has since started to resolve to a private address. The guard
itself is tested address by address in tests/notifications/test_netguard.py; here are the spellings
an attacker uses to slip past a naive check (decimal, hex, short forms, IPv6, CGNAT, multicast).
"""

from __future__ import annotations

import socket

import pytest
from rest_framework.authtoken.models import Token

from notifications import destinations, netguard, outbound
from notifications.models import StaffDestination
from notifications.outbound_models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.factories import UserFactory, make_order

pytestmark = pytest.mark.django_db

UNSAFE = [
    "https://127.0.0.1/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "https://0x7f000001/hook",  # ... in hex
    "https://127.1/hook",  # ... in short form
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://10.0.0.8/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata, link-local
    "https://[fe80::1]/hook",  # IPv6 link-local
    "https://[fd00::1]/hook",  # IPv6 unique local
    "https://100.64.0.1/hook",  # carrier-grade NAT
    "https://224.0.0.1/hook",  # multicast
    "https://0.0.0.0/hook",
    "https://[::]/hook",
]


@pytest.fixture(autouse=True)
def production_guard(settings):
    settings.NETGUARD_ALLOW_HTTP = False
    settings.NETGUARD_ALLOW_LOOPBACK = False


@pytest.mark.parametrize("url", UNSAFE)
def test_the_webhook_api_refuses_to_subscribe_an_internal_address(client, url):
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key

    response = client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": url, "event_types": []},
        content_type="application/json",
        headers={"Authorization": f"Token {token}"},
    )

    assert response.status_code == 400
    assert "url" in response.json()["fields"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", UNSAFE)
def test_a_staff_chat_destination_refuses_an_internal_address(url):
    destination = StaffDestination(kind=StaffDestination.Kind.SLACK_WEBHOOK, name="ops")

    with pytest.raises(netguard.UnsafeDestination):
        destinations.destination_set_secret(destination=destination, secret=url)
    assert not StaffDestination.objects.exists()


def test_the_api_refuses_plain_http_even_to_a_public_address(client):
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key

    response = client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": "http://93.184.215.14/hook", "event_types": []},
        content_type="application/json",
        headers={"Authorization": f"Token {token}"},
    )

    assert response.status_code == 400


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_send_time(monkeypatch):
    answers = {"hooks.example.com": "93.184.215.14"}

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", resolve)
    outbound.endpoint_create(url="https://hooks.example.com/in", event_types=[])
    make_order()
    answers["hooks.example.com"] = "10.0.0.8"  # DNS rebinding after the check at subscribe time

    results = [outbound.message_deliver(message_id=pk) for pk in WebhookMessage.objects.values_list("pk", flat=True)]

    assert results and set(results) == {"refused"}
    assert "private_address" in WebhookAttempt.objects.first().error
