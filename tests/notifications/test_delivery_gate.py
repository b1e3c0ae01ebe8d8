"""The delivery confirmation waits for the proof-of-delivery verdict ("shipment.delivery_verified")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import services
from notifications.models import BrandNotificationSettings, Event, Notification
from orders import events
from orders import services as order_services
from tests.factories import BrandFactory, supervisor_user
from tests.notifications.helpers import messages, reachable_everywhere, scan, shipped_order

pytestmark = pytest.mark.django_db
S = Notification.Status


def delivered(django_capture_on_commit_callbacks, brand=None):
    order, shipment = shipped_order(brand=brand)
    reachable_everywhere(order.customer)
    with django_capture_on_commit_callbacks(execute=True):
        scan(shipment, "delivered", signed_by="J. Smith", photo_ref="pod/photo-1.jpg")
    return order, shipment


def verdict(django_capture_on_commit_callbacks, order, shipment, **payload):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events.publish(name="shipment.delivery_verified", order=order, shipment=shipment, payload=payload)


def confirmation(order, channel="email") -> Notification:
    return messages(order, event=Event.DELIVERED, channel=channel, audience="customer")[0]


def test_the_confirmation_waits_for_the_proof_of_delivery_verdict(django_capture_on_commit_callbacks):
    order, _ = delivered(django_capture_on_commit_callbacks)
    email = confirmation(order)
    assert (email.status, email.status_reason) == (S.HELD, "awaiting_pod")


def test_a_verified_delivery_sends_the_confirmation_with_its_proof(django_capture_on_commit_callbacks):
    order, shipment = delivered(django_capture_on_commit_callbacks)
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=True, failed_checks=[])
    email = confirmation(order)
    assert email.status == S.SENT and email.variant == ""
    assert email.proof["signed_by"] == "J. Smith" and email.proof["photo_ref"] == "pod/photo-1.jpg"
    assert "signed for by J. Smith" in email.body_text


def test_an_unverified_delivery_is_sent_with_we_are_checking_wording_by_default(django_capture_on_commit_callbacks):
    order, shipment = delivered(django_capture_on_commit_callbacks)
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=False, failed_checks=["gps_out_of_range"])
    sms = confirmation(order, "sms")
    assert sms.status == S.SENT and sms.variant == "checking"
    assert "checking the proof of delivery" in sms.body_text
    staff = messages(order, event=Event.DELIVERY_UNVERIFIED, channel="email")  # staff chat too (issue 6)
    assert [n.audience for n in staff] == ["staff"] and "gps_out_of_range" in staff[0].body_text


def test_a_brand_that_holds_unverified_deliveries_keeps_the_confirmation_for_staff(django_capture_on_commit_callbacks):
    brand = BrandFactory()
    BrandNotificationSettings.objects.create(brand=brand, unverified_delivery="hold")
    order, shipment = delivered(django_capture_on_commit_callbacks, brand=brand)
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=False, failed_checks=["signature_missing"])
    email = confirmation(order)
    assert (email.status, email.status_reason) == (S.HELD, "pod_unverified")


def test_staff_accepting_the_delivery_releases_the_held_confirmation(django_capture_on_commit_callbacks):
    brand = BrandFactory()
    BrandNotificationSettings.objects.create(brand=brand, unverified_delivery="hold")
    order, shipment = delivered(django_capture_on_commit_callbacks, brand=brand)
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=False, failed_checks=["signature_missing"])
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=True, staff_decision="accepted")
    assert confirmation(order).status == S.SENT


def test_staff_rejecting_the_delivery_suppresses_the_confirmation(django_capture_on_commit_callbacks):
    brand = BrandFactory()
    BrandNotificationSettings.objects.create(brand=brand, unverified_delivery="hold")
    order, shipment = delivered(django_capture_on_commit_callbacks, brand=brand)
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=False, failed_checks=["gps_missing"])
    verdict(django_capture_on_commit_callbacks, order, shipment, verified=False, staff_decision="rejected")
    assert (confirmation(order).status, confirmation(order).status_reason) == (S.SUPPRESSED, "pod_rejected")


def test_without_a_verdict_the_sweeper_applies_the_unverified_policy_after_the_wait(
    django_capture_on_commit_callbacks, settings
):
    order, _ = delivered(django_capture_on_commit_callbacks)
    later = timezone.now() + timedelta(seconds=settings.NOTIFY_POD_WAIT_SECONDS + 1)
    Notification.objects.filter(order=order, status=S.HELD).update(due_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        result = services.notifications_sweep(now=later)
    assert result["pod_timeouts"] >= 1
    email = confirmation(order)
    assert email.status == S.SENT and email.variant == "checking"
    assert email.proof["failed_checks"] == ["no_verdict"]


def test_a_staff_override_to_delivered_is_not_gated(django_capture_on_commit_callbacks):
    order, _ = shipped_order()
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_override_status(
            order=order, status="delivered", reason="customer confirmed by phone", notify=True, actor=supervisor_user()
        )
    assert confirmation(order).status == S.SENT


def test_the_real_carrier_check_publishes_the_verdict_the_gate_listens_to(django_capture_on_commit_callbacks):
    from carriers import pod

    order, shipment = delivered(django_capture_on_commit_callbacks)
    row = shipment.events.get(status="delivered")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        pod.delivery_verify(shipment=shipment, shipment_event=row, received_at=row.occurred_at)
    assert confirmation(order).status == S.SENT


def test_an_old_delivered_scan_without_a_verdict_is_not_held_at_all(django_capture_on_commit_callbacks, settings):
    from orders.tracking import TrackingEvent

    settings.NOTIFY_POD_WAIT_SECONDS = 60
    order, shipment = shipped_order()
    reachable_everywhere(order.customer)
    old = TrackingEvent(
        carrier="ups",
        tracking_number=shipment.tracking_number,
        status="delivered",
        occurred_at=timezone.now() - timedelta(minutes=2),  # reported later than the wait
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_services.shipment_apply_event(shipment=shipment, event=old)
    email = confirmation(order)
    assert email.status == S.SENT and email.variant == "checking"
