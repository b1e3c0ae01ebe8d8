"""Stored, deduplicated, ordered: what a verified webhook does to shipments and orders."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from carriers import services
from carriers.adapters import ups as ups_adapter
from carriers.models import EventKey, PendingEvent, RawWebhook, UnmappedCode
from orders.models import DomainEvent, ShipmentEvent, StatusChange
from orders.statuses import OrderStatus, ShipmentStatus
from tests.carriers.conftest import fixture_bytes, generic_body, make_shipment, signed_headers

pytestmark = pytest.mark.django_db


def _at(minutes: int) -> str:
    return (timezone.now() - timedelta(hours=6) + timedelta(minutes=minutes)).isoformat()


def _event(tracking: str, status: str, minutes: int, **extra) -> dict:
    return {"tracking_number": tracking, "status": status, "occurred_at": _at(minutes), **extra}


def _send(post, carrier: str, body: bytes):
    return post(carrier, body, signed_headers(carrier, body))


def test_a_verified_webhook_moves_the_shipment_and_the_order(post):
    shipment = make_shipment(carrier="acme", tracking_number="G100")
    response = _send(post, "generic", generic_body(_event("G100", "out_for_delivery", 10)))
    assert response.status_code == 200
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY
    assert shipment.order.status == OrderStatus.OUT_FOR_DELIVERY
    assert RawWebhook.objects.get().status == RawWebhook.Status.PROCESSED


def test_the_audit_row_names_the_carrier_event(post):
    shipment = make_shipment(carrier="acme", tracking_number="G101")
    _send(post, "generic", generic_body(_event("G101", "in_transit", 10, event_id="e-1")))
    change = StatusChange.objects.get(shipment=shipment, to_status=ShipmentStatus.IN_TRANSIT)
    assert change.source == "carrier"
    assert change.shipment_event.dedupe_key == "id:e-1"


def test_the_timeline_row_keeps_the_webhooks_received_at(post):
    make_shipment(carrier="acme", tracking_number="G102")
    _send(post, "generic", generic_body(_event("G102", "in_transit", 10)))
    assert ShipmentEvent.objects.get().received_at == RawWebhook.objects.get().received_at


def test_a_repeated_delivery_is_recorded_once_and_moves_nothing_twice(post):
    shipment = make_shipment(carrier="acme", tracking_number="G103")
    body = generic_body(_event("G103", "in_transit", 10, event_id="e-1"))
    headers = signed_headers("generic", body)
    assert post("generic", body, headers).json()["status"] == "processed"
    changes = StatusChange.objects.count()
    second = post("generic", body, headers)
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 1
    assert StatusChange.objects.count() == changes
    assert RawWebhook.objects.filter(status=RawWebhook.Status.DUPLICATE).count() == 1


def test_the_same_event_in_a_new_delivery_is_not_applied_again(post):
    shipment = make_shipment(carrier="acme", tracking_number="G104")
    event = _event("G104", "in_transit", 10, event_id="e-1")
    _send(post, "generic", generic_body(event))
    _send(post, "generic", generic_body(event, _event("G104", "out_for_delivery", 20, event_id="e-2")))
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 2
    assert StatusChange.objects.filter(shipment=shipment, to_status=ShipmentStatus.IN_TRANSIT).count() == 1


def test_easypost_trackers_repeating_their_history_add_only_new_scans(post):
    shipment = make_shipment(carrier="fedex", tracking_number="1")
    body = fixture_bytes("easypost_tracker_updated.json")
    _send(post, "easypost", body)
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 7
    doc = json.loads(body)
    doc["id"] = "evt_2"
    newer = dict(doc["result"]["tracking_details"][-1], datetime="2024-08-03T08:00:00Z", status="out_for_delivery")
    doc["result"]["tracking_details"].append(newer)
    _send(post, "easypost", json.dumps(doc).encode())
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == 8
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY


def test_an_older_event_after_delivery_joins_the_history_without_moving_back(post):
    shipment = make_shipment(carrier="acme", tracking_number="G105")
    _send(post, "generic", generic_body(_event("G105", "delivered", 60)))
    _send(post, "generic", generic_body(_event("G105", "in_transit", 10)))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    late = ShipmentEvent.objects.get(shipment=shipment, status="in_transit")
    assert late.applied is False


def test_an_out_of_order_sequence_ends_where_the_newest_scan_says(post):
    shipment = make_shipment(carrier="acme", tracking_number="G106")
    for status, minutes in [("out_for_delivery", 30), ("in_transit", 10), ("in_transit", 20), ("delivered", 40)]:
        _send(post, "generic", generic_body(_event("G106", status, minutes)))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.order.status == OrderStatus.DELIVERED
    assert [e.status for e in shipment.events.all()] == ["in_transit", "in_transit", "out_for_delivery", "delivered"]


def test_events_for_an_unknown_tracking_number_wait_and_apply_when_the_shipment_appears(
    post, django_capture_on_commit_callbacks
):
    response = _send(post, "generic", generic_body(_event("G107", "in_transit", 10), _event("G107", "delivered", 50)))
    assert response.status_code == 202
    raw = RawWebhook.objects.get()
    assert raw.status == RawWebhook.Status.PENDING
    assert "G107" in raw.error
    assert PendingEvent.objects.filter(status=PendingEvent.Status.PENDING).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        shipment = make_shipment(carrier="acme", tracking_number="G107")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.events.count() == 2
    assert not PendingEvent.objects.filter(status=PendingEvent.Status.PENDING).exists()
    raw.refresh_from_db()
    assert raw.status == RawWebhook.Status.PROCESSED
    assert shipment.events.first().received_at == raw.received_at


def test_the_sweeper_applies_pending_events_whose_shipment_exists():
    raw = services.raw_webhook_store(carrier="generic", body=generic_body(_event("G108", "in_transit", 10)), headers={})
    services.raw_webhook_process(raw_id=raw.pk)
    shipment = make_shipment(carrier="acme", tracking_number="G108")  # on_commit never fires in this test
    assert shipment.events.count() == 0
    assert services.sweep()["pending_matched"] == 1
    assert shipment.events.count() == 1


def test_the_sweeper_processes_a_stored_webhook_that_no_task_picked_up():
    shipment = make_shipment(carrier="acme", tracking_number="G109")
    raw = services.raw_webhook_store(
        carrier="generic",
        body=generic_body(_event("G109", "in_transit", 10)),
        headers={},
        received_at=timezone.now() - timedelta(minutes=10),
    )
    services.sweep()
    raw.refresh_from_db()
    assert raw.status == RawWebhook.Status.PROCESSED
    assert shipment.events.count() == 1


def test_the_sweeper_keeps_dedupe_keys_for_at_least_seven_days(settings):
    settings.CARRIER_DEDUPE_RETENTION_DAYS = 1  # too short: the floor applies
    key = EventKey.objects.create(carrier="generic", key="e:x")
    EventKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=6))
    services.sweep()
    assert EventKey.objects.filter(pk=key.pk).exists()
    EventKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=8))
    services.sweep()
    assert not EventKey.objects.filter(pk=key.pk).exists()


@pytest.mark.parametrize("registered_as", ["fedex", "easypost"])
def test_an_aggregator_event_matches_a_shipment_under_either_name(post, registered_as):
    shipment = make_shipment(carrier=registered_as, tracking_number="1")
    _send(post, "easypost", fixture_bytes("easypost_tracker_updated.json"))
    assert shipment.events.count() == 7
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT


def test_an_aggregator_event_does_not_match_a_shipment_of_another_carrier(post):
    shipment = make_shipment(carrier="ups", tracking_number="1")
    _send(post, "easypost", fixture_bytes("easypost_tracker_updated.json"))
    assert shipment.events.count() == 0
    assert RawWebhook.objects.get().status == RawWebhook.Status.PENDING


def test_aftership_events_match_the_underlying_carrier(post):
    shipment = make_shipment(carrier="usps", tracking_number="0000000000000000")
    _send(post, "aftership", fixture_bytes("aftership_tracking_update.json"))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT


def test_shippo_fixture_delivers_a_usps_shipment(post):
    shipment = make_shipment(carrier="usps", tracking_number="9205590164917312751089")
    _send(post, "shippo", fixture_bytes("shippo_track_updated.json"))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.events.count() == 1


def test_the_ups_fixture_puts_a_ups_shipment_out_for_delivery(post):
    shipment = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    _send(post, "ups", fixture_bytes("ups_trackalert_tracking_event.json"))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY


def test_an_unmapped_code_is_kept_counted_and_moves_nothing(post):
    shipment = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    doc["activityStatus"] = {"type": "Z", "code": "ZZ", "description": "Teleported"}
    _send(post, "ups", json.dumps(doc).encode())
    doc["localActivityTime"] = "101500"
    _send(post, "ups", json.dumps(doc).encode())
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.INFO_RECEIVED
    assert [e.status for e in shipment.events.all()] == ["unknown", "unknown"]
    code = UnmappedCode.objects.get()
    assert (code.carrier, code.code, code.count, code.example) == ("ups", "Z/ZZ", 2, "Teleported")


def test_a_replay_after_a_mapping_fix_applies_the_event_with_its_original_received_at(post, monkeypatch):
    shipment = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    doc["activityStatus"] = {"type": "Z", "code": "ZZ", "description": "Delivered to locker"}
    _send(post, "ups", json.dumps(doc).encode())
    raw = RawWebhook.objects.get()
    monkeypatch.setitem(ups_adapter.TYPE_MAP, "Z", "available_for_pickup")  # the mapping fix

    services.raw_webhook_replay(raw_ids=[raw.pk])

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.AVAILABLE_FOR_PICKUP
    applied = shipment.events.get(status="available_for_pickup")
    assert applied.received_at == raw.received_at
    assert shipment.events.filter(status="unknown").count() == 1  # the history keeps what we had


def test_a_replay_of_an_applied_webhook_changes_nothing(post):
    shipment = make_shipment(carrier="acme", tracking_number="G110")
    _send(post, "generic", generic_body(_event("G110", "in_transit", 10)))
    before = (ShipmentEvent.objects.count(), StatusChange.objects.count(), DomainEvent.objects.count())
    services.raw_webhook_replay(raw_ids=list(RawWebhook.objects.values_list("pk", flat=True)))
    assert (ShipmentEvent.objects.count(), StatusChange.objects.count(), DomainEvent.objects.count()) == before
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT


def test_an_event_that_fails_to_apply_dead_letters_the_webhook_with_its_error(post, monkeypatch):
    make_shipment(carrier="acme", tracking_number="G111")

    def broken(**kwargs):
        raise RuntimeError("database said no")

    monkeypatch.setattr(services.order_services, "shipment_apply_event", broken)
    response = _send(post, "generic", generic_body(_event("G111", "in_transit", 10)))
    assert response.status_code == 202
    raw = RawWebhook.objects.get()
    assert raw.status == RawWebhook.Status.FAILED
    assert "database said no" in raw.error
    assert not EventKey.objects.filter(key__startswith="e:").exists()  # rolled back: a replay will apply it


def _failing_in_the_database_for(tracking: str, monkeypatch):
    """shipment_apply_event that writes the event, then meets a database error, for one parcel."""
    from django.db import connection

    real = services.order_services.shipment_apply_event

    def apply(**kwargs):
        result = real(**kwargs)
        if kwargs["shipment"].tracking_number == tracking:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")  # the transaction is aborted from here on
        return result

    monkeypatch.setattr(services.order_services, "shipment_apply_event", apply)


def test_a_lone_event_failing_in_the_database_is_rolled_back_whole_then_dead_lettered(post, monkeypatch):
    shipment = make_shipment(carrier="acme", tracking_number="G112")
    before = shipment.status
    _failing_in_the_database_for("G112", monkeypatch)
    response = _send(post, "generic", generic_body(_event("G112", "out_for_delivery", 10)))

    assert response.status_code == 202
    raw = RawWebhook.objects.get()
    assert (raw.status, raw.attempts, raw.events_count) == (RawWebhook.Status.FAILED, 1, 1)
    assert "division by zero" in raw.error
    shipment.refresh_from_db()
    assert shipment.status == before
    assert not ShipmentEvent.objects.filter(shipment=shipment, status="out_for_delivery").exists()
    assert not EventKey.objects.exists()  # the delivery's key too: nothing of it was kept

    monkeypatch.undo()
    assert services.raw_webhook_replay(raw_ids=[raw.pk]) == {RawWebhook.Status.PROCESSED: 1}
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY


def test_one_event_failing_in_the_database_does_not_hide_the_others_of_its_webhook(post, monkeypatch):
    good = make_shipment(carrier="acme", tracking_number="G113")
    bad = make_shipment(carrier="acme", tracking_number="G114")
    before = bad.status
    _failing_in_the_database_for("G114", monkeypatch)
    body = generic_body(_event("G114", "out_for_delivery", 10), _event("G113", "out_for_delivery", 11))
    _send(post, "generic", body)

    raw = RawWebhook.objects.get()
    assert (raw.status, raw.events_count) == (RawWebhook.Status.FAILED, 2)
    assert raw.error.startswith("G114 out_for_delivery: DataError")
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == ShipmentStatus.OUT_FOR_DELIVERY
    assert bad.status == before


def test_a_complete_replayed_sequence_leaves_every_shipment_right():
    """A day of real payloads, replayed from storage: every shipment ends in the right status."""
    fedex = make_shipment(carrier="fedex", tracking_number="1")
    usps = make_shipment(carrier="usps", tracking_number="9205590164917312751089")
    ups = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    tracking = make_shipment(carrier="usps", tracking_number="0000000000000000")
    for carrier, name in [
        ("easypost", "easypost_tracker_updated.json"),
        ("shippo", "shippo_track_updated.json"),
        ("ups", "ups_trackalert_tracking_event.json"),
        ("aftership", "aftership_tracking_update.json"),
    ]:
        raw = services.raw_webhook_store(carrier=carrier, body=fixture_bytes(name), headers={})
        services.raw_webhook_process(raw_id=raw.pk)
    for shipment, status, count in [
        (fedex, ShipmentStatus.IN_TRANSIT, 7),
        (usps, ShipmentStatus.DELIVERED, 1),
        (ups, ShipmentStatus.OUT_FOR_DELIVERY, 1),
        (tracking, ShipmentStatus.IN_TRANSIT, 1),
    ]:
        shipment.refresh_from_db()
        assert (shipment.status, shipment.events.count()) == (status, count)


def test_an_aftership_retry_with_the_same_event_id_is_a_duplicate(post):
    make_shipment(carrier="usps", tracking_number="0000000000000000")
    body = fixture_bytes("aftership_tracking_update.json")
    _send(post, "aftership", body)
    # AfterShip re-sends the same event (same event_id) with a fresh ts: new bytes, same delivery.
    retry = body.replace(b'"ts": 1712741696', b'"ts": 1712745296')
    assert _send(post, "aftership", retry).json()["status"] == "duplicate"


def test_an_easypost_event_that_is_not_about_a_tracker_is_accepted_and_ignored(post):
    body = json.dumps({"object": "Event", "id": "evt_9", "description": "batch.created", "result": {}}).encode()
    response = _send(post, "easypost", body)
    assert (response.status_code, response.json()["status"]) == (200, "processed")
    assert RawWebhook.objects.get().events_count == 0


def test_the_sweeper_expires_events_whose_shipment_never_appeared(settings):
    raw = services.raw_webhook_store(carrier="generic", body=generic_body(_event("G199", "in_transit", 10)), headers={})
    services.raw_webhook_process(raw_id=raw.pk)
    PendingEvent.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert services.sweep()["expired"] == 1
    assert PendingEvent.objects.get().status == PendingEvent.Status.EXPIRED
