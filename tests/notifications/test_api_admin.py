"""The notifications API contract, the admin log and resend, the outbox page and start-up checks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core import checks
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from notifications.models import Event, Notification
from tests.factories import UserFactory, support_user
from tests.notifications.helpers import dispatched_order, messages

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def reader():
    user = UserFactory(is_staff=False)
    user.user_permissions.add(
        Permission.objects.get(codename="view_order"), Permission.objects.get(codename="view_notification")
    )
    return user


def test_the_api_lists_an_orders_notifications_with_masked_recipients(django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    response = api_for(reader()).get(f"/api/v1/orders/{order.number}/notifications/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == Notification.objects.filter(order=order).count()
    email = next(r for r in body["results"] if r["channel"] == "email" and r["event"] == "order_dispatched")
    assert set(email) >= {"event", "audience", "channel", "provider", "status", "attempts", "recipient", "created_at"}
    assert email["recipient"] == "a•••@example.com"
    assert (email["provider"], email["status"], email["attempts"]) == ("outbox", "sent", 1)
    sms = next(r for r in body["results"] if r["channel"] == "sms" and r["event"] == "order_dispatched")
    assert sms["recipient"] == "+1••••••••23"


def test_the_api_needs_the_view_permissions():
    from tests.factories import make_order

    order = make_order()
    assert api_for(UserFactory(is_staff=False)).get(f"/api/v1/orders/{order.number}/notifications/").status_code == 403
    assert APIClient().get(f"/api/v1/orders/{order.number}/notifications/").status_code in (401, 403)


def test_an_unknown_order_is_a_404():
    assert api_for(reader()).get("/api/v1/orders/NOPE-1/notifications/").status_code == 404


def test_the_admin_shows_the_log_on_the_order_and_the_rendered_message(client, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    admin = UserFactory(is_superuser=True)
    client.force_login(admin)
    page = client.get(f"/admin/orders/order/{order.pk}/change/")
    assert page.status_code == 200 and b"order_dispatched" in page.content
    email = messages(order, event=Event.ORDER_DISPATCHED, channel="email")[0]
    detail = client.get(f"/admin/notifications/notification/{email.pk}/change/")
    assert detail.status_code == 200 and b"is on its way" in detail.content
    listing = client.get("/admin/notifications/notification/?status__exact=sent&dead=yes")
    assert listing.status_code == 200


def test_the_admin_resend_action_queues_a_copy(client, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = messages(order, event=Event.ORDER_DISPATCHED, channel="email")[0]
    client.force_login(UserFactory(is_superuser=True))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/notifications/notification/", {"action": "resend", "_selected_action": [email.pk]}, follow=True
        )
    copy = Notification.objects.get(resend_of=email)
    assert copy.status == Notification.Status.SENT


def test_the_outbox_page_shows_every_message_to_staff_only(client, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    assert client.get("/outbox/").status_code == 302  # to the login page
    client.force_login(support_user())
    page = client.get(f"/outbox/?order={order.number}")
    assert page.status_code == 200
    assert b"is on its way" in page.content and b"segment" in page.content


def test_manage_check_reports_each_channel_without_a_provider():
    ids = {m.id for m in checks.run_checks() if m.id.startswith("notifications.")}
    assert ids == {"notifications.W001", "notifications.W002", "notifications.W003", "notifications.W004"}


def test_manage_check_is_quiet_about_configured_providers(settings):
    settings.SENDGRID_API_KEY = "SG.x"
    settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = "key"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC1", "t"
    settings.TWILIO_FROM_NUMBER, settings.TWILIO_WHATSAPP_FROM = "+15017122661", "+14155238886"
    settings.ONESIGNAL_APP_ID, settings.ONESIGNAL_API_KEY = "app", "key"
    assert not [m for m in checks.run_checks() if m.id.startswith("notifications.")]


def test_the_outbox_shows_a_superseded_message_with_its_content(client, django_capture_on_commit_callbacks):
    from tests.notifications.helpers import scan

    order = dispatched_order(django_capture_on_commit_callbacks)
    shipment = order.shipments.get()
    with django_capture_on_commit_callbacks(execute=True):
        # One transaction, as a batch import would: the out-for-delivery message is already moot at commit.
        from django.db import transaction

        with transaction.atomic():
            scan(shipment, "out_for_delivery")
            scan(shipment, "delivered")
    email = messages(order, event=Event.OUT_FOR_DELIVERY, channel="email")[0]
    assert email.status == Notification.Status.SUPPRESSED and "out for delivery" in email.body_text
    client.force_login(support_user())
    assert b"superseded: order is delivered" in client.get(f"/outbox/?order={order.number}").content


def _granted(make):
    """A staff user whose group got the notifications grants (post_migrate; a flushed test DB lost them)."""
    from django.contrib.auth import get_user_model

    from notifications.groups import grant_notification_permissions

    user = make()
    grant_notification_permissions()
    return get_user_model().objects.get(pk=user.pk)


def test_support_staff_see_the_log_and_may_resend_but_not_edit_rules(client, django_capture_on_commit_callbacks):
    user = _granted(support_user)
    assert user.has_perm("notifications.change_notification")
    assert not user.has_perm("notifications.change_notificationrule")
    order = dispatched_order(django_capture_on_commit_callbacks)
    client.force_login(user)
    page = client.get(f"/admin/orders/order/{order.pk}/change/")
    assert b"order_dispatched" in page.content
    assert client.get("/admin/notifications/notificationrule/add/").status_code == 403


def test_supervisors_may_edit_the_rules():
    from tests.factories import supervisor_user

    assert _granted(supervisor_user).has_perm("notifications.change_notificationrule")
