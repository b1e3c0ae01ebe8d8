"""oms_notify.fastsql: locked loads and inserts built once must read and write what the ORM would."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from carriers.models import RawWebhook
from notifications.models import Notification
from oms_notify.fastsql import insert_many, insert_returning, load_for_update
from orders.models import Order, Shipment, ShipmentEvent
from tests.notifications.helpers import messages, shipped_order
from tests.sqlcapture import executed

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_a_locked_load_equals_what_the_orm_loads():
    order, shipment = shipped_order()
    Shipment.objects.filter(pk=shipment.pk).update(pod_latitude=Decimal("51.500000"), last_event_at=timezone.now())
    for model, pk in ((Order, order.pk), (Shipment, shipment.pk)):
        got = load_for_update(model, pk)
        assert _values(got) == _values(model.objects.get(pk=pk))
        assert not got._state.adding


def test_a_locked_load_of_a_missing_row_is_none():
    assert load_for_update(Order, 0) is None


def test_an_insert_reads_its_key_back_and_stores_what_save_would():
    raw = RawWebhook(carrier="generic", headers={"X-Id": "1"}, body=b"\x00{}", received_at=timezone.now())
    assert insert_returning(raw)
    stored = RawWebhook.objects.get(pk=raw.pk)
    assert (stored.headers, bytes(stored.body), stored.status) == ({"X-Id": "1"}, b"\x00{}", RawWebhook.Status.RECEIVED)


def test_an_existing_unique_key_is_skipped_not_an_error():
    order, shipment = shipped_order()
    now = timezone.now()

    def row() -> ShipmentEvent:
        return ShipmentEvent(shipment=shipment, status="in_transit", occurred_at=now, received_at=now, dedupe_key="k1")

    first = row()
    assert insert_returning(first, skip_conflicts_on=("shipment", "dedupe_key"))
    assert first.recorded_at is not None  # auto_now_add, as save() sets it
    again = row()
    assert not insert_returning(again, skip_conflicts_on=("shipment", "dedupe_key"))
    assert again.pk is None
    assert ShipmentEvent.objects.filter(shipment=shipment, dedupe_key="k1").count() == 1


def test_a_batch_returns_only_the_rows_written_each_with_its_own_key():
    order, _ = shipped_order()
    existing = messages(order)[0]

    def copy(key: str) -> Notification:
        n = Notification.objects.get(pk=existing.pk)
        n.pk, n.idempotency_key, n.public_id = None, key, Notification._meta.get_field("public_id").get_default()
        return n

    batch = [copy("new-a"), copy(existing.idempotency_key), copy("new-b")]
    written = insert_many(batch, skip_conflicts_on=("idempotency_key",))
    assert [n.idempotency_key for n in written] == ["new-a", "new-b"]
    for n in written:
        assert Notification.objects.get(pk=n.pk).idempotency_key == n.idempotency_key
    assert batch[1].pk is None


def test_an_audit_row_and_its_event_are_written_together_and_the_event_names_it_without_a_query():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from oms_notify.fastsql import insert_pair
    from orders.models import DomainEvent, StatusChange

    order, _ = shipped_order()
    change = StatusChange(
        order=order, from_status="a", to_status="b", transition="t", source="api", occurred_at=timezone.now()
    )
    event = DomainEvent(name="order.status_changed", order=order, status_change=change, payload={"to": "b"})
    with CaptureQueriesContext(connection) as captured:
        insert_pair(change, event, link="status_change")
        assert event.status_change is change
    assert len(captured) == (1 if connection.vendor == "postgresql" else 2)
    stored = DomainEvent.objects.select_related("status_change").get(pk=event.pk)
    assert stored.status_change_id == change.pk
    assert (stored.status_change.to_status, stored.payload) == ("b", {"to": "b"})
    assert change.recorded_at is not None and event.created_at is not None


def test_a_locked_load_takes_the_row_lock_on_postgresql():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    order, _ = shipped_order()
    with CaptureQueriesContext(connection) as queries:
        load_for_update(Order, order.pk)
        load_for_update(RawWebhook, 0, skip_locked=True)
    first, second = executed(queries)
    assert first.endswith("FOR UPDATE") and second.endswith("FOR UPDATE SKIP LOCKED")
