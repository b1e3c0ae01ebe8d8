"""Each notification failure is logged once, under the correlation id of the event that caused it;
staff see recent failures grouped by cause."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import DeliveryAttempt, Notification
from oms_notify.logging import CorrelationIdFilter, correlation_scope, get_correlation_id
from orders.models import Customer, DomainEvent
from tests.carriers.conftest import SECRETS, generic_body, make_shipment, signed_headers
from tests.factories import UserFactory, make_order, support_user
from tests.notifications.helpers import dispatched_order, reachable_everywhere

pytestmark = pytest.mark.django_db
S = Notification.Status
Outcome = DeliveryAttempt.Outcome
BAD_PHONE = "+1555"  # the Twilio fake answers 21211, quoting the number, as Twilio does


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="notifications")
    caplog.handler.addFilter(CorrelationIdFilter())  # what the JSON handler adds in production
    return caplog


def failures(caplog, notification: Notification | None = None) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage() == "notification failed" and (notification is None or r.notification == notification.pk)
    ]


def sms_of(order) -> Notification:
    return Notification.objects.filter(order=order, channel="sms").latest("id")


# --- one line per failure -------------------------------------------------------------------------


def test_a_permanent_failure_is_logged_once_with_provider_code_kind_and_order_but_no_number(
    twilio, logs, django_capture_on_commit_callbacks
):
    order = make_order(inventory_allocated=True)
    Customer.objects.filter(pk=order.customer_id).update(phone=BAD_PHONE)
    reachable_everywhere(order.customer)
    from orders import services as order_services

    order_services.order_transition(order=order, transition="confirm", source="api")
    order_services.shipment_create(order=order, carrier="ups", tracking_number="1ZOPS1", source="api")
    with correlation_scope("cid-dispatch-1"), django_capture_on_commit_callbacks(execute=True):
        order_services.order_transition(order=order, transition="dispatch", source="api")

    sms = sms_of(order)
    [record] = failures(logs, sms)
    assert record.levelno == logging.ERROR
    assert (record.provider, record.code, record.kind, record.outcome) == ("twilio", "21211", "permanent", "permanent")
    assert (record.order, record.channel, record.http_status, record.attempt) == (order.number, "sms", 400, 1)
    assert record.correlation_id == "cid-dispatch-1" == sms.correlation_id
    assert record.exc_info is None
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in logs.records)
    assert BAD_PHONE not in everything and "ada@example.com" not in everything


def test_an_unexpected_sdk_error_is_logged_once_with_its_traceback(
    sendgrid, monkeypatch, logs, django_capture_on_commit_callbacks
):
    from notifications.transports.sendgrid import SendGridTransport

    def boom(self, notification):
        raise ValueError("surprise from the SDK")

    monkeypatch.setattr(SendGridTransport, "send", boom)
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = Notification.objects.filter(order=order, channel="email").latest("id")
    about_it = [
        r for r in logs.records if getattr(r, "notification", None) == email.pk and r.levelno >= logging.WARNING
    ]
    assert len(about_it) == 1
    [record] = about_it
    assert (record.code, record.kind, record.outcome) == ("unexpected", "transient", "retry")
    assert "ValueError: surprise from the SDK" in logs.text  # the traceback went out with the one line


def test_a_template_error_is_logged_once_as_a_permanent_render_failure(
    monkeypatch, logs, django_capture_on_commit_callbacks
):
    def broken(notification):
        raise KeyError("missing block")

    monkeypatch.setattr(services, "render_notification", broken)
    order = dispatched_order(django_capture_on_commit_callbacks)
    email = Notification.objects.filter(order=order, channel="email").latest("id")
    [record] = failures(logs, email)
    assert (record.code, record.kind, record.provider) == ("render", "permanent", "outbox")
    assert [r for r in logs.records if getattr(r, "notification", None) == email.pk] == [record]


def test_each_retry_is_its_own_line_and_the_last_says_dead_lettered(
    twilio, settings, logs, django_capture_on_commit_callbacks
):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    twilio.fail_next(503, times=10)
    order = dispatched_order(django_capture_on_commit_callbacks)
    sms = sms_of(order)
    Notification.objects.filter(pk=sms.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    services.notification_dispatch(notification_id=sms.pk)
    assert [(r.attempt, r.outcome, r.kind) for r in failures(logs, sms)] == [
        (1, "retry", "transient"),
        (2, "dead_lettered", "transient"),
    ]


# --- one correlation id from the carrier's webhook to every attempt ---------------------------------


def test_the_correlation_id_follows_a_carrier_webhook_to_every_notification_and_attempt(
    client, settings, twilio, logs, django_capture_on_commit_callbacks
):
    settings.CARRIER_WEBHOOK_SECRETS = dict(SECRETS)
    settings.CARRIER_PROCESS_INLINE = True
    shipment = make_shipment(carrier="generic", tracking_number="GOPS42")
    order = shipment.order
    Customer.objects.filter(pk=order.customer_id).update(phone=BAD_PHONE)
    reachable_everywhere(order.customer)
    before = DomainEvent.objects.filter(order=order).count(), Notification.objects.filter(order=order).count()
    body = generic_body(
        {"tracking_number": "GOPS42", "status": "out_for_delivery", "occurred_at": timezone.now().isoformat()}
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(
            "POST",
            "/webhooks/carriers/generic/",
            data=body,
            content_type="application/json",
            headers={**signed_headers("generic", body, secret=SECRETS["generic"]), "X-Request-ID": "carrier-evt-42"},
        )
    assert response.status_code == 200 and response["X-Request-ID"] == "carrier-evt-42"

    events = list(DomainEvent.objects.filter(order=order).order_by("id")[before[0] :])
    notifications = list(Notification.objects.filter(order=order).order_by("id")[before[1] :])
    assert events and notifications
    assert {e.correlation_id for e in events} == {"carrier-evt-42"}
    assert {n.correlation_id for n in notifications} == {"carrier-evt-42"}
    attempt_lines = [r for r in logs.records if getattr(r, "notification", None) in {n.pk for n in notifications}]
    assert {r.getMessage() for r in attempt_lines} >= {"notification sent", "notification failed"}
    assert {r.correlation_id for r in attempt_lines} == {"carrier-evt-42"}


def test_a_retry_run_under_another_id_logs_under_its_events_id_and_gives_the_callers_back(
    twilio, logs, django_capture_on_commit_callbacks
):
    twilio.fail_next(503, times=10)
    with correlation_scope("cid-order-event"):
        order = dispatched_order(django_capture_on_commit_callbacks)
    sms = sms_of(order)
    Notification.objects.filter(pk=sms.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    with correlation_scope("cid-sweeper-run"):
        services.notification_dispatch(notification_id=sms.pk)
        assert get_correlation_id() == "cid-sweeper-run"
    assert [r.correlation_id for r in failures(logs, sms)] == ["cid-order-event", "cid-order-event"]


# --- the failures page ----------------------------------------------------------------------------


def _n(order, provider: str, channel: str, status: str, **fields) -> Notification:
    return Notification.objects.create(
        idempotency_key=f"fail-{provider}-{Notification.objects.count()}",
        order=order,
        event="order_dispatched",
        audience="customer",
        channel=channel,
        provider=provider,
        status=status,
        **fields,
    )


def _attempt(n, number: int, outcome: str, code: str, *, ago: timedelta = timedelta(minutes=5)) -> None:
    DeliveryAttempt.objects.create(
        notification=n,
        number=number,
        provider=n.provider,
        started_at=timezone.now() - ago,
        latency_ms=40,
        outcome=outcome,
        error_code=code,
    )


@pytest.fixture
def known_failures():
    order = make_order()
    invalid = [_n(order, "twilio", "sms", S.FAILED, error_code="21211", attempts=1) for _ in range(2)]
    for n in invalid:
        _attempt(n, 1, Outcome.PERMANENT, "21211")
    outage = _n(order, "twilio", "sms", S.SCHEDULED, error_code="http_503", attempts=3)
    for number in (1, 2, 3):
        _attempt(outage, number, Outcome.TRANSIENT, "http_503", ago=timedelta(minutes=10 * number))
    bounced = _n(order, "sendgrid", "email", S.BOUNCED, sent_at=timezone.now(), attempts=1)
    _attempt(bounced, 1, Outcome.SUCCESS, "")
    _n(order, "outbox", "email", S.FAILED, error_code="render")
    sent = _n(order, "sendgrid", "email", S.SENT, sent_at=timezone.now(), attempts=1)
    _attempt(sent, 1, Outcome.SUCCESS, "")
    old = _n(order, "twilio", "sms", S.FAILED, error_code="21211", attempts=1)
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    _attempt(old, 1, Outcome.PERMANENT, "21211", ago=timedelta(days=10))  # before the 7-day period
    return {"invalid": invalid, "outage": outage}


def test_failures_are_grouped_by_provider_code_and_kind_with_counts_and_times(client, known_failures):
    client.force_login(support_user())
    response = client.get("/admin/operations/notificationfailure/")
    assert response.status_code == 200
    causes = {(c.provider, c.code, c.kind): c for c in response.context["causes"]}
    assert set(causes) == {
        ("twilio", "21211", "permanent"),
        ("twilio", "http_503", "transient"),
        ("sendgrid", "receipt:bounced", "permanent"),
        ("outbox", "render", "permanent"),
    }
    outage = causes[("twilio", "http_503", "transient")]
    assert (outage.count, outage.messages) == (3, 1)
    assert abs((outage.last_seen - outage.first_seen) - timedelta(minutes=20)) < timedelta(seconds=1)
    assert (causes[("twilio", "21211", "permanent")].count, causes[("twilio", "21211", "permanent")].messages) == (2, 2)
    assert response.context["causes"][0].code == "http_503"  # most frequent first


def test_a_causes_link_opens_the_notification_list_filtered_to_it(client, known_failures):
    client.force_login(support_user())
    causes = client.get("/admin/operations/notificationfailure/").context["causes"]
    invalid = next(c for c in causes if c.code == "21211")
    listing = client.get(invalid.link)
    assert listing.status_code == 200
    assert {n.pk for n in listing.context["cl"].result_list} == {n.pk for n in known_failures["invalid"]}


def test_the_period_can_be_widened_to_thirty_days(client, known_failures):
    client.force_login(support_user())
    causes = client.get("/admin/operations/notificationfailure/?days=30").context["causes"]
    assert next(c for c in causes if c.code == "21211").count == 3


def test_the_admin_index_links_the_failures_page_for_staff_who_read_the_log(client):
    client.force_login(support_user())
    assert b"/admin/operations/notificationfailure/" in client.get("/admin/").content


def test_staff_who_may_not_read_the_notification_log_are_refused(client):
    client.force_login(UserFactory())
    assert client.get("/admin/operations/notificationfailure/").status_code == 403
    assert b"/admin/operations/notificationfailure/" not in client.get("/admin/").content


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/admin/operations/notificationfailure/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_failures_page_offers_no_row_pages_of_its_own(client, known_failures):
    client.force_login(support_user())
    row = known_failures["invalid"][0]
    assert client.get(f"/admin/operations/notificationfailure/{row.pk}/change/").status_code == 404
