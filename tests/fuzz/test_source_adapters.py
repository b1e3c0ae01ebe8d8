"""Every order-source adapter, fed arbitrary and mutated vendor payloads through the real webhook view.

Signed correctly, so the body reaches parsing. A source acknowledges what it stored (202) and
applies it from the queue (in-process here), so whatever the body: an answer below 500, a 4xx in
the API's error shape, the exact bytes stored, and a payload that cannot become an order ends as a
dead letter with its reason, never stuck as "received".
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from orders.sources.models import RawIntake
from tests.fuzz.strategies import payloads
from tests.sources.conftest import (
    GENERIC_SECRET,
    SHOPIFY_SECRET,
    WC_SECRET,
    fixture_bytes,
    generic_order,
    post_generic,
    post_shopify,
    post_woocommerce,
)

pytestmark = pytest.mark.django_db

VENDOR = {
    "shopify": (json.loads(fixture_bytes("shopify_orders_updated.json")), post_shopify),
    "woocommerce": (json.loads(fixture_bytes("woocommerce_order_updated.json")), post_woocommerce),
    "generic": ({"type": "order.created", "order": generic_order()}, post_generic),
}
DONE = {RawIntake.Status.APPLIED, RawIntake.Status.DUPLICATE, RawIntake.Status.STALE, RawIntake.Status.IGNORED}


@pytest.fixture
def source_secrets(settings):
    settings.SOURCE_WEBHOOK_SECRETS = {"shopify": SHOPIFY_SECRET, "woocommerce": WC_SECRET, "generic": GENERIC_SECRET}


@pytest.mark.parametrize("source", list(VENDOR))
def test_each_source_adapter_turns_any_signed_body_into_a_clear_answer_and_keeps_it(
    client, source_secrets, crashes, source
):
    document, post = VENDOR[source]

    @settings(settings.get_profile("fuzz"))
    @given(body=payloads(document))
    def fuzz(body: bytes) -> None:
        crashes.clear()
        response = post(client, body)

        assert response.status_code < 500
        answer = response.json()
        if response.status_code >= 400:
            assert response.status_code in (400, 413), answer
            assert isinstance(answer.get("error"), str) and answer["error"], answer
            return
        if answer.get("status") == "ping":
            return
        intake = RawIntake.objects.get(pk=answer["id"])
        assert bytes(intake.body) == body
        if intake.status in RawIntake.DEAD:
            assert intake.error, "a dead letter says why"
        else:
            assert intake.status in DONE, intake.status
        assert not crashes, [record.getMessage() for record in crashes]

    fuzz()
