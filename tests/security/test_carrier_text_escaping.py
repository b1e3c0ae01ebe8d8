"""Text a carrier sends (descriptions, reasons, places, raw bodies) is escaped on every page that shows it.

The text arrives the way an attacker would send it: in a correctly signed carrier webhook. Each page
must show it (so the check can fail) and show it escaped: the tracking page, the admin pages of the
order, the shipment, raw webhooks, pending events and unmapped codes, the local outbox, the
notification's admin page and the e-mail we would send.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils.html import escape

from carriers import services as carrier_services
from carriers.models import PendingEvent, RawWebhook
from notifications.models import Notification
from tests.carriers.conftest import SECRETS, make_shipment, signed_headers
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1337)</script>"
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture
def hostile(client, settings, tmp_path, django_capture_on_commit_callbacks):
    """A parcel delayed with a hostile reason and place, plus a dead letter and a pending event."""
    settings.CARRIER_WEBHOOK_SECRETS = dict(SECRETS)
    settings.CARRIER_PROCESS_INLINE = True
    settings.MEDIA_ROOT = str(tmp_path)
    carrier_services.secrets_cache_clear()
    shipment = make_shipment(carrier="acme", tracking_number="XSS1")
    now = datetime.now(UTC)

    def event(number: str, status: str, minutes: int) -> dict:
        return {
            "event_id": f"{number}-{status}",
            "tracking_number": number,
            "status": status,
            "occurred_at": (now - timedelta(minutes=minutes)).isoformat(),
            "description": f"Held at depot {SCRIPT}",
            "reason": f"Weather {SCRIPT}",
            "location": {"city": f"Reno {IMG}", "country": "US"},
        }

    bodies = [
        {"events": [event("XSS1", "in_transit", 30), event("XSS1", "delayed", 10)]},
        {"events": [event(f"NOSUCH{SCRIPT}", "in_transit", 5)]},  # an unknown parcel: a pending event
        {"events": [event("XSS1", f"weird{SCRIPT}", 1)]},  # an unmapped status code
    ]
    with django_capture_on_commit_callbacks(execute=True):
        for body in bodies:
            raw = json.dumps(body).encode()
            response = client.generic(
                "POST", "/webhooks/carriers/generic/", raw, "application/json", headers=signed_headers("generic", raw)
            )
            assert response.status_code < 300, response.content
        garbage = f'{{"events": "{SCRIPT}"}}'.encode()
        dead = client.generic(
            "POST",
            "/webhooks/carriers/generic/",
            garbage,
            "application/json",
            headers=signed_headers("generic", garbage),
        )
    assert dead.status_code == 400
    shipment.refresh_from_db()
    return shipment


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def assert_escaped(page: str, text: str = SCRIPT) -> None:
    assert text not in page
    assert escape(text) in page or escape(escape(text)) in page, "the carrier text is not on the page at all"


def test_the_tracking_page_escapes_carrier_text(client, hostile):
    page = client.get(f"/t/{hostile.order.tracking_token}/").content.decode()

    assert_escaped(page)
    assert_escaped(page, IMG)


def test_the_order_and_shipment_admin_pages_escape_carrier_text(staff, hostile):
    order_page = staff.get(f"/admin/orders/order/{hostile.order_id}/change/").content.decode()
    shipment_page = staff.get(f"/admin/orders/shipment/{hostile.pk}/change/").content.decode()

    assert_escaped(order_page)
    assert_escaped(shipment_page)
    assert_escaped(shipment_page, IMG)


def test_the_raw_webhook_admin_escapes_the_body_of_a_dead_letter(staff, hostile):
    dead = RawWebhook.objects.get(status=RawWebhook.Status.FAILED)
    listing = staff.get("/admin/carriers/rawwebhook/").content.decode()
    page = staff.get(f"/admin/carriers/rawwebhook/{dead.pk}/change/").content.decode()

    assert listing.count("<script>alert") == 0
    assert_escaped(page)


def test_the_pending_event_and_unmapped_code_admin_pages_escape_carrier_text(staff, hostile):
    pending = PendingEvent.objects.get(tracking_number=f"NOSUCH{SCRIPT}")
    pending_page = staff.get(f"/admin/carriers/pendingevent/{pending.pk}/change/").content.decode()
    unmapped = staff.get("/admin/carriers/unmappedcode/").content.decode()

    assert_escaped(pending_page)
    assert_escaped(unmapped)


def test_the_outbox_and_the_notification_admin_escape_carrier_text(staff, hostile):
    notification = Notification.objects.filter(order=hostile.order, event="delayed", channel="email").first()
    assert notification is not None and SCRIPT in notification.body_text  # the reason reached the message
    outbox = staff.get(f"/outbox/?order={hostile.order.number}").content.decode()
    admin_page = staff.get(f"/admin/notifications/notification/{notification.pk}/change/").content.decode()

    assert_escaped(outbox)
    assert_escaped(admin_page)


def test_the_html_email_escapes_carrier_text(hostile):
    notification = Notification.objects.filter(order=hostile.order, event="delayed", channel="email").first()

    assert_escaped(notification.body_html)
