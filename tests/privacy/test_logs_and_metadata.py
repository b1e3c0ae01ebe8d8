"""No personal data in logs or in what providers keep about a message (metadata, callbacks)."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from notifications.models import Notification
from orders import services as order_services
from orders.models import Customer
from privacy.logging import RedactPersonalDataFilter
from tests.factories import make_order
from tests.notifications.helpers import dispatched_order, reachable_everywhere

pytestmark = pytest.mark.django_db

PHONE = "+14155550123"  # the number tests.factories.make_order gives every customer


def _formatted(record: logging.LogRecord) -> str:
    RedactPersonalDataFilter().filter(record)
    return JsonFormatter("%(message)s").format(record)


def test_the_log_filter_masks_emails_and_phone_numbers_in_the_message_and_extras():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "could not reach %s", ("ada@example.com",), None)
    record.error = f"The 'To' number {PHONE} is not valid"
    record.notification = 42

    line = json.loads(_formatted(record))

    assert line["message"] == "could not reach [redacted]"
    assert line["error"] == "The 'To' number [redacted] is not valid"
    assert line["notification"] == 42


def test_the_log_filter_masks_a_traceback_quoting_an_address():
    try:
        raise ValueError("no mailbox ada@example.com")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    text = _formatted(record)

    assert "ada@example.com" not in text
    assert "ValueError: no mailbox [redacted]" in text


def test_order_numbers_and_ids_are_left_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "order moved", None, None)
    record.order = "ORD-000123"
    record.tracking_id = "OMS23456789ABCDEFGH"

    line = json.loads(_formatted(record))

    assert (line["order"], line["tracking_id"]) == ("ORD-000123", "OMS23456789ABCDEFGH")


def test_every_configured_log_handler_runs_the_filter():
    handlers = settings.LOGGING["handlers"]

    assert handlers
    assert all("redact_personal" in h.get("filters", []) for h in handlers.values())
    root = logging.getLogger()
    assert any(isinstance(f, RedactPersonalDataFilter) for h in root.handlers for f in h.filters)


def test_a_providers_refusal_quoting_the_number_is_logged_without_it(
    twilio, caplog, django_capture_on_commit_callbacks
):
    order = make_order(inventory_allocated=True, email="bad@example.com")
    Customer.objects.filter(pk=order.customer_id).update(phone="+1555")
    reachable_everywhere(order.customer)
    order_services.order_transition(order=order, transition="confirm", source="api")
    order_services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    with caplog.at_level(logging.WARNING, logger="notifications"), django_capture_on_commit_callbacks(execute=True):
        order_services.order_transition(order=order, transition="dispatch", source="api")

    failures = [r for r in caplog.records if getattr(r, "code", "") == "21211"]
    assert failures, "the provider's refusal should be logged"
    assert all("+1555" not in _formatted(r) for r in failures)
    # The refusal itself, which quotes the number, stays on the row for staff.
    assert "+1555" in Notification.objects.get(order=order, channel="sms").error_message


def _personal(order) -> list[str]:
    c = order.customer
    return [c.name, c.email, c.phone, c.first_name, order.ship_line1]


def test_sendgrid_gets_only_the_opaque_message_id_as_metadata(sendgrid, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)

    assert sendgrid.requests
    for request in sendgrid.requests:
        body = dict(request.json)
        # What the provider needs to deliver the message; everything else is metadata it keeps.
        for needed in ("personalizations", "subject", "content", "from", "reply_to"):
            body.pop(needed, None)
        metadata = json.dumps(body)
        assert [v for v in _personal(order) if v and v in metadata] == []
        assert set(request.json.get("custom_args", {})) <= {"notification"}
        assert "categories" not in request.json


def test_twilio_gets_no_personal_data_beyond_the_number_and_the_text(twilio, django_capture_on_commit_callbacks):
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = Notification.objects.filter(order=order, channel="sms").first()

    request = next(r for r in twilio.requests if r.field("To") == PHONE)

    others = {k: v for k, v in request.form.items() if k not in ("To", "Body")}
    assert [v for v in _personal(order) if v and v in json.dumps(others)] == []
    assert request.field("Body") == sms.body_text
