"""Rendering: three languages, both buyer segments, brand overrides, Babel formats, GSM-7 and segments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from notifications import sms
from notifications.models import BrandNotificationSettings, Event, Notification, TemplateOverride
from notifications.preferences import preferences_for
from notifications.rendering import render_notification
from orders.models import Customer, Order, Shipment
from tests.factories import BrandFactory, make_order

pytestmark = pytest.mark.django_db


def draft(event: str, channel: str = "email", *, locale: str = "en", repeat: bool = False, brand=None, **fields):
    order = make_order(brand=brand, promised_to=date(2026, 12, 24))
    Customer.objects.filter(pk=order.customer_id).update(
        locale=locale, time_zone="Europe/Paris", orders_count=2 if repeat else 1
    )
    Order.objects.filter(pk=order.pk).update(total=Decimal("1234.50"))
    order = Order.objects.select_related("customer", "brand").get(pk=order.pk)
    return Notification(
        order=order, customer=order.customer, event=event, audience="customer", channel=channel, locale=locale, **fields
    )


@pytest.mark.parametrize(
    ("locale", "subject", "money", "when"),
    [
        ("en", "Default: we've got your order", "$1,234.50", "December 24, 2026"),
        ("es", "Default: hemos recibido tu pedido", "1.234,50\xa0US$", "24 de diciembre de 2026"),
        ("fr", "Default : nous avons bien reçu votre commande", "1\u202f234,50\xa0$US", "24 décembre 2026"),
    ],
)
def test_it_renders_the_confirmation_in_the_customers_language_with_local_formats(locale, subject, money, when):
    out = render_notification(draft(Event.ORDER_CONFIRMED, locale=locale))
    assert out.subject.startswith(subject)
    assert money in out.text
    assert when in out.text


def test_a_regional_locale_uses_its_language_and_its_own_formats():
    out = render_notification(draft(Event.ORDER_CONFIRMED, locale="fr-CA"))
    assert "Total : 1\xa0234,50\xa0$\xa0US" in out.text


def test_first_time_and_repeat_buyers_read_different_copy():
    first = render_notification(draft(Event.ORDER_CONFIRMED))
    again = render_notification(draft(Event.ORDER_CONFIRMED, repeat=True))
    assert "first order" in first.text and "again" not in first.text
    assert "shopping with us again" in again.text


def test_a_customer_attribute_is_highlighted():
    n = draft(Event.ORDER_CONFIRMED)
    prefs = preferences_for(n.order.customer)
    prefs.attributes = {"eco_packaging": True}
    prefs.save()
    assert "eco packaging" in render_notification(n).text


def test_the_email_has_html_in_the_brand_colours_with_the_tracking_link():
    brand = BrandFactory(primary_colour="#112233")
    out = render_notification(draft(Event.ORDER_CONFIRMED, brand=brand))
    assert "#112233" in out.html
    assert "https://track.example.test/t/" in out.html
    assert "/preferences/" in out.html


def test_a_brand_override_replaces_one_part_and_keeps_the_context():
    brand = BrandFactory()
    content = "Yo {{ first_name }}, {{ order.number }}!"
    TemplateOverride.objects.create(
        brand=brand, event=Event.ORDER_CONFIRMED, locale="en", part="subject", content=content
    )
    n = draft(Event.ORDER_CONFIRMED, brand=brand)
    out = render_notification(n)
    assert out.subject == f"Yo Ada, {n.order.number}!"
    assert "is confirmed" in out.text


def test_a_formal_brand_addresses_the_customer_by_full_name():
    brand = BrandFactory()
    BrandNotificationSettings.objects.create(brand=brand, tone="formal")
    assert render_notification(draft(Event.ORDER_CONFIRMED, brand=brand)).text.startswith("Dear Ada Lovelace,")


def test_the_delivery_confirmation_carries_the_proof_of_delivery():
    n = draft(
        Event.DELIVERED,
        proof={"signed_by": "J. Smith", "photo_ref": "pod/1.jpg", "delivered_at": "2026-11-20T13:05:00+00:00"},
    )
    out = render_notification(n)
    assert "signed for by J. Smith" in out.text
    assert "November 20, 2026, 2:05\u202fPM" in out.text  # Paris time, no seconds


def test_an_unverified_delivery_is_worded_as_being_checked():
    out = render_notification(draft(Event.DELIVERED, "sms", variant="checking"))
    assert "checking the proof of delivery" in out.text


def test_sms_text_is_normalised_to_gsm7_and_counted_in_segments():
    n = draft(Event.DELAYED, "sms")
    shipment = Shipment(order=n.order, carrier="ups", tracking_number="1Z", status_reason="“storm” — roads closed…")
    n.shipment = shipment
    out = render_notification(n)
    assert '"storm" - roads closed...' in out.text
    assert out.sms_encoding == "GSM-7"
    assert out.sms_segments == sms.segments(out.text)[0] == 2


def test_it_counts_long_and_unicode_texts_as_carriers_bill_them():
    assert sms.segments("a" * 160) == (1, "GSM-7")
    assert sms.segments("a" * 161) == (2, "GSM-7")
    assert sms.segments("€" * 80) == (1, "GSM-7")  # extension characters take two septets
    assert sms.segments("€" * 81) == (2, "GSM-7")
    assert sms.segments("ó" * 70) == (1, "UCS-2")
    assert sms.segments("ó" * 71) == (2, "UCS-2")


def test_normalisation_never_changes_letters():
    assert sms.normalise_gsm("Pedido enviado: ¡ya está en camino!\u00a0") == "Pedido enviado: ¡ya está en camino! "


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
@pytest.mark.parametrize("event", [e for e in Event.values if e != Event.DELIVERY_UNVERIFIED])
def test_every_customer_event_renders_every_part_in_every_language(event, locale):
    for channel in ("email", "sms", "push"):
        out = render_notification(draft(event, channel, locale=locale))
        assert out.text.strip() and "{{" not in out.text and "{%" not in out.text
        if channel != "sms":
            assert out.subject.strip()
