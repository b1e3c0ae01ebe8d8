"""Every carrier adapter, fed arbitrary and mutated vendor payloads through the real webhook view.

Each request is signed correctly, so verification passes and parsing is reached. Whatever the body,
the view must answer below 500, a 4xx must say why in the API's error shape, the exact bytes must be
stored, and a body the adapter cannot read must become a dead letter (failed, with its error).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from carriers import services
from carriers.models import RawWebhook
from tests.carriers.conftest import SECRETS, fixture_bytes, make_shipment, signed_headers
from tests.carriers.test_signatures import FEDEX_BODY
from tests.fuzz.strategies import payloads

pytestmark = pytest.mark.django_db

GENERIC_BODY = json.dumps(
    {
        "events": [
            {
                "event_id": "evt-1",
                "tracking_number": "G1",
                "status": "delivered",
                "occurred_at": "2026-01-05T14:03:00+01:00",
                "description": "Left with neighbour",
                "location": {"city": "Berlin", "country": "DE"},
            }
        ]
    }
).encode()

# The real wire format of each carrier, and the parcel it talks about (so events reach a shipment).
VENDOR = {
    "easypost": (fixture_bytes("easypost_tracker_updated.json"), ("fedex", "1")),
    "shippo": (fixture_bytes("shippo_track_updated.json"), ("usps", "9205590164917312751089")),
    "aftership": (fixture_bytes("aftership_tracking_update.json"), ("usps", "0000000000000000")),
    "ups": (fixture_bytes("ups_trackalert_tracking_event.json"), ("ups", "1Z204W4R0308071865")),
    "fedex": (FEDEX_BODY, ("fedex", "794843185271")),
    "generic": (GENERIC_BODY, ("acme", "G1")),
}
SETTLED = {RawWebhook.Status.PROCESSED, RawWebhook.Status.DUPLICATE, RawWebhook.Status.PENDING}


@pytest.fixture
def carrier_world(settings, tmp_path):
    settings.CARRIER_WEBHOOK_SECRETS = dict(SECRETS)
    settings.CARRIER_PROCESS_INLINE = True
    settings.MEDIA_ROOT = str(tmp_path / "media")
    services.secrets_cache_clear()
    for carrier, number in (parcel for _, parcel in VENDOR.values()):
        make_shipment(carrier=carrier, tracking_number=number)
    yield
    services.secrets_cache_clear()


def check_answer(response, body: bytes) -> None:
    assert response.status_code < 500
    answer = response.json()
    if response.status_code >= 400:
        # Signed correctly: the only refusal left is about the body, and it says so.
        assert response.status_code in (400, 413), answer
        assert isinstance(answer.get("error"), str) and answer["error"], answer
        assert isinstance(answer.get("detail"), str), answer
    if response.status_code in (413,):
        return
    raw = RawWebhook.objects.get(pk=answer["id"])
    assert bytes(raw.body) == body  # nothing received is lost, not even garbage
    if response.status_code == 400:
        assert (raw.status, bool(raw.error)) == (RawWebhook.Status.FAILED, True)
    else:
        assert raw.status in SETTLED or (raw.status == RawWebhook.Status.FAILED and raw.error), raw.status


@pytest.mark.parametrize("carrier", list(VENDOR))
def test_each_carrier_adapter_turns_any_signed_body_into_a_clear_answer_and_keeps_it(
    client, carrier_world, crashes, carrier
):
    document = json.loads(VENDOR[carrier][0])

    @settings(settings.get_profile("fuzz"))
    @given(body=payloads(document))
    def fuzz(body: bytes) -> None:
        crashes.clear()
        headers = signed_headers(carrier, body)
        response = client.generic(
            "POST", f"/webhooks/carriers/{carrier}/", data=body, content_type="application/json", headers=headers
        )
        check_answer(response, body)
        assert not crashes, [r.getMessage() for r in crashes]

    fuzz()
