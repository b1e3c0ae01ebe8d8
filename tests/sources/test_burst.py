"""A burst of shop webhooks through the real queue: a real Celery worker and Redis broker.

Every request is acknowledged at once (stored, queued) and every order lands; nothing is lost or
applied twice. The 10x figures come from bench/intake_burst.py; this keeps the path honest.
"""

from __future__ import annotations

import pytest
from django.test import Client

from orders.models import Order
from orders.sources.models import RawIntake
from tests.e2e.conftest import celery_worker_process, wait_for  # noqa: F401  (the real worker fixture)
from tests.sources.conftest import post_shopify, shopify_order

BURST = 40


@pytest.mark.usefixtures("celery_worker_process")
def test_a_burst_is_queued_on_receipt_and_every_order_lands_once_through_the_worker():
    client = Client()
    answers = [
        post_shopify(
            client,
            shopify_order(id=10_000 + n, cancelled_at=None, financial_status="paid"),
            topic="orders/create",
        )
        for n in range(BURST)
    ]
    # The same deliveries again (Shopify retries): answered as duplicates, never applied twice.
    webhook_ids = [RawIntake.objects.get(pk=a.json()["id"]).delivery_id.removeprefix("wh:") for a in answers[:5]]
    repeats = [
        post_shopify(
            client, shopify_order(id=10_000 + n, cancelled_at=None, financial_status="paid"), webhook_id=webhook_ids[n]
        )
        for n in range(5)
    ]

    # "queued": acknowledged once stored, never after applying (the speed is bench/intake_burst.py's).
    assert {(a.status_code, a.json()["status"]) for a in answers} == {(202, "queued")}
    assert {a.json()["status"] for a in repeats} == {"duplicate"}
    wait_for(lambda: not RawIntake.objects.filter(status="received").exists(), timeout=60)
    assert Order.objects.filter(source="shopify").count() == BURST
    assert set(RawIntake.objects.values_list("status", flat=True)) == {"applied"}
    assert set(Order.objects.values_list("status", flat=True)) == {"confirmed"}
