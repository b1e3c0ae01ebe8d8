"""The endpoint's edges: size, garbage, unknown carriers, queueing, OpenAPI."""

from __future__ import annotations

import json

import pytest

from carriers import tasks
from carriers.models import RawWebhook
from tests.carriers.conftest import generic_body, signed_headers

pytestmark = pytest.mark.django_db

ONE_MIB = 1024 * 1024


def _big_generic(size: int) -> bytes:
    body = generic_body({"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
    padding = size - len(body) - len(',"pad":""')
    return body[:-1] + b',"pad":"' + b"x" * padding + b'"}'


def test_it_refuses_a_body_over_one_mib_with_413(post):
    body = _big_generic(ONE_MIB + 1)
    response = post("generic", body, signed_headers("generic", body))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert not RawWebhook.objects.exists()


def test_it_accepts_a_body_of_exactly_one_mib(post):
    body = _big_generic(ONE_MIB)
    assert len(body) == ONE_MIB
    assert post("generic", body, signed_headers("generic", body)).status_code in (200, 202)


def test_it_checks_the_actual_length_when_the_declared_one_lies(rf, settings):
    from carriers.views import CarrierWebhookView

    body = _big_generic(ONE_MIB + 10)
    request = rf.post("/webhooks/carriers/generic/", data=body, content_type="application/json")
    request.META["CONTENT_LENGTH"] = "100"
    request._body = body  # what a proxy that rewrote Content-Length would leave us
    response = CarrierWebhookView.as_view()(request, carrier="generic")
    assert response.status_code == 413


def test_it_answers_400_and_keeps_a_dead_letter_for_garbage(post):
    body = b'{"events": "not a list"}'
    response = post("generic", body, signed_headers("generic", body))
    assert response.status_code == 400
    assert response.json()["error"] == "unparseable"
    raw = RawWebhook.objects.get()
    assert (raw.status, bytes(raw.body)) == (RawWebhook.Status.FAILED, body)
    assert "parse error" in raw.error


def test_it_answers_400_for_a_body_that_is_not_json(post):
    body = b"\x00\x01 not json"
    response = post("fedex", body, signed_headers("fedex", body))
    assert response.status_code == 400
    assert RawWebhook.objects.get().status == RawWebhook.Status.FAILED


def test_it_answers_404_for_an_unknown_carrier(post):
    response = post("pigeon", b"{}", {})
    assert response.status_code == 404
    assert response.json() == {"error": "unknown_carrier", "detail": "No adapter for 'pigeon'."}


def test_it_refuses_get(client):
    assert client.get("/webhooks/carriers/generic/").status_code == 405


def test_it_needs_no_csrf_token_or_session(post, client):
    client.handler.enforce_csrf_checks = True
    body = generic_body({"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
    assert post("generic", body, signed_headers("generic", body)).status_code in (200, 202)


def test_it_acknowledges_202_and_queues_when_processing_is_not_inline(post, settings, monkeypatch):
    settings.CARRIER_PROCESS_INLINE = False
    queued = []
    monkeypatch.setattr(tasks.process_raw_webhook, "delay", lambda raw_id: queued.append(raw_id))
    body = generic_body({"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
    response = post("generic", body, signed_headers("generic", body))
    assert response.status_code == 202
    raw = RawWebhook.objects.get()
    assert queued == [raw.pk]
    assert raw.status == RawWebhook.Status.RECEIVED


def test_a_broker_outage_still_acknowledges_the_stored_webhook(post, settings, monkeypatch):
    settings.CARRIER_PROCESS_INLINE = False

    def down(raw_id):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.process_raw_webhook, "delay", down)
    body = generic_body({"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
    assert post("generic", body, signed_headers("generic", body)).status_code == 202
    assert RawWebhook.objects.get().status == RawWebhook.Status.RECEIVED  # for the sweeper


def test_the_queued_task_processes_the_stored_webhook():
    from carriers import services
    from tests.carriers.conftest import make_shipment

    shipment = make_shipment(carrier="acme", tracking_number="G1")
    body = generic_body({"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
    raw = services.raw_webhook_store(carrier="generic", body=body, headers={})
    assert tasks.process_raw_webhook.delay(raw.pk).get() == "processed"
    assert shipment.events.count() == 1


def test_the_openapi_schema_documents_the_generic_format(admin_client):
    response = admin_client.get("/api/schema/", {"format": "json"})
    schema = json.loads(response.content)
    assert "/webhooks/carriers/{carrier}/" in schema["paths"]
    event = schema["components"]["schemas"]["GenericEvent"]
    assert set(event["required"]) == {"tracking_number", "status", "occurred_at"}
