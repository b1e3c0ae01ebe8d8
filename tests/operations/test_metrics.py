"""/metrics: refused without the token or network, and its figures match known rows (parsed, not grepped)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from carriers.models import RawWebhook
from notifications.models import DeliveryAttempt, Notification
from orders.sources.models import RawIntake
from tests.carriers.conftest import generic_body, signed_headers
from tests.factories import make_order

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
S = Notification.Status
Outcome = DeliveryAttempt.Outcome


@pytest.fixture(autouse=True)
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_WINDOW_SECONDS = 3600
    return settings


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def value(values, metric: str, **labels) -> float | None:
    return values.get((metric, frozenset(labels.items())))


# --- who may scrape -----------------------------------------------------------------------------


def test_a_scrape_without_a_token_is_refused_with_401_and_the_error_shape(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": "token_required",
        "detail": "Send Authorization: Bearer <METRICS_TOKEN>.",
        "fields": {},
    }


def test_a_wrong_token_is_refused(client):
    response = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_without_a_token_configured_only_an_allowed_network_may_scrape(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    refused = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    assert refused.status_code == 403 and refused.json()["error"] == "network_not_allowed"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_forwarded_for_header_does_not_let_an_outsider_in(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 403


def test_an_empty_token_setting_never_matches_an_empty_bearer(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


# --- figures from known rows --------------------------------------------------------------------


def _raw(carrier: str, status: str, *, age: timedelta = timedelta(0)) -> None:
    RawWebhook.objects.create(carrier=carrier, headers={}, body=b"{}", received_at=timezone.now() - age, status=status)


def _intake(source: str, status: str) -> None:
    RawIntake.objects.create(source=source, headers={}, body=b"{}", received_at=timezone.now(), status=status)


_keys = iter(range(10**9))


def _notification(order, channel: str, provider: str, status: str, *, age=timedelta(0), **fields) -> Notification:
    n = Notification.objects.create(
        idempotency_key=f"metrics-test-{next(_keys)}",
        order=order,
        event="order_dispatched",
        audience="customer",
        channel=channel,
        provider=provider,
        status=status,
        **fields,
    )
    if age:
        Notification.objects.filter(pk=n.pk).update(created_at=timezone.now() - age)
    return n


def _attempt(n: Notification, number: int, outcome: str, code: str = "") -> None:
    DeliveryAttempt.objects.create(
        notification=n,
        number=number,
        provider=n.provider,
        started_at=timezone.now(),
        latency_ms=50,
        outcome=outcome,
        error_code=code,
    )


def test_webhook_counts_follow_the_stored_rows_within_the_window(client):
    _raw("ups", RawWebhook.Status.PROCESSED)
    _raw("ups", RawWebhook.Status.PROCESSED)
    _raw("ups", RawWebhook.Status.FAILED)
    _raw("ups", RawWebhook.Status.PROCESSED, age=timedelta(hours=2))  # outside the window
    _raw("fedex", RawWebhook.Status.PENDING, age=timedelta(hours=2))  # old, but still a dead letter
    _intake("shopify", RawIntake.Status.APPLIED)
    _intake("shopify", RawIntake.Status.REJECTED)

    values = scrape(client)
    recent = "oms_carrier_webhooks_recent"
    assert value(values, recent, carrier="ups", source="webhook", status="processed") == 2
    assert value(values, recent, carrier="ups", source="webhook", status="failed") == 1
    assert value(values, recent, carrier="fedex", source="webhook", status="pending") is None
    assert value(values, "oms_carrier_webhooks_dead_letters", carrier="ups", status="failed") == 1
    assert value(values, "oms_carrier_webhooks_dead_letters", carrier="fedex", status="pending") == 1
    assert value(values, "oms_source_webhooks_recent", source="shopify", status="applied") == 1
    assert value(values, "oms_source_webhooks_dead_letters", source="shopify", status="rejected") == 1
    assert value(values, "oms_metrics_window_seconds") == 3600
    assert value(values, "oms_metrics_database_up") == 1


def test_notification_counts_retries_and_dead_letters_follow_the_stored_rows(client):
    order = make_order()
    for _ in range(2):
        _attempt(_notification(order, "email", "sendgrid", S.SENT), 1, Outcome.SUCCESS)
    dead = _notification(order, "sms", "twilio", S.FAILED, dead_lettered_at=timezone.now())
    _attempt(dead, 1, Outcome.TRANSIENT, "http_503")
    _attempt(dead, 2, Outcome.TRANSIENT, "http_503")
    retrying = _notification(order, "sms", "twilio", S.SCHEDULED, status_reason="retry", queue="critical")
    _attempt(retrying, 1, Outcome.TRANSIENT, "timeout")
    _notification(order, "email", "sendgrid", S.SENT, age=timedelta(hours=2))  # outside the window

    values = scrape(client)
    recent = "oms_notifications_recent"
    assert value(values, recent, channel="email", provider="sendgrid", status="sent") == 2
    assert value(values, recent, channel="sms", provider="twilio", status="failed") == 1
    assert value(values, recent, channel="sms", provider="twilio", status="scheduled") == 1
    assert value(values, "oms_notifications_dead_lettered_recent", channel="sms", provider="twilio") == 1
    assert value(values, "oms_notification_attempts_recent", provider="twilio", outcome="transient") == 3
    assert value(values, "oms_notification_attempts_recent", provider="sendgrid", outcome="success") == 2
    assert value(values, "oms_notifications_waiting", status="scheduled", queue="critical") == 1
    assert value(values, "oms_notifications_retry_waiting") == 1


def test_queue_depth_counts_every_priority_of_each_queue_and_the_unacked(client, broker_redis):
    broker_redis.lpush("critical", "m1", "m2", "m3")
    broker_redis.lpush("bulk\x06\x163", "m4", "m5")  # kombu's list for priority 3
    broker_redis.hset("unacked", "tag-1", "m6")

    values = scrape(client)
    assert value(values, "oms_celery_queue_length", queue="critical") == 3
    assert value(values, "oms_celery_queue_length", queue="default") == 0
    assert value(values, "oms_celery_queue_length", queue="bulk") == 2
    assert value(values, "oms_celery_unacked") == 1
    assert value(values, "oms_metrics_redis_up") == 1


def test_a_broker_outage_marks_the_redis_part_down_and_keeps_the_rest(client, settings, broker_mode, own_redis):
    settings.CELERY_BROKER_URL = own_redis.url
    own_redis.stop()
    values = scrape(client)
    assert value(values, "oms_metrics_redis_up") == 0
    assert value(values, "oms_metrics_database_up") == 1


def test_the_demo_has_no_queue_series(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    values = scrape(client)
    assert not any(name == "oms_celery_queue_length" for name, _ in values)


def test_request_latency_is_observed_per_url_pattern_not_per_path(client):
    def count() -> float:
        values = scrape(client)
        return (
            value(values, "oms_http_request_duration_seconds_count", method="GET", route="healthz", status="2xx") or 0
        )

    before = count()
    client.get("/healthz")
    client.get("/healthz")
    assert count() == before + 2


def test_refused_webhooks_are_counted_per_carrier_and_status(client, settings):
    settings.CARRIER_WEBHOOK_SECRETS = {"generic": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

    def rejected(carrier: str, status: str) -> float:
        return value(scrape(client), "oms_webhooks_rejected_total", kind="carrier", name=carrier, status=status) or 0

    before_bad, before_unknown = rejected("generic", "401"), rejected("unknown", "404")
    body = generic_body({"tracking_number": "G1", "status": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
    headers = signed_headers("generic", body, secret="whsec_" + "A" * 32)  # signed with another secret
    path = "/webhooks/carriers/generic/"
    assert client.generic("POST", path, data=body, content_type="application/json", headers=headers).status_code == 401
    unknown = client.post("/webhooks/carriers/no-such-carrier-x1/", data=body, content_type="application/json")
    assert unknown.status_code == 404
    assert rejected("generic", "401") == before_bad + 1
    assert rejected("unknown", "404") == before_unknown + 1  # a made-up slug is not a new series


def test_a_real_worker_reports_task_latency_through_the_multiprocess_directory(client, real_worker, monkeypatch):
    from notifications.tasks import sweep_notifications
    from tests.operations.conftest import wait_for

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(real_worker["metrics_dir"]))
    sweep_notifications.apply_async(queue="critical")

    def ran() -> float | None:
        values = scrape(client)
        return value(values, "oms_celery_task_duration_seconds_count", task="notifications.tasks.sweep_notifications")

    assert wait_for(ran, timeout=30) == 1
    values = scrape(client)
    assert value(values, "oms_celery_task_queue_wait_seconds_count", queue="critical") == 1
    assert value(values, "oms_celery_workers_live", queue="critical") == 1
