"""Polling EasyPost `GET /v2/trackers/{id}` against a loopback fake that answers like EasyPost."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from carriers import polling, tasks
from carriers.models import RawWebhook, TrackerPoll
from orders.models import Shipment
from orders.statuses import ShipmentStatus
from tests.carriers.conftest import fixture_bytes, make_shipment

pytestmark = pytest.mark.django_db

API_KEY = "EZTK_test_key"
TRACKER = json.loads(fixture_bytes("easypost_tracker_updated.json"))["result"]


class FakeEasyPost(BaseHTTPRequestHandler):
    """Speaks EasyPost's wire format: Basic auth with the key as user, JSON Tracker objects."""

    calls: list[tuple[str, str]] = []
    fail_with: int | None = None

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._send(401, {"error": {"code": "APIKEY.INVALID", "message": "Invalid API key."}})
            return False
        return True

    def _send(self, code: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self.calls.append(("GET", self.path))
        if not self._authorised():
            return
        if self.fail_with:
            return self._send(self.fail_with, {"error": {"code": "INTERNAL_SERVER_ERROR", "message": "boom"}})
        if self.path != f"/v2/trackers/{TRACKER['id']}":
            return self._send(
                404, {"error": {"code": "NOT_FOUND", "message": "The requested resource could not be found."}}
            )
        self._send(200, TRACKER)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        self.calls.append(("POST", self.path))
        if not self._authorised():
            return
        if self.path != "/v2/trackers" or "tracking_code" not in payload.get("tracker", {}):
            return self._send(422, {"error": {"code": "PARAMETER.REQUIRED", "message": "Missing tracking_code"}})
        self._send(201, TRACKER)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_easypost(settings):
    FakeEasyPost.calls = []
    FakeEasyPost.fail_with = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEasyPost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CARRIER_EASYPOST_API_BASE = f"http://127.0.0.1:{server.server_port}"
    settings.CARRIER_EASYPOST_API_KEY = API_KEY
    yield FakeEasyPost
    server.shutdown()
    server.server_close()


@pytest.fixture
def poll():
    shipment = make_shipment(carrier="fedex", tracking_number="1")
    return polling.poll_subscribe(shipment=shipment, client="easypost")


def test_the_first_poll_creates_the_tracker_and_applies_its_events(fake_easypost, poll):
    assert polling.poll_due()["polled"] == 1
    assert fake_easypost.calls == [("POST", "/v2/trackers")]
    poll.refresh_from_db()
    assert poll.external_id == "trk_1"
    assert poll.shipment.events.count() == 7
    assert Shipment.objects.get(pk=poll.shipment_id).status == ShipmentStatus.IN_TRANSIT


def test_later_polls_get_the_tracker_by_id(fake_easypost, poll):
    TrackerPoll.objects.filter(pk=poll.pk).update(external_id="trk_1")
    polling.poll_due()
    assert fake_easypost.calls == [("GET", "/v2/trackers/trk_1")]


def test_polled_events_take_the_webhook_path_and_are_not_applied_twice(fake_easypost, poll):
    polling.poll_due()
    TrackerPoll.objects.filter(pk=poll.pk).update(next_poll_at=timezone.now())
    polling.poll_due()
    assert poll.shipment.events.count() == 7
    sources = list(RawWebhook.objects.values_list("source", "status").order_by("id"))
    assert sources == [("poll", "processed"), ("poll", "duplicate")]


def test_a_poll_keeps_its_fetch_time_as_received_at(fake_easypost, poll):
    moment = timezone.now() - timedelta(seconds=30)
    TrackerPoll.objects.filter(pk=poll.pk).update(next_poll_at=moment)
    polling.poll_due(now=moment)
    assert {e.received_at for e in poll.shipment.events.all()} == {moment}


def test_the_next_poll_is_one_interval_later(fake_easypost, poll, settings):
    settings.CARRIER_POLL_INTERVAL_MINUTES = {"easypost": 45}
    now = timezone.now()
    polling.poll_due(now=now)
    poll.refresh_from_db()
    assert poll.next_poll_at == now + timedelta(minutes=45)


def test_a_server_error_backs_off_exponentially(fake_easypost, poll):
    fake_easypost.fail_with = 503
    TrackerPoll.objects.filter(pk=poll.pk).update(external_id="trk_1")
    now = timezone.now()
    assert polling.poll_due(now=now)["failed"] == 1
    poll.refresh_from_db()
    assert (poll.failures, poll.active) == (1, True)
    assert poll.next_poll_at == now + timedelta(minutes=120)
    assert "503" in poll.last_error


def test_a_wrong_api_key_stops_polling(fake_easypost, poll, settings):
    settings.CARRIER_EASYPOST_API_KEY = "EZTK_wrong"
    polling.poll_due()
    poll.refresh_from_db()
    assert poll.active is False
    assert "401" in poll.stopped_reason


def test_it_stops_at_a_final_status(fake_easypost, poll):
    Shipment.objects.filter(pk=poll.shipment_id).update(status=ShipmentStatus.DELIVERED)
    assert polling.poll_due()["stopped"] == 1
    assert fake_easypost.calls == []


def test_it_stops_after_ninety_days(fake_easypost, poll):
    Shipment.objects.filter(pk=poll.shipment_id).update(created_at=timezone.now() - timedelta(days=91))
    polling.poll_due()
    poll.refresh_from_db()
    assert (poll.active, fake_easypost.calls) == (False, [])


def test_it_polls_in_batches(fake_easypost, poll, settings):
    settings.CARRIER_POLL_BATCH = 1
    other = make_shipment(carrier="fedex", tracking_number="2")
    polling.poll_subscribe(shipment=other, client="easypost")
    assert polling.poll_due()["polled"] == 1


def test_the_beat_task_polls_due_shipments(fake_easypost, poll):
    assert tasks.poll_trackers.delay().get()["polled"] == 1


def test_a_new_shipment_of_a_polled_carrier_is_subscribed(settings):
    settings.CARRIER_POLL_CARRIERS = {"dhl": "easypost"}
    shipment = make_shipment(carrier="dhl", tracking_number="JD0001")
    assert TrackerPoll.objects.get(shipment=shipment).client == "easypost"
    assert not TrackerPoll.objects.filter(shipment=make_shipment(carrier="ups", tracking_number="1Z1")).exists()
