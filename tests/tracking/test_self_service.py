"""Lookup, delivery wishes, feedback and proof images: the rules of each."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notifications.models import Event, Notification
from notifications.services import notification_dispatch
from orders.models import DomainEvent, Shipment
from orders.tracking import services
from orders.tracking.models import DeliveryFeedback, DeliveryPreference, DeliveryRequest, TrackingSettings
from tests.tracking.helpers import order_at

pytestmark = pytest.mark.django_db


# --- lookup ---------------------------------------------------------------------------------


def test_a_lookup_with_number_and_email_opens_the_page(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    response = client.post("/track/", {"number": order.number.lower(), "secret": " ADA@example.com "})
    assert response.status_code == 302
    assert response["Location"].startswith(f"/t/{order.tracking_token}/")


def test_a_lookup_with_number_and_postcode_opens_the_page(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    response = client.post("/track/", {"number": order.number, "secret": "123 45"})
    assert response.status_code == 302


def test_a_wrong_pair_and_an_unknown_number_get_the_same_answer(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    wrong_email = client.post("/track/", {"number": order.number, "secret": "eve@example.com"})
    unknown = client.post("/track/", {"number": "NOPE-000001", "secret": "ada@example.com"})
    assert wrong_email.status_code == unknown.status_code == 404

    def error(body: bytes) -> bytes:
        return re.search(rb'<p class="notice notice--error"[^>]*>(.*?)</p>', body).group(1)

    assert error(wrong_email.content) == error(unknown.content)


def test_lookups_are_rate_limited_per_client(client, make_order, settings):
    settings.TRACKING_LOOKUP_LIMIT = 3
    order = order_at("in_transit", make_order=make_order)
    for _ in range(3):
        assert client.post("/track/", {"number": "X-1", "secret": "a@b.c"}).status_code == 404
    blocked = client.post("/track/", {"number": order.number, "secret": "ada@example.com"})
    assert blocked.status_code == 429
    other_client = client.post("/track/", {"number": order.number, "secret": "ada@example.com"}, REMOTE_ADDR="10.9.8.7")
    assert other_client.status_code == 302


def test_a_visit_after_lookup_is_counted_as_a_lookup(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    response = client.post("/track/", {"number": order.number, "secret": "ada@example.com"}, follow=True)
    assert response.status_code == 200
    assert order.tracking_visits.get().via == "lookup"


# --- delivery wishes ------------------------------------------------------------------------


def test_a_customer_sets_a_safe_place_which_is_audited_and_published(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    response = client.post(
        f"/t/{order.tracking_token}/delivery/",
        {"kind": "instructions", "ins-safe_place": "porch", "ins-instructions": "Behind the <b>plant</b>"},
    )
    assert response.status_code == 302
    preference = DeliveryPreference.objects.get(order=order)
    assert (preference.safe_place, preference.instructions) == ("porch", "Behind the <b>plant</b>")
    request = DeliveryRequest.objects.get(order=order)
    assert request.after["safe_place"] == "porch" and request.order_status == "in_transit"
    event = DomainEvent.objects.get(order=order, name=services.DELIVERY_INSTRUCTIONS_CHANGED)
    assert event.payload["after"]["instructions"] == "Behind the <b>plant</b>"
    page = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert "Behind the &lt;b&gt;plant&lt;/b&gt;" in page


def test_it_refuses_a_safe_place_the_brand_does_not_offer(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    TrackingSettings.objects.create(brand=order.brand, safe_places=["locker"])
    response = client.post(f"/t/{order.tracking_token}/delivery/", {"kind": "instructions", "ins-safe_place": "porch"})
    assert response.status_code == 400
    assert not DeliveryPreference.objects.filter(order=order, safe_place="porch").exists()


def test_a_customer_reschedules_to_an_offered_day_and_window(client, make_order):
    order = order_at("dispatched", make_order=make_order)
    tracking = TrackingSettings.objects.create(brand=order.brand, reschedule_weekends=True)
    today = timezone.localdate()
    day = services.reschedule_options(tracking=tracking, today=today)[1]
    response = client.post(
        f"/t/{order.tracking_token}/delivery/",
        {"kind": "reschedule", "rs-day": day.isoformat(), "rs-window": "12:00-17:00"},
    )
    assert response.status_code == 302
    preference = DeliveryPreference.objects.get(order=order)
    assert (preference.reschedule_date, preference.reschedule_window) == (day, "12:00-17:00")
    assert DomainEvent.objects.filter(order=order, name=services.DELIVERY_RESCHEDULED).exists()


def test_it_refuses_a_day_outside_the_brands_options(make_order):
    order = order_at("dispatched", make_order=make_order)
    today = timezone.localdate()
    with pytest.raises(Exception, match="not offered"):
        services.delivery_reschedule(order=order, day=today + timedelta(days=60), window="08:00-12:00", today=today)


def test_self_service_closes_once_the_parcel_is_out_for_delivery(client, make_order):
    order = order_at("out_for_delivery", make_order=make_order)
    page = client.get(f"/t/{order.tracking_token}/").content.decode()
    assert 'id="instructions-form"' not in page
    response = client.post(f"/t/{order.tracking_token}/delivery/", {"kind": "instructions", "ins-safe_place": "porch"})
    assert response.status_code == 400
    assert not DeliveryRequest.objects.filter(order=order).exists()


# --- feedback -------------------------------------------------------------------------------


def test_feedback_is_refused_before_delivery(client, make_order):
    order = order_at("in_transit", make_order=make_order)
    response = client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "5"})
    assert response.status_code == 409
    assert not DeliveryFeedback.objects.exists()


def test_a_happy_answer_is_linked_to_the_carrier_and_not_flagged(client, make_order):
    order = order_at("delivered", make_order=make_order)
    response = client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "5", "comment": "Fast"})
    assert response.status_code == 302
    feedback = DeliveryFeedback.objects.get(order=order)
    assert (feedback.received, feedback.score, feedback.needs_support) == (True, 5, False)
    assert (feedback.carrier, feedback.service_level) == ("ups", "Ground")
    assert feedback.route == "Louisville → Springfield"


@pytest.mark.parametrize(("received", "score"), [("no", ""), ("yes", "2"), ("yes", "1")])
def test_a_low_score_or_not_received_is_flagged_for_support(client, make_order, received, score):
    order = order_at("delivered", make_order=make_order)
    client.post(f"/t/{order.tracking_token}/feedback/", {"received": received, "score": score})
    assert DeliveryFeedback.objects.get(order=order).needs_support is True


def test_there_is_one_response_per_order_and_it_can_be_changed_within_the_week(client, make_order):
    order = order_at("delivered", make_order=make_order)
    client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "3"})
    client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "4"})
    assert DeliveryFeedback.objects.filter(order=order).count() == 1
    assert DeliveryFeedback.objects.get(order=order).score == 4


def test_feedback_is_locked_after_the_week(client, make_order):
    order = order_at("delivered", make_order=make_order)
    client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "3"})
    DeliveryFeedback.objects.filter(order=order).update(created_at=timezone.now() - timedelta(days=8))
    response = client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "5"})
    assert response.status_code == 409
    assert DeliveryFeedback.objects.get(order=order).score == 3


def test_the_24h_survey_is_not_sent_once_the_customer_answered(client, make_order):
    order = order_at("delivered", make_order=make_order)
    survey = Notification.objects.filter(order=order, event=Event.FEEDBACK_REQUEST).first()
    assert survey is not None
    client.post(f"/t/{order.tracking_token}/feedback/", {"received": "yes", "score": "5"})
    Notification.objects.filter(pk=survey.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert notification_dispatch(notification_id=survey.pk) == Notification.Status.SUPPRESSED


# --- proof of delivery ----------------------------------------------------------------------

PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def test_a_stored_proof_photo_is_served_only_through_the_token(client, make_order, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    order = order_at("delivered", make_order=make_order)
    name = default_storage.save("carriers/pod/ups/photo-test.png", ContentFile(PIXEL))
    shipment = order.shipments.get()
    Shipment.objects.filter(pk=shipment.pk).update(pod_photo_ref=name)
    page = client.get(f"/t/{order.tracking_token}/").content.decode()
    url = f"/t/{order.tracking_token}/proof/{shipment.tracking_id}/photo/"
    assert url in page and "A. L." in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PIXEL
    assert client.get(f"/t/wrong-token/proof/{shipment.tracking_id}/photo/").status_code == 404


def test_a_proof_reference_outside_the_carrier_store_is_never_served(client, make_order):
    order = order_at("delivered", make_order=make_order)
    shipment = order.shipments.get()
    Shipment.objects.filter(pk=shipment.pk).update(pod_photo_ref="../../etc/passwd")
    assert client.get(f"/t/{order.tracking_token}/proof/{shipment.tracking_id}/photo/").status_code == 404


def test_support_sees_flagged_feedback_with_the_delivery_evidence(client, make_order):
    from django.contrib.auth import get_user_model

    order = order_at("delivered", make_order=make_order)
    feedback = services.feedback_submit(order=order, received=False, score=None, comment="Never arrived")
    admin_user = get_user_model().objects.create_superuser("boss", "boss@staff.example", "pw-for-tests-only")
    client.force_login(admin_user)
    listing = client.get("/admin/orders/deliveryfeedback/?needs_support__exact=1").content.decode()
    assert order.number in listing
    detail = client.get(f"/admin/orders/deliveryfeedback/{feedback.pk}/change/").content.decode()
    assert "Delivery evidence" in detail and "A. L." in detail and order.shipments.get().tracking_number in detail


def test_staff_see_the_customers_delivery_wishes_in_the_admin(client, make_order):
    from django.contrib.auth import get_user_model

    order = order_at("in_transit", make_order=make_order)
    services.delivery_instructions_set(order=order, safe_place="locker", instructions="Locker 4")
    client.force_login(get_user_model().objects.create_superuser("boss2", "b2@staff.example", "pw-for-tests-only"))
    listing = client.get("/admin/orders/deliverypreference/").content.decode()
    assert order.number in listing and "Locker 4" in listing
