"""Polling for carriers or shipments that cannot push: clients, subscriptions and the due loop."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from carriers.models import RawWebhook, TrackerPoll
from carriers.polling.base import PollClient, PollError, PollResult
from carriers.polling.easypost import EasyPostClient
from carriers.polling.shippo import ShippoClient
from orders.models import Shipment
from orders.statuses import FINAL_SHIPMENT_STATUSES

logger = logging.getLogger(__name__)

CLIENTS: dict[str, type[PollClient]] = {client.name: client for client in (EasyPostClient, ShippoClient)}
MAX_BACKOFF = timedelta(hours=24)


def get_client(name: str) -> PollClient:
    return CLIENTS[name]()


def interval_for(client: str) -> timedelta:
    minutes = settings.CARRIER_POLL_INTERVAL_MINUTES.get(client, settings.CARRIER_POLL_DEFAULT_INTERVAL_MINUTES)
    return timedelta(minutes=minutes)


def poll_subscribe(*, shipment: Shipment, client: str) -> TrackerPoll:
    poll, _ = TrackerPoll.objects.get_or_create(
        shipment=shipment, defaults={"client": client, "next_poll_at": timezone.now()}
    )
    return poll


def poll_client_for(carrier: str) -> str | None:
    """The client that polls shipments of this carrier, when it has no push (settings)."""
    return settings.CARRIER_POLL_CARRIERS.get(carrier)


def _stop_reason(poll: TrackerPoll, now: datetime) -> str:
    if poll.shipment.status in FINAL_SHIPMENT_STATUSES:
        return f"final status {poll.shipment.status}"
    if poll.shipment.created_at < now - timedelta(days=settings.CARRIER_POLL_MAX_DAYS):
        return f"older than {settings.CARRIER_POLL_MAX_DAYS} days"
    return ""


def poll_due(*, now: datetime | None = None, clients: dict[str, PollClient] | None = None) -> dict[str, int]:
    """Beat: poll one batch of due shipments. Claiming pushes next_poll_at first, so two beats
    never poll the same shipment; errors back off exponentially."""
    from carriers import services  # services imports pod/orders; keep this module light to import

    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            TrackerPoll.objects.select_for_update(skip_locked=True)
            .filter(active=True, next_poll_at__lte=now)
            .order_by("next_poll_at")[: settings.CARRIER_POLL_BATCH]
        )
        for poll in due:
            poll.next_poll_at = now + interval_for(poll.client)
            poll.save(update_fields=["next_poll_at"])
    counts = {"polled": 0, "failed": 0, "stopped": 0}
    for poll in due:
        poll = TrackerPoll.objects.select_related("shipment").get(pk=poll.pk)
        reason = _stop_reason(poll, now)
        if reason:
            TrackerPoll.objects.filter(pk=poll.pk).update(active=False, stopped_reason=reason)
            counts["stopped"] += 1
            continue
        client = (clients or {}).get(poll.client) or get_client(poll.client)
        try:
            result: PollResult = client.fetch(poll)
        except PollError as exc:
            _record_failure(poll, exc, now)
            counts["failed"] += 1
            continue
        raw = services.raw_webhook_store(
            carrier=result.adapter, body=result.body, headers={}, source=RawWebhook.Source.POLL, received_at=now
        )
        services.raw_webhook_process(raw_id=raw.pk)
        TrackerPoll.objects.filter(pk=poll.pk).update(
            external_id=result.external_id or poll.external_id, last_polled_at=now, failures=0, last_error=""
        )
        counts["polled"] += 1
    return counts


def _record_failure(poll: TrackerPoll, exc: PollError, now: datetime) -> None:
    failures = poll.failures + 1
    updates = {"failures": failures, "last_error": str(exc)[:2000], "last_polled_at": now}
    if exc.permanent:
        updates.update(active=False, stopped_reason=f"permanent error: {str(exc)[:80]}")
    else:
        updates["next_poll_at"] = now + min(interval_for(poll.client) * (2**failures), MAX_BACKOFF)
    TrackerPoll.objects.filter(pk=poll.pk).update(**updates)
    logger.warning("poll failed", extra={"client": poll.client, "shipment": poll.shipment_id, "error": str(exc)})
