"""Tasks run in a real worker, and the correlation id of whoever enqueued them follows them there."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from oms_notify.logging import set_correlation_id
from orders.models import Order
from orders.statuses import OrderStatus as OS
from orders.tasks import complete_delivered_orders
from tests.e2e.conftest import wait_for
from tests.orders.builders import order_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_completes_due_orders_and_logs_with_the_callers_correlation_id(celery_worker_process):
    order = order_in(OS.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=30))

    set_correlation_id("e2e-correlation-42")
    try:
        complete_delivered_orders.delay()
    finally:
        set_correlation_id(None)

    wait_for(lambda: Order.objects.get(pk=order.pk).status == OS.COMPLETED)
    lines = [json.loads(line) for line in celery_worker_process.read_text().splitlines() if line.startswith("{")]
    moved = wait_for(
        lambda: [
            r
            for r in (json.loads(x) for x in celery_worker_process.read_text().splitlines() if x.startswith("{"))
            if r.get("message") == "order moved"
        ]
    )
    assert moved[0]["correlation_id"] == "e2e-correlation-42"
    assert moved[0]["order"] == order.number and moved[0]["to"] == "completed"
    assert all("correlation_id" in r for r in lines)
