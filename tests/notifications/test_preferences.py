"""Consent, quiet hours in the customer's time zone, the preferences page and one-click unsubscribe."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Event, Notification
from notifications.preferences import preferences_for, quiet_hours_end
from orders import services as order_services
from orders.models import Customer
from tests.factories import make_order
from tests.notifications.conftest import consent_all
from tests.notifications.helpers import messages, scan

pytestmark = pytest.mark.django_db
S = Notification.Status
NY = zoneinfo.ZoneInfo("America/New_York")


def at_local(y, m, d, hh, mm=0, zone=NY) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def prefs_with_quiet_hours(start="21:00", end="08:00"):
    order = make_order()
    prefs = preferences_for(order.customer)
    prefs.quiet_start, prefs.quiet_end = time.fromisoformat(start), time.fromisoformat(end)
    prefs.save()
    return prefs


def test_quiet_hours_end_the_next_morning_in_the_customers_zone():
    prefs = prefs_with_quiet_hours()
    assert quiet_hours_end(prefs, NY, at_local(2026, 6, 10, 23, 30)) == at_local(2026, 6, 11, 8)
    assert quiet_hours_end(prefs, NY, at_local(2026, 6, 11, 6, 0)) == at_local(2026, 6, 11, 8)


def test_outside_quiet_hours_nothing_waits():
    prefs = prefs_with_quiet_hours()
    assert quiet_hours_end(prefs, NY, at_local(2026, 6, 10, 12, 0)) is None


def test_quiet_hours_across_the_dst_change_end_at_local_eight():
    prefs = prefs_with_quiet_hours()
    # The night clocks spring forward in New York (2026-03-08): 8:00 EDT is 12:00 UTC, not 13:00.
    wake = quiet_hours_end(prefs, NY, at_local(2026, 3, 7, 22, 0))
    assert wake.astimezone(zoneinfo.ZoneInfo("UTC")).hour == 12


def test_a_wake_up_time_that_dst_skips_is_moved_past_the_gap():
    prefs = prefs_with_quiet_hours(start="22:00", end="02:30")
    wake = quiet_hours_end(prefs, NY, at_local(2026, 3, 7, 23, 0))
    assert wake.astimezone(NY).hour == 3  # 02:30 does not exist that night


def _dispatch_at(local_time: datetime, django_capture_on_commit_callbacks):
    order = make_order(inventory_allocated=True)
    consent_all(order.customer)
    Customer.objects.filter(pk=order.customer_id).update(time_zone="America/New_York")
    order_services.order_transition(order=order, transition="confirm", source="api")
    order_services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    with (
        mock.patch("django.utils.timezone.now", return_value=local_time),
        django_capture_on_commit_callbacks(execute=True),
    ):
        order_services.order_transition(order=order, transition="dispatch", source="api")
    return order


def test_a_non_urgent_sms_at_night_is_scheduled_for_the_morning_not_dropped(django_capture_on_commit_callbacks):
    order = _dispatch_at(at_local(2026, 6, 10, 23, 30), django_capture_on_commit_callbacks)
    sms = messages(order, event=Event.ORDER_DISPATCHED, channel="sms")[0]
    assert (sms.status, sms.status_reason, sms.due_at) == (S.SCHEDULED, "quiet_hours", at_local(2026, 6, 11, 8))
    email = messages(order, event=Event.ORDER_DISPATCHED, channel="email")[0]
    assert email.status == S.SENT  # email waits in the inbox: no quiet hours


def test_the_sweeper_sends_the_night_message_in_the_morning(django_capture_on_commit_callbacks):
    order = _dispatch_at(at_local(2026, 6, 10, 23, 30), django_capture_on_commit_callbacks)
    sms = messages(order, event=Event.ORDER_DISPATCHED, channel="sms")[0]
    morning = at_local(2026, 6, 11, 8, 1)
    with mock.patch("django.utils.timezone.now", return_value=morning):
        services.notifications_sweep()
    sms.refresh_from_db()
    assert sms.status == S.SENT


def test_urgent_messages_ignore_quiet_hours(django_capture_on_commit_callbacks):
    order = _dispatch_at(at_local(2026, 6, 10, 23, 30), django_capture_on_commit_callbacks)
    shipment = order.shipments.get()
    late = at_local(2026, 6, 10, 23, 45)
    with mock.patch("django.utils.timezone.now", return_value=late), django_capture_on_commit_callbacks(execute=True):
        scan(shipment, "attempt_failed", reason="nobody home")
    sms = messages(order, event=Event.DELIVERY_FAILED, channel="sms")[0]
    assert sms.status == S.SENT


def test_the_preferences_page_shows_and_saves_the_customers_choices(client):
    order = make_order()
    prefs = preferences_for(order.customer)
    page = client.get(f"/preferences/{prefs.token}/")
    assert page.status_code == 200 and b"ada@example.com" in page.content
    saved = client.post(
        f"/preferences/{prefs.token}/",
        {"sms": "on", "quiet_hours_enabled": "on", "quiet_start": "22:00", "quiet_end": "07:30"},
    )
    assert saved.status_code == 200 and b"saved" in saved.content
    prefs.refresh_from_db()
    customer = Customer.objects.get(pk=order.customer_id)
    assert prefs.email_opted_out is True and prefs.sms_opted_out is False and customer.consent_sms is True
    assert prefs.quiet_end == time(7, 30)


def test_an_unknown_preferences_token_is_a_404(client):
    assert client.get("/preferences/not-a-token/").status_code == 404


def test_one_click_unsubscribe_opts_the_customer_out_of_email(client):
    order = make_order()
    prefs = preferences_for(order.customer)
    response = client.post(
        f"/preferences/{prefs.token}/unsubscribe/?channel=email",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    prefs.refresh_from_db()
    assert prefs.email_opted_out is True


def test_opting_out_of_email_suppresses_the_next_email():
    order = make_order(inventory_allocated=True)
    prefs = preferences_for(order.customer)
    prefs.email_opted_out = True
    prefs.save()
    order_services.order_transition(order=order, transition="confirm", source="api")
    email = messages(order, event=Event.ORDER_CONFIRMED, channel="email")[0]
    assert (email.status, email.status_reason) == (S.SUPPRESSED, "opted_out")
    assert timezone.now() - email.created_at < timedelta(minutes=1)


def test_the_sweep_command_sends_what_is_due(django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command

    order = _dispatch_at(at_local(2026, 6, 10, 23, 30), django_capture_on_commit_callbacks)
    out = StringIO()
    with mock.patch("django.utils.timezone.now", return_value=at_local(2026, 6, 11, 9, 0)):
        call_command("notifications_sweep", stdout=out)
    assert "enqueued: " in out.getvalue()
    assert messages(order, event=Event.ORDER_DISPATCHED, channel="sms")[0].status == S.SENT
