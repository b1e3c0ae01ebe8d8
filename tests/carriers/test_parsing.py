"""Each adapter maps its vendor's payload into the one TrackingEvent vocabulary."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from carriers.adapters import ParseError, get_adapter
from tests.carriers.conftest import fixture_bytes


def test_easypost_yields_every_tracking_detail_of_the_tracker():
    events = get_adapter("easypost").parse(fixture_bytes("easypost_tracker_updated.json"))
    assert [e.status for e in events] == ["info_received"] + ["in_transit"] * 6
    assert {e.tracking_number for e in events} == {"1"}
    assert events[1].carrier == "fedex"  # the underlying carrier, not the aggregator
    assert events[1].carrier_code == "PU"
    assert (events[1].city, events[1].region, events[1].postcode, events[1].country) == (
        "ORLANDO",
        "FL",
        "32809",
        "US",
    )
    assert events[0].occurred_at == datetime(2024, 7, 31, 15, 0, tzinfo=UTC)


def test_easypost_takes_the_local_eta_date_and_gives_it_only_to_the_newest_scan():
    events = get_adapter("easypost").parse(fixture_bytes("easypost_tracker_updated.json"))
    assert events[-1].estimated_delivery == date(2024, 8, 5)
    assert all(e.estimated_delivery is None for e in events[:-1])


def test_easypost_keys_each_detail_on_its_own_content_since_the_tracker_repeats_its_history():
    events = get_adapter("easypost").parse(fixture_bytes("easypost_tracker_updated.json"))
    keys = [e.dedupe_key for e in events]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("id:sha:") for key in keys)


def test_shippo_maps_delivered_without_letting_the_substatus_override_it():
    events = get_adapter("shippo").parse(fixture_bytes("shippo_track_updated.json"))
    assert {e.status for e in events} == {"delivered"}
    assert events[0].carrier == "usps"
    assert events[0].occurred_at == datetime(2016, 7, 23, tzinfo=UTC)
    assert events[-1].estimated_delivery == date(2019, 8, 24)


def test_shippo_history_and_current_status_share_one_dedupe_key():
    events = get_adapter("shippo").parse(fixture_bytes("shippo_track_updated.json"))
    assert len({e.dedupe_key for e in events}) == 1


def test_aftership_reads_the_checkpoint_local_time_in_the_scan_zone():
    (event,) = get_adapter("aftership").parse(fixture_bytes("aftership_tracking_update.json"))
    assert event.status == "in_transit"
    assert event.carrier == "usps"
    assert event.carrier_code == "InTransit_001"
    assert event.occurred_at.tzinfo is not None
    assert event.occurred_at.replace(tzinfo=None) == datetime(2021, 1, 14, 0, 52)


def test_ups_local_time_without_offset_is_read_in_the_scan_locations_zone():
    """UPS vector: 20240423 091519 in Charlotte NC, no offset -> 09:15:19 EDT = 13:15:19 UTC."""
    (event,) = get_adapter("ups").parse(fixture_bytes("ups_trackalert_tracking_event.json"))
    assert event.occurred_at.astimezone(UTC) == datetime(2024, 4, 23, 13, 15, 19, tzinfo=UTC)
    assert event.status == "out_for_delivery"
    assert (event.carrier, event.tracking_number, event.carrier_code) == ("ups", "1Z204W4R0308071865", "OT")
    assert (event.city, event.region, event.country) == ("Charlotte", "NC", "US")


def test_ups_prefers_the_gmt_time_when_present():
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    doc.update(gmtActivityDate="20240423", gmtActivityTime="131519", gmtOffset="-04:00")
    (event,) = get_adapter("ups").parse(json.dumps(doc).encode())
    assert event.occurred_at == datetime(2024, 4, 23, 13, 15, 19, tzinfo=UTC)


def test_ups_stores_an_inline_delivery_photo_as_a_file(settings):
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    photo = b"\xff\xd8\xff\xe0 a tiny jpeg"
    doc.update(
        activityStatus={"type": "D", "code": "KB", "description": "Delivered"},
        deliveryPhoto=base64.b64encode(photo).decode(),
        receivedBy="FRONT DOOR",
    )
    (event,) = get_adapter("ups").parse(json.dumps(doc).encode())
    assert event.status == "delivered"
    assert event.signed_by == "FRONT DOOR"
    assert (Path(settings.MEDIA_ROOT) / event.photo_ref).read_bytes() == photo


def test_fedex_is_parsed_from_the_track_api_response_shape():
    """FedEx published no webhook sample; its docs say the body matches the Track API response
    (output.completeTrackResults[].trackResults[].scanEvents[]). This body is built from that
    format, not captured traffic."""
    body = {
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": "794843185271",
                    "trackResults": [
                        {
                            "trackingNumberInfo": {"trackingNumber": "794843185271", "carrierCode": "FDXE"},
                            "deliveryDetails": {"receivedByName": "J.SMITH"},
                            "dateAndTimes": [{"type": "ESTIMATED_DELIVERY", "dateTime": "2026-01-06T00:00:00-06:00"}],
                            "scanEvents": [
                                {
                                    "date": "2026-01-06T10:01:00-06:00",
                                    "eventType": "DL",
                                    "eventDescription": "Delivered",
                                    "scanLocation": {
                                        "city": "AUSTIN",
                                        "stateOrProvinceCode": "TX",
                                        "countryCode": "US",
                                    },
                                },
                                {
                                    "date": "2026-01-05T09:15:00-06:00",
                                    "eventType": "PU",
                                    "eventDescription": "Picked up",
                                    "scanLocation": {
                                        "city": "DALLAS",
                                        "stateOrProvinceCode": "TX",
                                        "countryCode": "US",
                                    },
                                },
                            ],
                        }
                    ],
                }
            ]
        },
    }
    events = get_adapter("fedex").parse(json.dumps(body).encode())
    assert [e.status for e in events] == ["in_transit", "delivered"]  # sorted by scan time
    assert events[1].signed_by == "J.SMITH"
    assert events[1].estimated_delivery == date(2026, 1, 6)
    assert events[1].occurred_at == datetime(2026, 1, 6, 16, 1, tzinfo=UTC)


def test_an_unmapped_code_becomes_unknown_and_keeps_the_code():
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    doc["activityStatus"] = {"type": "Z", "code": "ZZ", "description": "Something new"}
    (event,) = get_adapter("ups").parse(json.dumps(doc).encode())
    assert event.status == "unknown"
    assert event.carrier_code == "ZZ"
    assert event.extra["source_code"] == "Z/ZZ"


def test_generic_keeps_an_unknown_status_as_unknown_with_its_code():
    body = {"events": [{"tracking_number": "G1", "status": "teleported", "occurred_at": "2026-01-05T10:00:00Z"}]}
    (event,) = get_adapter("generic").parse(json.dumps(body).encode())
    assert (event.status, event.carrier_code) == ("unknown", "teleported")


@pytest.mark.parametrize(
    ("carrier", "body"),
    [
        ("easypost", b"not json"),
        ("easypost", b"[]"),
        ("shippo", b'{"event": "track_updated"}'),
        ("aftership", b'{"msg": {"checkpoints": []}}'),
        ("ups", b'{"trackingNumber": "1Z"}'),
        ("fedex", b'{"output": {}}'),
        ("generic", b'{"events": [{"tracking_number": "G1", "status": "delivered"}]}'),
        ("generic", b'{"events": [{"tracking_number": "G1", "status": "x", "occurred_at": "2026-01-05T10:00:00"}]}'),
    ],
)
def test_it_refuses_garbage_with_a_parse_error(carrier, body):
    with pytest.raises(ParseError):
        get_adapter(carrier).parse(body)
