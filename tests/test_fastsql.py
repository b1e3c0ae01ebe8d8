"""oms_notify.fastsql: statements built once must load and write exactly what the ORM would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import CustomerPreferences, DeliveryAttempt, Notification, ProviderHealth
from notifications.services import DISPATCH_RELATED
from oms_notify.fastsql import JoinedLoader, insert_and_update, insert_returning, update_row
from orders.models import Customer
from tests.notifications.helpers import messages, shipped_order
from tests.sqlcapture import executed

pytestmark = pytest.mark.django_db

LOADER = JoinedLoader(Notification, *DISPATCH_RELATED)


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _a_message(**fields) -> Notification:
    order, shipment = shipped_order()
    from notifications.preferences import preferences_for

    preferences_for(order.customer)  # the reverse one-to-one exists
    n = messages(order)[0]
    Notification.objects.filter(pk=n.pk).update(shipment=shipment, data={"k": [1, "two"]}, **fields)
    return n


def test_the_row_and_its_relations_equal_what_select_related_loads_and_reading_them_makes_no_query():
    n = _a_message(due_at=timezone.now() + timedelta(hours=1))
    expected = Notification.objects.select_related(*DISPATCH_RELATED).get(pk=n.pk)
    got = LOADER.first(n.pk)
    with CaptureQueriesContext(connection) as queries:
        pairs = [
            (got, expected),
            (got.order, expected.order),
            (got.order.brand, expected.order.brand),
            (got.order.customer, expected.order.customer),
            (got.order.customer.notification_preferences, expected.order.customer.notification_preferences),
            (got.shipment, expected.shipment),
        ]
        # The links run both ways, as with select_related.
        assert got.order.customer.notification_preferences.customer is got.order.customer
    assert queries.captured_queries == []
    for mine, theirs in pairs:
        assert type(mine) is type(theirs)
        assert _values(mine) == _values(theirs)
        assert mine._state.adding is False and mine._state.db == "default"
    assert got.data == {"k": [1, "two"]}  # JSON decoded
    assert got.due_at.tzinfo is not None  # aware datetimes, like the ORM


def test_missing_relations_are_none_forward_and_does_not_exist_reverse():
    n = _a_message()
    Notification.objects.filter(pk=n.pk).update(shipment=None)
    CustomerPreferences.objects.filter(customer_id=n.order.customer_id).delete()
    got = LOADER.first(n.pk)
    with CaptureQueriesContext(connection) as queries:
        assert got.shipment is None
        with pytest.raises(Customer.notification_preferences.RelatedObjectDoesNotExist):
            got.order.customer.notification_preferences  # noqa: B018 - the read is the test
    assert queries.captured_queries == []


def test_no_row_is_none_and_a_row_without_its_parent_relation_loads_alone():
    assert LOADER.first(10**9) is None
    n = _a_message()
    Notification.objects.filter(pk=n.pk).update(order=None)
    got = LOADER.first(n.pk)
    assert got.order is None and got.pk == n.pk


def test_lookup_by_another_unique_field():
    ProviderHealth.objects.create(provider="twilio", consecutive_failures=3)
    loader = JoinedLoader(ProviderHealth, by="provider")
    assert loader.first("twilio").consecutive_failures == 3
    assert loader.first("sendgrid") is None


def test_only_to_one_relations_are_accepted():
    with pytest.raises(ValueError, match="not a to-one relation"):
        JoinedLoader(Notification, "attempt_log").first(1)


def test_update_row_sets_values_and_increments_in_one_statement():
    n = _a_message(attempts=2)
    when = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        changed = update_row(Notification, n.pk, increment={"attempts": 1}, status="sent", sent_at=when, data={"a": 1})
    assert changed == 1 and len(executed(queries)) == 1
    n.refresh_from_db()
    assert (n.attempts, n.status, n.sent_at, n.data) == (3, "sent", when, {"a": 1})
    assert update_row(Notification, 10**9, status="sent") == 0


@pytest.fixture(params=["postgresql", "portable"])
def dialect(request, monkeypatch):
    """Each write helper both ways: its one-statement PostgreSQL form, and the portable statements
    that SQLite (the demo) runs, here run on the same PostgreSQL database."""
    if request.param == "portable":
        monkeypatch.setattr(connection, "vendor", "portable")
    return request.param


def test_an_update_returns_the_row_with_its_new_values_and_its_relations(dialect):
    n = _a_message(attempts=2, status="pending")
    when = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        got = LOADER.update(
            n.pk,
            where="status = %s",
            where_params=["pending"],
            increment={"attempts": 1},
            status="sending",
            claimed_at=when,
        )
    assert len(executed(queries)) == (1 if dialect == "postgresql" else 2)
    assert (got.attempts, got.status, got.claimed_at) == (3, "sending", when)
    expected = Notification.objects.select_related(*DISPATCH_RELATED).get(pk=n.pk)
    assert _values(got) == _values(expected)
    with CaptureQueriesContext(connection) as queries:
        assert _values(got.order.customer.notification_preferences) == _values(
            expected.order.customer.notification_preferences
        )
        assert _values(got.shipment) == _values(expected.shipment)
    assert queries.captured_queries == []


def test_an_update_whose_condition_fails_changes_nothing_and_returns_none(dialect):
    n = _a_message(attempts=2, status="sent")
    assert LOADER.update(n.pk, where="status = %s", where_params=["pending"], increment={"attempts": 1}) is None
    assert LOADER.update(10**9, status="sending") is None
    assert Notification.objects.get(pk=n.pk).attempts == 2


def test_an_insert_and_an_update_are_written_together(dialect):
    n = _a_message()
    attempt = DeliveryAttempt(notification=n, number=1, provider="twilio", started_at=timezone.now(), latency_ms=3)
    assert insert_and_update(attempt, Notification, n.pk, status="sent", provider_message_id="SM1") == 1
    assert Notification.objects.filter(pk=n.pk, status="sent", provider_message_id="SM1").exists()
    row = DeliveryAttempt.objects.get(notification=n)
    assert (row.number, row.provider, row.latency_ms, row.outcome, row.error_message) == (1, "twilio", 3, "", "")


def test_an_insert_and_update_is_all_or_nothing(dialect):
    n = _a_message()
    attempt = DeliveryAttempt(notification=n, number=1, provider="twilio", started_at=timezone.now(), latency_ms=3)
    # The UPDATE breaks a constraint (another row's idempotency key): the attempt is not kept either.
    other = Notification.objects.exclude(pk=n.pk).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_and_update(attempt, Notification, n.pk, idempotency_key=other.idempotency_key)
    assert not DeliveryAttempt.objects.filter(notification=n).exists()


def test_insert_returning_fills_the_defaults_the_orm_would():
    n = _a_message()
    started = timezone.now()
    attempt = DeliveryAttempt(notification=n, number=1, provider="twilio", started_at=started, latency_ms=7)
    attempt.outcome = "success"
    assert insert_returning(attempt) and attempt.pk is not None
    row = DeliveryAttempt.objects.get(notification=n, number=1)
    assert (row.provider, row.started_at, row.outcome) == ("twilio", started, "success")
    assert (row.error_code, row.error_message, row.retry_at, row.http_status) == ("", "", None, None)


def test_get_raises_does_not_exist_and_a_locked_load_refuses_joins():
    with pytest.raises(Notification.DoesNotExist):
        LOADER.get(10**9)
    with pytest.raises(ValueError, match="FOR UPDATE"):
        JoinedLoader(Notification, "order", for_update=True)


def _prepared_on_server() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'fastsql_%%'")
        return {name for (name,) in cursor.fetchall()}


def _new_server_connection() -> None:
    connection.close()
    connection.connect()


@pytest.mark.django_db(transaction=True)
def test_a_statement_is_prepared_once_per_connection_and_then_executed_by_name():
    n = _a_message(status="pending")
    _new_server_connection()
    with CaptureQueriesContext(connection) as first:
        LOADER.first(n.pk)
    with CaptureQueriesContext(connection) as second:
        got = LOADER.first(n.pk)
    assert [q["sql"].split(" ", 1)[0] for q in first.captured_queries] == ["PREPARE", "EXECUTE"]
    assert [q["sql"].split(" ", 1)[0] for q in second.captured_queries] == ["EXECUTE"]
    assert got.pk == n.pk and got.order.pk == n.order_id
    assert executed(second)[0].startswith("SELECT") and '"notifications_notification"' in executed(second)[0]


@pytest.mark.django_db(transaction=True)
def test_a_prepared_statement_outlives_a_rollback_and_a_new_connection_prepares_again():
    n = _a_message(status="pending")
    with pytest.raises(RuntimeError), transaction.atomic():
        LOADER.first(n.pk)
        raise RuntimeError("roll back")
    assert LOADER.first(n.pk).pk == n.pk  # still prepared on the server: no error, no second PREPARE
    assert _prepared_on_server()
    # The server connection goes (a restart, CONN_MAX_AGE): the next use prepares on the new one.
    _new_server_connection()
    assert _prepared_on_server() == set()
    assert LOADER.first(n.pk).pk == n.pk
    assert _prepared_on_server()


def test_prepared_statements_can_be_turned_off_for_a_pooler(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    n = _a_message(status="pending")
    with CaptureQueriesContext(connection) as queries:
        assert LOADER.first(n.pk).pk == n.pk
    assert [q["sql"].split(" ", 1)[0] for q in queries.captured_queries] == ["SELECT"]
