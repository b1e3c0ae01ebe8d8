"""The retention policy: message bodies and raw payloads older than RETENTION_DAYS lose their personal data.

Rows are kept (status, timestamps, ids, counts, dedupe keys, signature results); only what they
said is removed, in bounded batches so a first run over years of data neither locks tables for
long nor holds everything in memory. A purged raw payload keeps its size and SHA-256 in the
X-Oms-Purged header entry, and what is left of the body is the scrubbed structure: a purged carrier
webhook or intake can no longer be replayed or retried. Messages not sent yet are never touched.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from privacy.models import PrivacyRequest
from privacy.scrub import PURGED_HEADER, purge_marker, scrub_bytes, scrub_headers, scrub_json

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Target:
    label: str
    age_field: str
    # Rows still holding personal data (the purge's own marker excludes what it did before).
    pending: Callable[[], QuerySet]
    purge: Callable[[list[int], str], None]


def _notifications() -> QuerySet:
    from notifications.models import Notification

    S = Notification.Status
    unsent = (S.PENDING, S.SCHEDULED, S.HELD, S.SENDING)
    empty = Q(subject="", body_text="", body_html="", data={}, proof={})
    return Notification.objects.exclude(status__in=unsent).exclude(empty)


def _purge_notifications(ids: list[int], _at: str) -> None:
    from notifications.models import Notification

    # A queryset update: updated_at keeps the time of the last real change.
    Notification.objects.filter(pk__in=ids).update(subject="", body_text="", body_html="", data={}, proof={})


def _raw_payloads(model_path: str) -> Callable[[], QuerySet]:
    def pending() -> QuerySet:
        from django.apps import apps

        return apps.get_model(model_path)._default_manager.exclude(headers__has_key=PURGED_HEADER)

    return pending


def _purge_raw(model_path: str) -> Callable[[list[int], str], None]:
    def purge(ids: list[int], at: str) -> None:
        from django.apps import apps

        model = apps.get_model(model_path)
        names = {f.name for f in model._meta.concrete_fields}
        for row in model._default_manager.filter(pk__in=ids):
            body = bytes(row.body or b"")
            updates = {
                "body": scrub_bytes(body),
                "headers": {**scrub_headers(row.headers), PURGED_HEADER: purge_marker(body, at=at)},
                "source_address": None,
            }
            if "edited_payload" in names and row.edited_payload is not None:
                updates["edited_payload"] = scrub_json(row.edited_payload)
            if "customer_email" in names:
                updates["customer_email"] = ""
            model._default_manager.filter(pk=row.pk).update(**updates)

    return purge


def _receipts() -> QuerySet:
    from notifications.models import ProviderReceipt

    return ProviderReceipt.objects.exclude(payload__has_key="_purged")


def _purge_receipts(ids: list[int], at: str) -> None:
    from notifications.models import ProviderReceipt

    for row in ProviderReceipt.objects.filter(pk__in=ids).only("pk", "payload"):
        payload = scrub_json(row.payload) if isinstance(row.payload, dict) else {}
        ProviderReceipt.objects.filter(pk=row.pk).update(payload={"_purged": at, **payload})


_PURGED_BODY_PREFIX = '{"_purged":'


def _webhook_messages() -> QuerySet:
    from notifications.outbound_models import WebhookMessage

    # Only finished messages: a pending one must go out with the exact bytes it was signed with.
    return WebhookMessage.objects.filter(
        status__in=(WebhookMessage.Status.DELIVERED, WebhookMessage.Status.FAILED)
    ).exclude(body__startswith=_PURGED_BODY_PREFIX)


def _purge_webhook_messages(ids: list[int], at: str) -> None:
    from notifications.outbound_models import WebhookMessage

    for row in WebhookMessage.objects.filter(pk__in=ids).only("pk", "body"):
        try:
            scrubbed = scrub_json(json.loads(row.body))
        except ValueError:
            scrubbed = None
        body = json.dumps({"_purged": at, "body": scrubbed}, separators=(",", ":"))
        WebhookMessage.objects.filter(pk=row.pk).update(body=body)


def _webhook_attempts() -> QuerySet:
    from notifications.outbound_models import WebhookAttempt

    return WebhookAttempt.objects.exclude(response_body="")


def _purge_webhook_attempts(ids: list[int], _at: str) -> None:
    from notifications.outbound_models import WebhookAttempt

    WebhookAttempt.objects.filter(pk__in=ids).update(response_body="")


def _delivery_requests() -> QuerySet:
    from orders.models import DeliveryRequest

    return DeliveryRequest.objects.filter(client_ip__isnull=False)


def _purge_delivery_requests(ids: list[int], _at: str) -> None:
    from orders.models import DeliveryRequest

    DeliveryRequest.objects.filter(pk__in=ids).update(client_ip=None)


TARGETS: list[Target] = [
    Target("notifications.Notification", "created_at", _notifications, _purge_notifications),
    Target(
        "carriers.RawWebhook", "received_at", _raw_payloads("carriers.RawWebhook"), _purge_raw("carriers.RawWebhook")
    ),
    Target("orders.RawIntake", "received_at", _raw_payloads("orders.RawIntake"), _purge_raw("orders.RawIntake")),
    Target("notifications.ProviderReceipt", "received_at", _receipts, _purge_receipts),
    Target("notifications.WebhookMessage", "created_at", _webhook_messages, _purge_webhook_messages),
    Target("notifications.WebhookAttempt", "started_at", _webhook_attempts, _purge_webhook_attempts),
    Target("orders.DeliveryRequest", "created_at", _delivery_requests, _purge_delivery_requests),
]


def _expired(target: Target, cutoff: datetime.datetime) -> QuerySet:
    return target.pending().filter(**{f"{target.age_field}__lt": cutoff})


def retention_cutoff(*, now: datetime.datetime | None = None, days: int | None = None) -> datetime.datetime:
    days = settings.RETENTION_DAYS if days is None else days
    return (now or timezone.now()) - datetime.timedelta(days=days)


def retention_due(*, cutoff: datetime.datetime) -> dict[str, int]:
    """How many rows each target would purge now (what the progress bar counts down)."""
    return {t.label: _expired(t, cutoff).count() for t in TARGETS}


def _batches(target: Target, cutoff: datetime.datetime, size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(_expired(target, cutoff).filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def retention_purge(
    *,
    now: datetime.datetime | None = None,
    days: int | None = None,
    batch_size: int | None = None,
    via: str = PrivacyRequest.Via.SCHEDULE,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Purge everything older than the retention period, one short transaction per batch; recorded."""
    cutoff = retention_cutoff(now=now, days=days)
    size = batch_size or settings.RETENTION_BATCH_SIZE
    at = (now or timezone.now()).isoformat()
    counts: dict[str, int] = {}
    for target in TARGETS:
        for ids in _batches(target, cutoff, size):
            with transaction.atomic():
                target.purge(ids, at)
            counts[target.label] = counts.get(target.label, 0) + len(ids)
            if progress:
                progress(len(ids))
    if counts:
        PrivacyRequest.objects.create(kind=PrivacyRequest.Kind.PURGE, via=via, counts=counts)
    return counts
