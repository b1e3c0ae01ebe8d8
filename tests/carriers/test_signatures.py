"""Every carrier's real authenticity scheme: accepted when signed, refused (401, logged) otherwise."""

from __future__ import annotations

import json
import logging

import pytest

from carriers import services
from carriers.adapters import base, generic
from carriers.models import CarrierAccount, RawWebhook
from tests.carriers.conftest import SECRETS, fixture_bytes, signed_headers
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db

FEDEX_BODY = json.dumps(
    {
        "transactionId": "t-1",
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": "794843185271",
                    "trackResults": [
                        {
                            "trackingNumberInfo": {"trackingNumber": "794843185271", "carrierCode": "FDXE"},
                            "scanEvents": [
                                {
                                    "date": "2026-01-05T09:15:00-05:00",
                                    "eventType": "PU",
                                    "eventDescription": "Picked up",
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    }
).encode()

VENDOR_BODIES = {
    "easypost": lambda: fixture_bytes("easypost_tracker_updated.json"),
    "shippo": lambda: fixture_bytes("shippo_track_updated.json"),
    "aftership": lambda: fixture_bytes("aftership_tracking_update.json"),
    "ups": lambda: fixture_bytes("ups_trackalert_tracking_event.json"),
    "fedex": lambda: FEDEX_BODY,
    "generic": lambda: json.dumps(
        {"events": [{"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"}]}
    ).encode(),
}
CARRIERS = list(VENDOR_BODIES)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_it_accepts_each_carriers_payload_with_a_correct_signature(post, carrier):
    body = VENDOR_BODIES[carrier]()
    response = post(carrier, body, signed_headers(carrier, body))
    assert response.status_code in (200, 202), response.content
    raw = RawWebhook.objects.get()
    assert bytes(raw.body) == body


@pytest.mark.parametrize("carrier", CARRIERS)
def test_it_refuses_each_carriers_payload_without_a_signature(post, carrier):
    response = post(carrier, VENDOR_BODIES[carrier]())
    assert response.status_code == 401
    assert response.json()["error"] in ("missing_signature", "missing_credential")
    assert not RawWebhook.objects.exists()


@pytest.mark.parametrize("carrier", CARRIERS)
def test_it_refuses_each_carriers_payload_signed_with_another_secret(post, carrier):
    body = VENDOR_BODIES[carrier]()
    response = post(carrier, body, signed_headers(carrier, body, secret="whsec_" + "A" * 32))
    assert response.status_code == 401
    assert response.json()["error"] in ("invalid_signature", "invalid_credential")
    assert not RawWebhook.objects.exists()


@pytest.mark.parametrize("carrier", ["easypost", "aftership", "fedex", "shippo", "generic"])
def test_it_refuses_a_body_changed_after_signing(post, carrier):
    body = VENDOR_BODIES[carrier]()
    headers = signed_headers(carrier, body)
    response = post(carrier, body.replace(b"2", b"3", 1), headers)
    assert response.status_code == 401


def test_the_easypost_official_vector_verifies_with_the_nfkd_secret(post):
    body = fixture_bytes("easypost_tracker_updated.json")
    vector = "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"
    assert post("easypost", body, {"X-Hmac-Signature": vector}).status_code in (200, 202)


def test_the_aftership_published_signature_verifies(post):
    body = fixture_bytes("aftership_tracking_update.json")
    headers = {"aftership-hmac-sha256": "AaV3xdQqyk0iAalhN0RHm7RIw6CvRq0AH+uVxh+1Wes="}
    assert post("aftership", body, headers).status_code in (200, 202)


def test_the_shippo_published_signature_verifies_within_its_time_window(post, monkeypatch):
    monkeypatch.setattr(base, "now", lambda: 1688493073 + 60)
    body = fixture_bytes("shippo_track_updated.json")
    header = "t=1688493073,v1=8fab67c4721074e16b9d1f89f9713d907974538a13447bccbda69ec76379fd24"
    assert post("shippo", body, {"Shippo-Auth-Signature": header}).status_code in (200, 202)


def test_it_refuses_the_shippo_signature_once_its_timestamp_is_stale(post):
    body = fixture_bytes("shippo_track_updated.json")
    header = "t=1688493073,v1=8fab67c4721074e16b9d1f89f9713d907974538a13447bccbda69ec76379fd24"
    response = post("shippo", body, {"Shippo-Auth-Signature": header})
    assert response.status_code == 401
    assert response.json()["error"] == "stale_timestamp"


def test_it_accepts_the_shippo_url_token_when_hmac_is_not_enabled(post):
    body = fixture_bytes("shippo_track_updated.json")
    assert post("shippo", body, query=f"?token={SECRETS['shippo']}").status_code in (200, 202)


def test_it_refuses_a_wrong_shippo_url_token(post):
    response = post("shippo", fixture_bytes("shippo_track_updated.json"), query="?token=guess")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_the_standard_webhooks_vector_signs_as_published():
    body = fixture_bytes("standardwebhooks_test_vector.json")
    signature = generic.sign(SECRETS["generic"], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_standard_webhooks_vector_verifies_then_fails_to_parse_as_generic(post, monkeypatch):
    monkeypatch.setattr(base, "now", lambda: 1614265330 + 5)
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    response = post("generic", fixture_bytes("standardwebhooks_test_vector.json"), headers)
    assert response.status_code == 400  # authentic, but not our generic format
    assert RawWebhook.objects.get().status == RawWebhook.Status.FAILED


def test_it_refuses_a_standard_webhooks_timestamp_older_than_five_minutes(post, monkeypatch):
    monkeypatch.setattr(base, "now", lambda: 1614265330 + 301)
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    response = post("generic", fixture_bytes("standardwebhooks_test_vector.json"), headers)
    assert response.status_code == 401
    assert response.json()["error"] == "stale_timestamp"


def test_it_accepts_one_valid_signature_among_several_standard_webhooks_signatures(post):
    body = VENDOR_BODIES["generic"]()
    headers = signed_headers("generic", body)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    assert post("generic", body, headers).status_code in (200, 202)


def test_it_accepts_a_ups_bearer_token(post):
    body = VENDOR_BODIES["ups"]()
    assert post("ups", body, {"Authorization": f"Bearer {SECRETS['ups']}"}).status_code in (200, 202)


def test_it_never_stores_the_ups_credential_with_the_raw_payload(post):
    body = VENDOR_BODIES["ups"]()
    post("ups", body, signed_headers("ups", body))
    stored = {k.lower() for k in RawWebhook.objects.get().headers}
    assert "credential" not in stored


def test_it_logs_a_rejection_to_the_security_log_without_the_body(post, caplog):
    body = VENDOR_BODIES["aftership"]()
    with caplog.at_level(logging.WARNING, logger="oms_notify.security"):
        post("aftership", body, {"aftership-hmac-sha256": "d3Jvbmc="})
    record = next(r for r in caplog.records if r.name == "oms_notify.security")
    assert (record.carrier, record.reason, record.size) == ("aftership", "invalid_signature", len(body))
    assert record.source_address == "127.0.0.1"
    assert "0000000000000000" not in record.getMessage() + str(record.__dict__)


def test_it_refuses_when_no_secret_is_configured(post, settings):
    settings.CARRIER_WEBHOOK_SECRETS = {}
    body = VENDOR_BODIES["fedex"]()
    response = post("fedex", body, signed_headers("fedex", body))
    assert response.status_code == 401
    assert response.json()["error"] == "no_secret_configured"


def _account(carrier: str, slug: str, *secrets: str) -> CarrierAccount:
    account = CarrierAccount.objects.create(brand=BrandFactory(), carrier=carrier, slug=slug)
    for secret in secrets:
        services.carrier_account_set_secrets(account=account, secret=secret)
    return account


def test_it_stores_account_secrets_encrypted():
    account = _account("fedex", "acme", "fedex-acme-secret")
    account.refresh_from_db()
    assert "fedex-acme-secret" not in account.secret_encrypted
    assert services.webhook_secrets(carrier="fedex", account_slug="acme")[1] == ["fedex-acme-secret"]


def test_it_accepts_both_secrets_during_a_rotation(post):
    _account("fedex", "acme", "old-secret", "new-secret")
    body = VENDOR_BODIES["fedex"]()
    assert post("fedex", body, signed_headers("fedex", body, secret="old-secret"), account="acme").status_code < 300
    assert post("fedex", body, signed_headers("fedex", body, secret="new-secret"), account="acme").status_code < 300


def test_it_refuses_the_old_secret_once_dropped(post):
    account = _account("fedex", "acme", "old-secret", "new-secret")
    services.carrier_account_drop_previous_secret(account=account)
    body = VENDOR_BODIES["fedex"]()
    response = post("fedex", body, signed_headers("fedex", body, secret="old-secret"), account="acme")
    assert response.status_code == 401


def test_the_carrier_route_accepts_an_active_account_secret(post):
    _account("fedex", "acme", "acme-secret")
    body = VENDOR_BODIES["fedex"]()
    assert post("fedex", body, signed_headers("fedex", body, secret="acme-secret")).status_code < 300


def test_the_account_route_refuses_the_environment_secret(post):
    _account("fedex", "acme", "acme-secret")
    body = VENDOR_BODIES["fedex"]()
    response = post("fedex", body, signed_headers("fedex", body), account="acme")
    assert response.status_code == 401


def test_the_account_route_refuses_another_accounts_secret(post):
    _account("fedex", "acme", "acme-secret")
    _account("fedex", "globex", "globex-secret")
    body = VENDOR_BODIES["fedex"]()
    response = post("fedex", body, signed_headers("fedex", body, secret="globex-secret"), account="acme")
    assert response.status_code == 401


def test_it_refuses_an_unknown_account(post):
    body = VENDOR_BODIES["fedex"]()
    response = post("fedex", body, signed_headers("fedex", body), account="nobody")
    assert response.status_code == 401
    assert response.json()["error"] == "unknown_account"


def test_it_links_the_raw_webhook_to_the_account_it_came_through(post):
    account = _account("fedex", "acme", "acme-secret")
    body = VENDOR_BODIES["fedex"]()
    post("fedex", body, signed_headers("fedex", body, secret="acme-secret"), account="acme")
    assert RawWebhook.objects.get().account == account
