"""Reconciliation (data sync accuracy) and the Shippo polling client, against loopback fakes that
speak EasyPost's and Shippo's tracking APIs (and refuse what they would refuse)."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from carriers import polling, reconciliation, tasks
from carriers.adapters import get_adapter
from carriers.models import RawWebhook, ReconciliationRun, SyncMismatch, TrackerPoll
from carriers.polling.base import PollError
from carriers.polling.batch import BREAKER_FAILURES, RateLimiter
from carriers.polling.shippo import ShippoClient
from carriers.reconciliation import ReconciliationError
from orders import services as order_services
from orders.models import Shipment, StatusChange
from orders.statuses import ShipmentStatus
from orders.tracking import TrackingEvent
from tests.carriers.conftest import fixture_bytes, make_shipment
from tests.factories import supervisor_user, support_user
from tests.fakes.server import FakeServer, Recorded, Reply

pytestmark = pytest.mark.django_db

EASYPOST_KEY = "EZTK_test_key"
SHIPPO_KEY = "shippo_test_0123456789abcdef"
EASYPOST_TRACKER = json.loads(fixture_bytes("easypost_tracker_updated.json"))["result"]
SHIPPO_TRACK = json.loads(fixture_bytes("shippo_track_updated.json"))["data"]
R = SyncMismatch.Resolution


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeEasyPost(FakeServer):
    """`POST /v2/trackers` (returns the tracker of that code) and `GET /v2/trackers/{id}`, Basic auth."""

    def __init__(self) -> None:
        super().__init__()
        self.trackers: dict[str, dict] = {}  # tracking code -> Tracker
        self.active = self.max_active = 0
        self.hold = 0.0  # seconds each answer takes, to observe concurrency
        self._count_lock = threading.Lock()

    def scans(self, code: str, *scans: tuple[str, datetime]) -> None:
        tracker = copy.deepcopy(EASYPOST_TRACKER)
        template = tracker["tracking_details"][-1]
        tracker.update(id=f"trk_{code}", tracking_code=code, status=scans[-1][0])
        tracker["tracking_details"] = [
            {**template, "status": status, "status_detail": "", "datetime": iso(at), "message": f"{status} scan"}
            for status, at in scans
        ]
        self.trackers[code] = tracker

    def respond(self, request: Recorded) -> Reply:
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.hold:
                time.sleep(self.hold)
            return self._answer(request)
        finally:
            with self._count_lock:
                self.active -= 1

    def _answer(self, request: Recorded) -> Reply:
        expected = "Basic " + base64.b64encode(f"{EASYPOST_KEY}:".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply.json(401, {"error": {"code": "APIKEY.INVALID", "message": "Invalid API key."}})
        if request.method == "POST" and request.path == "/v2/trackers":
            code = (request.json or {}).get("tracker", {}).get("tracking_code")
            if not code:
                return Reply.json(422, {"error": {"code": "PARAMETER.REQUIRED", "message": "Missing tracking_code"}})
            if code not in self.trackers:
                self.scans(code, ("pre_transit", timezone.now() - timedelta(days=3)))
            return Reply.json(201, self.trackers[code])
        if request.method == "GET" and request.path.startswith("/v2/trackers/"):
            tracker_id = request.path.rsplit("/", 1)[1]
            for tracker in self.trackers.values():
                if tracker["id"] == tracker_id:
                    return Reply.json(200, tracker)
        return Reply.json(
            404, {"error": {"code": "NOT_FOUND", "message": "The requested resource could not be found."}}
        )


class FakeShippo(FakeServer):
    """`GET /tracks/{carrier}/{tracking_number}` with `Authorization: ShippoToken <key>`."""

    CARRIERS = {"usps", "ups", "fedex", "dhl_express", "shippo"}

    def __init__(self) -> None:
        super().__init__()
        self.tracks: dict[tuple[str, str], dict] = {}

    def scans(self, carrier: str, number: str, *scans: tuple[str, datetime]) -> None:
        track = copy.deepcopy(SHIPPO_TRACK)
        template = track["tracking_history"][0]
        history = [
            {**template, "object_id": f"{number}-{i}", "status": status, "substatus": None, "status_date": iso(at)}
            for i, (status, at) in enumerate(scans)
        ]
        track.update(carrier=carrier, tracking_number=number, tracking_history=history, tracking_status=history[-1])
        self.tracks[(carrier, number)] = track

    def respond(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"ShippoToken {SHIPPO_KEY}":
            return Reply.json(401, {"detail": "Invalid token."})
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or len(parts) != 3 or parts[0] != "tracks" or parts[1] not in self.CARRIERS:
            return Reply.json(404, {"detail": "Not found."})
        carrier, number = parts[1], unquote(parts[2])
        # An unknown number is not an error at Shippo: the track has no status yet.
        track = self.tracks.get((carrier, number)) or {
            "carrier": carrier,
            "tracking_number": number,
            "tracking_status": None,
            "tracking_history": [],
            "eta": None,
        }
        return Reply.json(200, track)


@pytest.fixture
def easypost(settings):
    with FakeEasyPost() as fake:
        settings.CARRIER_EASYPOST_API_BASE = fake.url
        settings.CARRIER_EASYPOST_API_KEY = EASYPOST_KEY
        yield fake


@pytest.fixture
def shippo(settings):
    with FakeShippo() as fake:
        settings.CARRIER_SHIPPO_API_BASE = fake.url
        settings.CARRIER_SHIPPO_API_KEY = SHIPPO_KEY
        yield fake


@pytest.fixture(autouse=True)
def reconcile_settings(settings):
    settings.CARRIER_RECONCILE_CLIENTS = {"fedex": "easypost", "usps": "shippo", "dhl": "shippo"}
    settings.CARRIER_RECONCILE_DEFAULT_RATE = 0  # no pacing in tests; the limiter has its own test
    settings.CARRIER_RECONCILE_GRACE_MINUTES = 30
    settings.CARRIER_POLL_CARRIERS = {}


NOW = [timezone.now()]


@pytest.fixture(autouse=True)
def fixed_now():
    # Whole seconds, fixed per test: our scan and the carrier's copy of it must be the same instant.
    NOW[0] = timezone.now().replace(microsecond=0)


def ago(hours: float) -> datetime:
    return NOW[0] - timedelta(hours=hours)


def scanned(shipment: Shipment, status: str, at: datetime) -> Shipment:
    """Our side: a carrier event applied through the normal path."""
    event = TrackingEvent(
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        status=status,
        occurred_at=at,
        event_id=f"ours-{shipment.pk}-{status}-{at.timestamp()}",
    )
    order_services.shipment_apply_event(shipment=shipment, event=event, source="carrier")
    return Shipment.objects.get(pk=shipment.pk)


def in_transit(tracking_number: str, *, carrier: str = "fedex", at: datetime | None = None) -> Shipment:
    shipment = make_shipment(carrier=carrier, tracking_number=tracking_number)
    return scanned(shipment, ShipmentStatus.IN_TRANSIT, at or ago(20))


# --- the Shippo polling client ------------------------------------------------------------------


def test_the_shippo_client_asks_for_the_track_with_its_token_and_the_adapter_reads_it(shippo):
    shippo.scans("usps", "9205 5901", ("TRANSIT", ago(5)), ("DELIVERED", ago(2)))
    shipment = make_shipment(carrier="usps", tracking_number="9205 5901")
    result = ShippoClient().fetch(TrackerPoll(shipment=shipment, client="shippo"))
    assert shippo.requests[0].path == "/tracks/usps/9205%205901"  # quoted, and the fake reads it back
    events = get_adapter(result.adapter).parse(result.body)
    assert [e.status for e in events][-1] == ShipmentStatus.DELIVERED
    assert json.loads(result.body)["data"]["tracking_number"] == "9205 5901"


def test_the_shippo_client_asks_for_dhl_as_dhl_express(shippo):
    shipment = make_shipment(carrier="dhl", tracking_number="JD014600")
    ShippoClient().fetch(TrackerPoll(shipment=shipment, client="shippo"))
    assert shippo.requests[0].path == "/tracks/dhl_express/JD014600"


def test_a_wrong_shippo_token_is_a_permanent_poll_error(shippo, settings):
    settings.CARRIER_SHIPPO_API_KEY = "shippo_test_wrong"
    shipment = make_shipment(carrier="usps", tracking_number="1")
    with pytest.raises(PollError) as caught:
        ShippoClient().fetch(TrackerPoll(shipment=shipment, client="shippo"))
    assert caught.value.permanent and "401" in str(caught.value)


def test_a_shippo_server_error_is_worth_retrying(shippo):
    shippo.fail_next(503)
    shipment = make_shipment(carrier="usps", tracking_number="1")
    with pytest.raises(PollError) as caught:
        ShippoClient().fetch(TrackerPoll(shipment=shipment, client="shippo"))
    assert not caught.value.permanent


def test_a_shipment_registered_as_shippo_names_no_carrier_to_ask(shippo):
    shipment = make_shipment(carrier="shippo", tracking_number="1")
    with pytest.raises(PollError) as caught:
        ShippoClient().fetch(TrackerPoll(shipment=shipment, client="shippo"))
    assert caught.value.permanent and shippo.requests == []


def test_polling_through_shippo_applies_the_track_like_a_webhook(shippo):
    shippo.scans("usps", "9205", ("TRANSIT", ago(5)), ("DELIVERED", ago(2)))
    shipment = make_shipment(carrier="usps", tracking_number="9205")
    polling.poll_subscribe(shipment=shipment, client="shippo")
    assert polling.poll_due()["polled"] == 1
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.DELIVERED
    assert RawWebhook.objects.get().source == RawWebhook.Source.POLL


# --- finding mismatches -------------------------------------------------------------------------


def test_a_carrier_event_newer_than_ours_is_a_mismatch(easypost):
    shipment = in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("in_transit", ago(20)), ("delivered", ago(2)))
    run = reconciliation.reconciliation_run()
    assert (run.checked, run.mismatched, run.unreachable, run.finished_at is not None) == (1, 1, 0, True)
    mismatch = SyncMismatch.objects.get()
    assert (mismatch.shipment, mismatch.kind, mismatch.ours, mismatch.carrier_status) == (
        shipment,
        SyncMismatch.Kind.MISSED_EVENT,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.DELIVERED,
    )
    assert abs(mismatch.carrier_event_at - ago(2)) < timedelta(minutes=1)
    assert mismatch.client == "easypost" and mismatch.is_open
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.IN_TRANSIT  # reported, not applied


def test_a_shipment_in_step_with_its_carrier_is_checked_and_not_a_mismatch(easypost):
    at = ago(20)
    in_transit("FX1", at=at)
    easypost.scans("FX1", ("pre_transit", ago(30)), ("in_transit", at))
    run = reconciliation.reconciliation_run()
    assert (run.checked, run.mismatched, run.accuracy) == (1, 0, 1.0)
    assert not SyncMismatch.objects.exists()


def test_a_different_status_at_the_carrier_is_a_mismatch_even_when_ours_is_newer(shippo):
    in_transit("9205", carrier="usps", at=ago(2))
    shippo.scans("usps", "9205", ("FAILURE", ago(10)))
    reconciliation.reconciliation_run()
    mismatch = SyncMismatch.objects.get()
    assert (mismatch.kind, mismatch.carrier_status) == (SyncMismatch.Kind.STATUS_DIFFERS, ShipmentStatus.EXCEPTION)


def test_scans_younger_than_the_grace_period_are_not_compared_yet(easypost):
    in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("in_transit", ago(20)), ("out_for_delivery", timezone.now() - timedelta(minutes=5)))
    run = reconciliation.reconciliation_run()
    assert (run.checked, run.mismatched) == (1, 0)


def test_a_delay_we_inferred_agrees_with_the_carriers_last_progress(easypost):
    shipment = in_transit("FX1", at=ago(60))
    order_services.shipment_mark_delayed(shipment=shipment, reason="stalled: no carrier scan for 48 h")
    easypost.scans("FX1", ("in_transit", ago(60)))
    run = reconciliation.reconciliation_run()
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.DELAYED
    assert (run.checked, run.mismatched) == (1, 0)


def test_a_carrier_without_a_client_is_not_checkable_and_not_a_mismatch(easypost):
    in_transit("1Z999", carrier="ups")
    run = reconciliation.reconciliation_run()
    assert (run.checked, run.not_checkable, run.mismatched) == (0, 1, 0)
    assert run.per_carrier["ups"] == {"not_checkable": 1}
    assert easypost.requests == []


def test_a_client_without_its_api_key_makes_its_shipments_not_checkable(easypost, settings):
    settings.CARRIER_EASYPOST_API_KEY = ""
    in_transit("FX1")
    run = reconciliation.reconciliation_run()
    assert (run.not_checkable, run.unreachable, run.per_carrier["fedex"]) == (
        1,
        0,
        {"not_checkable": 1, "client": "easypost"},
    )
    assert easypost.requests == []


def test_an_unreachable_carrier_is_counted_and_leaves_the_open_mismatch_alone(easypost):
    in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("delivered", ago(2)))
    reconciliation.reconciliation_run()
    easypost.fail_next(503, times=3)
    run = reconciliation.reconciliation_run()
    assert (run.checked, run.unreachable) == (0, 1)
    assert "503" in run.note
    assert SyncMismatch.objects.get().is_open


def test_a_carrier_with_no_scan_yet_is_counted_apart(shippo):
    in_transit("9205", carrier="usps")
    run = reconciliation.reconciliation_run()
    assert (run.checked, run.no_data, run.mismatched) == (0, 1, 0)


def test_a_later_run_updates_the_open_mismatch_instead_of_adding_one(easypost):
    in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("out_for_delivery", ago(5)))
    first = reconciliation.reconciliation_run()
    easypost.scans("FX1", ("out_for_delivery", ago(5)), ("delivered", ago(2)))
    second = reconciliation.reconciliation_run()
    mismatch = SyncMismatch.objects.get()
    assert (mismatch.run, mismatch.times_seen, mismatch.carrier_status) == (second, 2, ShipmentStatus.DELIVERED)
    assert (first.mismatched, second.mismatched) == (1, 1)


def test_an_open_mismatch_closes_itself_when_a_later_run_finds_the_shipment_in_step(easypost):
    shipment = in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("in_transit", ago(20)), ("delivered", ago(2)))
    reconciliation.reconciliation_run()
    scanned(shipment, ShipmentStatus.DELIVERED, ago(2))  # the late webhook arrived
    run = reconciliation.reconciliation_run()
    mismatch = SyncMismatch.objects.get()
    assert (mismatch.resolution, mismatch.resolved_by, run.checked) == (R.IN_SYNC, None, 1)
    assert mismatch.resolved_at is not None


def test_a_shipment_the_carrier_never_saw_scanned_is_a_missed_event(easypost):
    make_shipment(carrier="fedex", tracking_number="FX1")
    easypost.scans("FX1", ("in_transit", ago(3)))
    reconciliation.reconciliation_run()
    assert SyncMismatch.objects.get().kind == SyncMismatch.Kind.MISSED_EVENT


# --- runs: batches, limits, one at a time -------------------------------------------------------


def test_a_run_goes_through_every_shipment_in_bounded_batches(easypost, settings):
    settings.CARRIER_RECONCILE_BATCH = 2
    for n in range(5):
        in_transit(f"FX{n}", at=ago(20))
        easypost.scans(f"FX{n}", ("in_transit", ago(20)))
    run, _ = reconciliation.reconciliation_start(trigger="manual")
    assert reconciliation.reconciliation_continue(run_id=run.pk, budget_seconds=0) is True
    run.refresh_from_db()
    assert (run.checked, run.finished_at, run.running) == (2, None, True)
    while reconciliation.reconciliation_continue(run_id=run.pk, budget_seconds=0):
        pass
    run.refresh_from_db()
    assert (run.checked, run.running, run.finished_at is not None) == (5, False, True)


def test_the_beat_task_runs_the_whole_run_across_several_tasks(easypost, settings):
    settings.CARRIER_RECONCILE_BATCH = 1
    settings.CARRIER_RECONCILE_TASK_SECONDS = 0  # every batch queues the next
    for n in range(3):
        in_transit(f"FX{n}", at=ago(20))
        easypost.scans(f"FX{n}", ("in_transit", ago(20)))
    easypost.scans("FX1", ("delivered", ago(2)))
    tasks.reconcile_shipments.delay()
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.checked, run.mismatched, run.running) == ("schedule", 3, 1, False)


def test_only_one_run_goes_at_a_time():
    first, created = reconciliation.reconciliation_start(trigger="schedule")
    again, created_again = reconciliation.reconciliation_start(trigger="manual")
    assert (created, created_again, again) == (True, False, first)


def test_a_run_without_progress_for_an_hour_is_closed_when_the_next_starts():
    stuck, _ = reconciliation.reconciliation_start(trigger="schedule")
    ReconciliationRun.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    run, created = reconciliation.reconciliation_start(trigger="manual")
    stuck.refresh_from_db()
    assert created and run != stuck
    assert (stuck.running, "abandoned" in stuck.note) == (False, True)


def test_a_run_another_worker_holds_is_left_alone(easypost):
    in_transit("FX1")
    run, _ = reconciliation.reconciliation_start(trigger="schedule")
    ReconciliationRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() + timedelta(minutes=5))
    assert reconciliation.reconciliation_continue(run_id=run.pk) is False
    run.refresh_from_db()
    assert (run.checked, easypost.requests) == (0, [])


def test_requests_to_one_client_never_exceed_its_concurrency(easypost, settings):
    settings.CARRIER_RECONCILE_CONCURRENCY = {"easypost": 2}
    easypost.hold = 0.05
    for n in range(8):
        in_transit(f"FX{n}")
    reconciliation.reconciliation_run()
    assert len(easypost.requests) == 8
    assert easypost.max_active <= 2


def test_a_client_that_keeps_failing_is_not_asked_for_the_rest_of_the_run(easypost, settings):
    settings.CARRIER_RECONCILE_CONCURRENCY = {"easypost": 1}
    easypost.fail_next(503, times=50)
    for n in range(8):
        in_transit(f"FX{n}")
    run = reconciliation.reconciliation_run()
    assert run.unreachable == 8
    assert len(easypost.requests) == BREAKER_FAILURES


def test_the_rate_limiter_spaces_request_starts():
    clock = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 3))

    limiter = RateLimiter(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [0.25, 0.5]


# --- resolving ----------------------------------------------------------------------------------


@pytest.fixture
def delivered_at_carrier(easypost):
    shipment = in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("in_transit", ago(20)), ("delivered", ago(2)))
    reconciliation.reconciliation_run()
    return SyncMismatch.objects.get(shipment=shipment)


def test_applying_the_carrier_status_moves_the_shipment_through_the_normal_path(delivered_at_carrier):
    staff = supervisor_user()
    reconciliation.mismatch_resolve(mismatch=delivered_at_carrier, resolution=R.APPLIED_CARRIER, actor=staff)
    shipment = Shipment.objects.get(pk=delivered_at_carrier.shipment_id)
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.order.status == "delivered"
    audit = StatusChange.objects.get(shipment=shipment, to_status=ShipmentStatus.DELIVERED)
    assert audit.source == "reconciliation"
    assert shipment.events.filter(status=ShipmentStatus.DELIVERED, received_at=delivered_at_carrier.last_seen_at)
    assert hasattr(shipment, "delivery_verification")  # the customer's confirmation is gated as usual
    delivered_at_carrier.refresh_from_db()
    assert (delivered_at_carrier.resolution, delivered_at_carrier.resolved_by) == (R.APPLIED_CARRIER, staff)


def test_applying_a_carrier_event_older_than_ours_is_refused_and_changes_nothing(shippo):
    shipment = in_transit("9205", carrier="usps", at=ago(2))
    shippo.scans("usps", "9205", ("FAILURE", ago(10)))
    reconciliation.reconciliation_run()
    mismatch = SyncMismatch.objects.get()
    with pytest.raises(ReconciliationError) as caught:
        reconciliation.mismatch_resolve(mismatch=mismatch, resolution=R.APPLIED_CARRIER, actor=supervisor_user())
    assert caught.value.reason == "not_applicable"
    assert shipment.events.count() == 1
    mismatch.refresh_from_db()
    assert mismatch.is_open


def test_keeping_ours_needs_a_note_and_records_who_and_when(delivered_at_carrier):
    staff = support_user()
    with pytest.raises(ReconciliationError) as caught:
        reconciliation.mismatch_resolve(mismatch=delivered_at_carrier, resolution=R.KEPT_OURS, actor=staff, note=" ")
    assert caught.value.reason == "note_required"
    reconciliation.mismatch_resolve(
        mismatch=delivered_at_carrier, resolution=R.KEPT_OURS, actor=staff, note="customer says not received"
    )
    delivered_at_carrier.refresh_from_db()
    assert (delivered_at_carrier.resolution, delivered_at_carrier.resolved_by, delivered_at_carrier.note) == (
        R.KEPT_OURS,
        staff,
        "customer says not received",
    )
    assert delivered_at_carrier.resolved_at is not None
    assert Shipment.objects.get(pk=delivered_at_carrier.shipment_id).status == ShipmentStatus.IN_TRANSIT


def test_a_resolved_mismatch_cannot_be_resolved_again(delivered_at_carrier):
    staff = supervisor_user()
    reconciliation.mismatch_resolve(mismatch=delivered_at_carrier, resolution=R.CARRIER_WRONG, actor=staff, note="x")
    with pytest.raises(ReconciliationError) as caught:
        reconciliation.mismatch_resolve(mismatch=delivered_at_carrier, resolution=R.APPLIED_CARRIER, actor=staff)
    assert caught.value.reason == "already_resolved"


def test_a_run_after_a_resolution_opens_a_new_mismatch_if_still_out_of_step(delivered_at_carrier):
    reconciliation.mismatch_resolve(
        mismatch=delivered_at_carrier, resolution=R.CARRIER_WRONG, actor=supervisor_user(), note="scan error"
    )
    reconciliation.reconciliation_run()
    assert SyncMismatch.objects.filter(resolved_at__isnull=True).count() == 1
    assert SyncMismatch.objects.count() == 2


# --- admin and command --------------------------------------------------------------------------


def test_the_admin_button_queues_a_run(client, easypost, django_capture_on_commit_callbacks):
    in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("in_transit", ago(20)))
    staff = support_user()
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:carriers_reconciliationrun_run_now"))
    assert response.status_code == 302
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.requested_by, run.checked, run.running) == ("manual", staff, 1, False)
    page = client.get(reverse("admin:carriers_reconciliationrun_changelist"))
    assert b"Run reconciliation now" in page.content and b"100.0%" in page.content


def test_the_admin_button_refuses_a_get_and_a_user_without_the_permission(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(reverse("admin:carriers_reconciliationrun_run_now")).status_code == 405
    assert client.post(reverse("admin:carriers_reconciliationrun_run_now")).status_code == 403
    assert not ReconciliationRun.objects.exists()


def test_staff_apply_the_carrier_status_from_the_admin(client, delivered_at_carrier):
    client.force_login(support_user())
    response = client.post(
        reverse("admin:carriers_syncmismatch_changelist"),
        {"action": "apply_carrier_status", "_selected_action": [delivered_at_carrier.pk]},
        follow=True,
    )
    assert b"Applied the carrier" in response.content
    delivered_at_carrier.refresh_from_db()
    assert delivered_at_carrier.resolution == R.APPLIED_CARRIER


def test_keeping_ours_in_the_admin_asks_for_a_note_first(client, delivered_at_carrier):
    client.force_login(support_user())
    url = reverse("admin:carriers_syncmismatch_changelist")
    form = {"action": "keep_ours", "_selected_action": [delivered_at_carrier.pk]}
    page = client.post(url, form)
    assert page.status_code == 200 and b'name="note"' in page.content
    assert client.post(url, {**form, "apply": "1", "note": ""}).status_code == 200  # the note is required
    client.post(url, {**form, "apply": "1", "note": "the carrier scanned the wrong parcel"})
    delivered_at_carrier.refresh_from_db()
    assert (delivered_at_carrier.resolution, delivered_at_carrier.note) == (
        R.KEPT_OURS,
        "the carrier scanned the wrong parcel",
    )


def test_the_mismatch_list_shows_open_ones_by_default(client, delivered_at_carrier):
    client.force_login(support_user())
    page = client.get(reverse("admin:carriers_syncmismatch_changelist"))
    assert delivered_at_carrier.shipment.order.number.encode() in page.content
    run_page = client.get(reverse("admin:carriers_reconciliationrun_change", args=[delivered_at_carrier.run_id]))
    assert run_page.status_code == 200
    detail = client.get(reverse("admin:carriers_syncmismatch_change", args=[delivered_at_carrier.pk]))
    assert detail.status_code == 200 and b"&quot;status&quot;: &quot;delivered&quot;" in detail.content
    linked = client.get(
        reverse("admin:carriers_syncmismatch_changelist") + f"?run__id__exact={delivered_at_carrier.run_id}&open=all"
    )
    assert linked.status_code == 200 and delivered_at_carrier.shipment.order.number.encode() in linked.content


def test_the_command_prints_the_run_summary(easypost, capsys):
    in_transit("FX1", at=ago(20))
    easypost.scans("FX1", ("delivered", ago(2)))
    call_command("reconcile_shipments")
    out = capsys.readouterr().out
    assert "checked 1, mismatched 1 (in sync 0.0%)" in out


def test_the_demo_seed_makes_one_run_with_one_open_mismatch_once():
    in_transit("FX1", at=ago(20))
    run = reconciliation.demo_seed()
    assert (run.mismatched, run.mismatches.get().carrier_status) == (1, ShipmentStatus.OUT_FOR_DELIVERY)
    assert reconciliation.demo_seed() is None
    reconciliation.mismatch_resolve(mismatch=run.mismatches.get(), resolution=R.APPLIED_CARRIER, actor=None)
    assert Shipment.objects.get(tracking_number="FX1").status == ShipmentStatus.OUT_FOR_DELIVERY
