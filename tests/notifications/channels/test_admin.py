"""Admin: staff destinations keep their secret write-only, refuse unsafe URLs and show why one was disabled."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from notifications import destinations
from notifications.models import StaffDestination
from tests.notifications.channels.conftest import add_destination

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_the_admin_stores_a_new_destination_encrypted_and_never_shows_the_url(admin_client, slack_webhook):
    url = slack_webhook.hook_url()
    response = admin_client.post(
        "/admin/notifications/staffdestination/add/",
        {"name": "ops", "kind": "slack_webhook", "secret": url, "channel": "", "events": "[]", "enabled": "on"},
    )
    assert response.status_code == 302
    destination = StaffDestination.objects.get()
    assert destinations.destination_secret(destination) == url
    page = admin_client.get(f"/admin/notifications/staffdestination/{destination.pk}/change/").content.decode()
    assert "XXXXXXXX" not in page


def test_the_admin_refuses_a_private_address(admin_client, settings):
    settings.NETGUARD_ALLOW_LOOPBACK = False
    response = admin_client.post(
        "/admin/notifications/staffdestination/add/",
        {"name": "ops", "kind": "teams", "secret": "http://127.0.0.1:9/hook", "events": "[]", "enabled": "on"},
    )
    assert response.status_code == 200 and "This URL is refused" in response.content.decode()
    assert not StaffDestination.objects.exists()


def test_the_admin_lists_a_disabled_destination_with_its_reason(admin_client, slack_webhook):
    destination = add_destination(StaffDestination.Kind.SLACK_WEBHOOK, slack_webhook.hook_url())
    destinations.destination_disable(destination=destination, reason="Slack answered 404: no_service")
    page = admin_client.get("/admin/notifications/staffdestination/").content.decode()
    assert "Slack answered 404: no_service" in page
