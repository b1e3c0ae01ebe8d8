"""Writes made from the tracking page: visits, lookups, delivery wishes and feedback.

Each change a customer makes is recorded on the order, audited (DeliveryRequest) and published as a
domain event in the same transaction, so notifications and integrations can pass it on.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from orders import events
from orders.models import Order, Shipment
from orders.statuses import ShipmentStatus
from orders.tracking.models import (
    DeliveryFeedback,
    DeliveryPreference,
    DeliveryRequest,
    TrackingSettings,
    TrackingVisit,
)
from orders.tracking.selectors import DELIVERED_ORDER_STATUSES, self_service_open, settings_for

DELIVERY_INSTRUCTIONS_CHANGED = "delivery.instructions_changed"
DELIVERY_RESCHEDULED = "delivery.rescheduled"
FEEDBACK_RECEIVED = "delivery.feedback_received"
LOW_SCORE = 2


class SelfServiceClosed(Exception):
    """The parcel is on its last leg (or the brand turned self-service off)."""


class FeedbackLocked(Exception):
    """Feedback is not open: not delivered yet, or the week to change it has passed."""


# --- visits and lookups -----------------------------------------------------------------------


def tracking_visit_record(
    *, order: Order, exception: bool, via: str = TrackingVisit.Via.LINK, language: str = ""
) -> TrackingVisit:
    """`exception` is what the page showed (the snapshot knows it already: no extra query)."""
    return TrackingVisit.objects.create(
        order=order, order_status=order.status, exception=exception, via=via, language=language[:5]
    )


def _lookup_key(client: str) -> str:
    return "tracking:lookup:" + hashlib.sha256(client.encode()).hexdigest()[:32]


def lookup_allowed(*, client: str) -> bool:
    """Count one attempt for this client; False once the window's budget is spent."""
    key = _lookup_key(client)
    window = settings.TRACKING_LOOKUP_WINDOW_SECONDS
    if cache.add(key, 1, timeout=window):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
    return count <= settings.TRACKING_LOOKUP_LIMIT


def _normal_postcode(value: str) -> str:
    return "".join(value.split()).upper()


def order_lookup(*, number: str, email_or_postcode: str) -> Order | None:
    """The order when the pair matches; None for every kind of mismatch (no hint which part was wrong)."""
    number = number.strip().upper()
    secret = email_or_postcode.strip()
    if not number or not secret or len(number) > 32 or len(secret) > 254:
        return None
    order = Order.objects.select_related("customer").filter(number=number).first()
    if order is None:
        # Compare anyway so a wrong number and a wrong secret take about as long.
        hmac.compare_digest(secret.lower(), "x" * len(secret))
        return None
    email_ok = hmac.compare_digest(secret.lower().encode(), order.customer.email.strip().lower().encode())
    postcode_ok = bool(order.ship_postcode) and hmac.compare_digest(
        _normal_postcode(secret).encode(), _normal_postcode(order.ship_postcode).encode()
    )
    return order if (email_ok or postcode_ok) else None


# --- delivery wishes --------------------------------------------------------------------------


def reschedule_options(*, tracking: TrackingSettings, today: date) -> list[date]:
    days = []
    candidate = today
    while len(days) < tracking.reschedule_days_ahead:
        candidate += timedelta(days=1)
        if tracking.reschedule_weekends or candidate.weekday() < 5:
            days.append(candidate)
    return days


def _locked_open_order(order: Order) -> tuple[Order, DeliveryPreference]:
    order = Order.objects.select_for_update().select_related("brand").get(pk=order.pk)
    shipments = list(Shipment.objects.filter(order=order).exclude(status=ShipmentStatus.CANCELLED))
    if not self_service_open(order, shipments, settings_for(order)):
        raise SelfServiceClosed(order.status)
    preference, _ = DeliveryPreference.objects.get_or_create(order=order)
    return order, preference


def _snapshot(preference: DeliveryPreference) -> dict:
    return {
        "safe_place": preference.safe_place,
        "instructions": preference.instructions,
        "date": preference.reschedule_date.isoformat() if preference.reschedule_date else "",
        "window": preference.reschedule_window,
    }


def _record(order: Order, preference: DeliveryPreference, *, kind: str, before: dict, name: str, client_ip):
    after = _snapshot(preference)
    request = DeliveryRequest.objects.create(
        order=order, kind=kind, before=before, after=after, order_status=order.status, client_ip=client_ip or None
    )
    events.publish(
        name=name,
        order=order,
        payload={
            "request_id": request.pk,
            "before": before,
            "after": after,
            "shipments": list(order.shipments.values_list("carrier", "tracking_number")),
        },
    )
    return request


def delivery_instructions_set(
    *, order: Order, safe_place: str, instructions: str, client_ip: str | None = None
) -> DeliveryPreference:
    with transaction.atomic():
        order, preference = _locked_open_order(order)
        allowed = settings_for(order).allowed_safe_places
        if safe_place and safe_place not in allowed:
            raise ValidationError({"safe_place": "This safe place is not offered."})
        before = _snapshot(preference)
        preference.safe_place = safe_place
        preference.instructions = instructions.strip()[:300]
        preference.save()
        _record(
            order,
            preference,
            kind=DeliveryRequest.Kind.INSTRUCTIONS,
            before=before,
            name=DELIVERY_INSTRUCTIONS_CHANGED,
            client_ip=client_ip,
        )
    return preference


def delivery_reschedule(
    *, order: Order, day: date, window: str, today: date, client_ip: str | None = None
) -> DeliveryPreference:
    """`today` is the customer's calendar day: the offered days count from it."""
    with transaction.atomic():
        order, preference = _locked_open_order(order)
        tracking = settings_for(order)
        if day not in reschedule_options(tracking=tracking, today=today):
            raise ValidationError({"day": "This day is not offered."})
        if window not in tracking.allowed_windows:
            raise ValidationError({"window": "This time window is not offered."})
        before = _snapshot(preference)
        preference.reschedule_date = day
        preference.reschedule_window = window
        preference.save()
        _record(
            order,
            preference,
            kind=DeliveryRequest.Kind.RESCHEDULE,
            before=before,
            name=DELIVERY_RESCHEDULED,
            client_ip=client_ip,
        )
    return preference


# --- feedback ---------------------------------------------------------------------------------


def feedback_edit_until(feedback: DeliveryFeedback) -> datetime:
    return feedback.created_at + timedelta(days=settings.TRACKING_FEEDBACK_EDIT_DAYS)


def feedback_open(*, order: Order, feedback: DeliveryFeedback | None, now: datetime | None = None) -> bool:
    if order.status not in DELIVERED_ORDER_STATUSES:
        return False
    return feedback is None or (now or timezone.now()) < feedback_edit_until(feedback)


def feedback_submit(
    *, order: Order, received: bool, score: int | None, comment: str = "", language: str = "", now=None
) -> DeliveryFeedback:
    """Create or change the order's one response; a low score or "not received" flags it for support."""
    if score is not None and not 1 <= score <= 5:
        raise ValidationError({"score": "Choose a score from 1 to 5."})
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        feedback = DeliveryFeedback.objects.filter(order=order).first()
        if not feedback_open(order=order, feedback=feedback, now=now):
            raise FeedbackLocked(order.status)
        shipment = (
            Shipment.objects.filter(order=order, status=ShipmentStatus.DELIVERED).order_by("-delivered_at").first()
        )
        route = ""
        if shipment is not None:
            origin = shipment.events.exclude(city="").order_by("occurred_at").values_list("city", flat=True).first()
            route = f"{origin} → {order.ship_city}" if origin else ""
        flagged = (not received) or (score is not None and score <= LOW_SCORE)
        fields = {
            "shipment": shipment,
            "received": received,
            "score": score,
            "comment": comment.strip()[:2000],
            "carrier": shipment.carrier if shipment else "",
            "service_level": shipment.service_level if shipment else "",
            "route": route[:200],
            "language": language[:5],
        }
        created = feedback is None
        if created:
            feedback = DeliveryFeedback.objects.create(order=order, needs_support=flagged, **fields)
        else:
            for name, value in fields.items():
                setattr(feedback, name, value)
            # A new low answer re-opens the item; a better answer never closes what support opened.
            if flagged:
                feedback.needs_support = True
                feedback.support_resolved_at = None
            feedback.save()
        events.publish(
            name=FEEDBACK_RECEIVED,
            order=order,
            shipment=shipment,
            payload={
                "feedback_id": feedback.pk,
                "received": received,
                "score": score,
                "needs_support": feedback.needs_support,
                "created": created,
            },
        )
    return feedback


def feedback_resolve(*, feedback: DeliveryFeedback, note: str = "") -> DeliveryFeedback:
    with transaction.atomic():
        feedback = DeliveryFeedback.objects.select_for_update().get(pk=feedback.pk)
        feedback.needs_support = False
        feedback.support_resolved_at = timezone.now()
        feedback.support_note = note[:500]
        feedback.save()
    return feedback
