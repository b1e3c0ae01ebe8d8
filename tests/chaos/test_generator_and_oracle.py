"""The chaos harness's own parts, without services: its traffic speaks the vendors' formats and
its oracle applies the product's rules. A harness that drifted from the adapters would pass for
the wrong reason (every request refused), so these run in every suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory

from carriers.adapters import ParseError, VerificationError, get_adapter
from chaos import generator, oracle

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan() -> generator.Plan:
    return generator.plan_build(events=400, orders=24, seed=3, now=NOW)


def _request(delivery: generator.Delivery):
    headers = generator.sign(delivery)
    content_type = headers.pop("Content-Type")
    return RequestFactory().post(
        f"/webhooks/carriers/{delivery.carrier}/",
        data=delivery.body,
        content_type=content_type,
        headers=headers,
    )


def test_the_plan_has_the_mix_the_issue_asks_for(plan):
    counts = plan.counts()

    assert counts == {
        "valid": 348,
        "duplicate": 40,
        "malformed": 8,
        "bad_signature": 4,
        "out_of_order": 21,
    }
    assert {d.carrier for d in plan.deliveries} == set(generator.CARRIERS)


def test_every_valid_webhook_passes_its_adapters_signature_check_and_parses_to_its_scans(plan):
    for delivery in [d for d in plan.deliveries if d.kind == "valid"]:
        adapter = get_adapter(delivery.carrier)
        adapter.verify(_request(delivery), [generator.SECRETS[delivery.carrier]])

        events = adapter.parse(delivery.body)

        newest = plan.scans[delivery.scans[-1]]
        assert events[-1].tracking_number == plan.orders[delivery.order]["tracking_number"]
        assert (events[-1].status, events[-1].occurred_at) == (newest.status, newest.occurred_at)
        assert len(events) == len(delivery.scans) or delivery.carrier == "generic"


def test_every_badly_signed_webhook_is_refused_by_its_adapter(plan):
    forged = [d for d in plan.deliveries if d.kind == "bad_signature"]

    for delivery in forged:
        with pytest.raises(VerificationError):
            get_adapter(delivery.carrier).verify(_request(delivery), [generator.SECRETS[delivery.carrier]])
    assert forged


def test_every_malformed_webhook_is_signed_correctly_but_refused_by_the_parser(plan):
    malformed = [d for d in plan.deliveries if d.kind == "malformed"]

    for delivery in malformed:
        adapter = get_adapter(delivery.carrier)
        adapter.verify(_request(delivery), [generator.SECRETS[delivery.carrier]])
        with pytest.raises(ParseError):
            adapter.parse(delivery.body)
    assert len(malformed) == 8


def test_the_oracle_keeps_a_delivered_parcel_delivered_when_a_newer_stray_scan_follows():
    scans = ["info_received", "in_transit", "delivered", "in_transit"]

    assert _final(scans) == ("delivered", "delivered", "delivered")


def test_the_oracle_lets_a_delivered_parcel_go_back_to_its_sender():
    assert _final(["in_transit", "delivered", "returned_to_sender"])[:2] == ("returned_to_sender", "returned_to_sender")


def test_the_oracle_follows_the_newest_scan_whatever_order_the_webhooks_came_in():
    assert _final(["in_transit", "out_for_delivery", "attempt_failed"]) == (
        "attempt_failed",
        "delivery_failed",
        "delivery_failed",
    )


def _final(statuses: list[str]) -> tuple[str, str, str]:
    scans = {f"s{k}": generator.Scan(0, status, NOW + timedelta(hours=k), f"s{k}") for k, status in enumerate(statuses)}
    # Delivered in reverse: the oracle must not care.
    deliveries = [
        generator.Delivery(k, "generic", 0, b"{}", "valid", f"d{k}", [scan_id])
        for k, scan_id in enumerate(reversed(list(scans)))
    ]
    plan = generator.Plan([{"index": 0, "tracking_number": "T0"}], scans, deliveries, seed=0)
    result = oracle.expected_statuses(plan)[0]
    return result["shipment"], result["order"], result["message"]


def _sms_row(pk: int, status: str) -> dict:
    return {
        "id": pk, "public_id": f"p{pk}", "order_id": None, "order_index": None, "event": "out_for_delivery",
        "audience": "customer", "channel": "sms", "provider": "twilio", "recipient": "+15550001",
        "body_text": "Out for delivery", "status": status, "status_reason": "", "attempts": 1, "error_code": "",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("statuses", "arrivals", "lost"),
    [
        (["suppressed", "sent"], 1, 0),  # the superseded twin must not take the sent row's arrival
        (["sent", "sent"], 1, 1),  # two sent, one arrived: one is lost, whichever it is
        (["sent", "sent"], 2, 0),
    ],
)
def test_identical_sms_texts_are_matched_to_the_rows_marked_sent_first(statuses, arrivals, lost):
    rows = [_sms_row(pk, status) for pk, status in enumerate(statuses, start=1)]
    empty = generator.Plan(orders=[], scans={}, deliveries=[], seed=0)
    found = oracle.check_notifications(
        empty, {}, rows, [("+15550001", "Out for delivery", float(i)) for i in range(arrivals)], [], [], 3.0
    )
    assert found["lost"] == lost
    assert found["delivered"] == min(arrivals, statuses.count("sent"))
