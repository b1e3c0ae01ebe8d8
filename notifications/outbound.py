"""Signed outbound webhooks (Standard Webhooks) for every other system: WMS, CRM, ERP, warehouse.

- Messages are written by `on_domain_event` inside the orders transaction of the change (one row
  per subscribed endpoint, thin versioned JSON), and enqueued on commit.
- `message_deliver` signs (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`,
  one signature per valid secret during a rotation) and posts through notifications.netguard,
  which refuses private/loopback/link-local destinations after DNS resolution, connects to the
  address it checked and checks every redirect again.
- Failures retry on OUTBOUND_WEBHOOK_SCHEDULE (8 attempts over about 27 h, upward jitter, never
  sooner than Retry-After) from the `next_attempt_at` column and the beat sweeper; a 410 stops and
  disables the endpoint; an endpoint with no success for OUTBOUND_WEBHOOK_DISABLE_AFTER_DAYS is
  disabled and staff are told. Every attempt is a WebhookAttempt row. Replays start a new round.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import netguard
from notifications.brand_cache import BrandCache
from notifications.outbound_models import EventType, WebhookAttempt, WebhookEndpoint, WebhookMessage
from oms_notify import crypto
from oms_notify.signing import new_standard_secret, standard_sign
from orders import events
from orders.models import DomainEvent

logger = logging.getLogger(__name__)
# Staff alerts (endpoint disabled): a named logger that log routing sends to the on-call channel.
alerts = logging.getLogger("oms_notify.alerts.webhooks")
M = WebhookMessage.Status
PAYLOAD_VERSION = 1
SENDING_STALE = timedelta(minutes=5)
USER_AGENT = "oms_notify-webhooks/1"

# Domain events of the tracking page (orders.tracking.services) by name, to avoid importing views' code.
_DELIVERY_PREFERENCES = {"delivery.instructions_changed", "delivery.rescheduled"}
_FEEDBACK = "delivery.feedback_received"


# --- endpoints and secrets -----------------------------------------------------------------------


def endpoint_create(
    *,
    url: str,
    event_types: list[str],
    description: str = "",
    brand=None,
    secret: str = "",
    actor=None,
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Subscribe an endpoint. Returns (endpoint, secret): the secret is shown once, stored encrypted."""
    _check_event_types(event_types)
    netguard.check_url(url)  # refuse an unsafe destination at once, not on the first event
    secret = secret or new_standard_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        description=description,
        brand=brand,
        event_types=list(event_types),
        secret_encrypted=crypto.encrypt(secret),
        enabled=enabled,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return endpoint, secret


def _check_event_types(event_types: list[str]) -> None:
    unknown = sorted(set(event_types) - set(EventType.values))
    if unknown:
        raise ValidationError({"event_types": f"Unknown event types: {', '.join(unknown)}."})


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, secret: str = "", overlap_hours: int = 24) -> str:
    """A new secret; the old one keeps signing alongside it for `overlap_hours` (two valid)."""
    secret = secret or new_standard_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=overlap_hours)
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save()
    return secret


def endpoint_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    secrets = [crypto.decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and (
        endpoint.previous_secret_expires_at is None or endpoint.previous_secret_expires_at > now
    ):
        secrets.append(crypto.decrypt(endpoint.previous_secret_encrypted))
    return [s for s in secrets if s]


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = True, None, "", None
    endpoint.save()
    return endpoint


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    disabled_at = timezone.now()
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_at=disabled_at, disabled_reason=reason[:300]
    )
    if not updated:
        return  # already disabled: this incident has been reported
    _endpoints.invalidate()  # an update sends no signal
    admin_url = f"{settings.SITE_URL}/admin/notifications/webhookendpoint/{endpoint.pk}/change/"
    # The alert log stays (log routing, on-call paging) ...
    alerts.error(
        "outbound webhook endpoint disabled",
        extra={
            "event": "webhook_endpoint.disabled",
            "endpoint": endpoint.pk,
            "url": endpoint.url,
            "reason": reason[:300],
            "admin_url": admin_url,
        },
    )
    # ... and people hear it in the staff chat (or the outbox): once per disablement, keyed by its time.
    from notifications.staff_alerts import staff_system_alert

    parts = urlsplit(endpoint.url)
    # Scheme, host and path only: user info or a query string may carry the receiver's token.
    shown = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"[:300]
    staff_system_alert(
        brand=endpoint.brand,
        event="webhook_endpoint_disabled",
        key=f"endpoint{endpoint.pk}:{disabled_at.isoformat()}",
        title=f"Outbound webhook endpoint disabled: {endpoint.description or parts.hostname}",
        facts=[
            ("Endpoint", shown),
            ("Why", reason[:300]),
            ("Next", "fix the receiver, then enable the endpoint and replay what failed since it broke"),
        ],
        admin_url=admin_url,
    )


# --- writing messages (inside the transaction of the change) ----------------------------------


def _envelope(event_type: str, data: dict, at: datetime) -> str:
    # Thin: ids, statuses and links; a receiver reads the rest from the API (always current).
    document = {"type": event_type, "version": PAYLOAD_VERSION, "timestamp": at.isoformat(), "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str)


# Read for every domain event, changed rarely: cached per brand (notifications/brand_cache.py).
_endpoints: BrandCache[tuple[WebhookEndpoint, ...]] = BrandCache("webhook_endpoints", WebhookEndpoint)


def _enabled_endpoints(brand_id: int | None) -> list[WebhookEndpoint]:
    # Few endpoints: filtered in Python by event type rather than with JSON lookups SQLite (the demo) lacks.
    return list(_endpoints.get(brand_id, lambda: _load_enabled_endpoints(brand_id)))


def _load_enabled_endpoints(brand_id: int | None) -> tuple[WebhookEndpoint, ...]:
    return tuple(WebhookEndpoint.objects.filter(enabled=True).filter(Q(brand__isnull=True) | Q(brand_id=brand_id)))


def _load_all_enabled_endpoints() -> tuple[WebhookEndpoint, ...]:
    return tuple(WebhookEndpoint.objects.filter(enabled=True))


def messages_create(
    *,
    event_type: str,
    data: dict,
    brand_id: int | None,
    order=None,
    domain_event: DomainEvent | None = None,
    candidates: list[WebhookEndpoint] | None = None,
) -> list[WebhookMessage]:
    """One message per enabled endpoint subscribed to this event type (and brand). Call inside the
    transaction of the cause; they are enqueued when it commits. `candidates`: the brand's enabled
    endpoints, when the caller has them already."""
    if candidates is None:
        candidates = _enabled_endpoints(brand_id)
    endpoints = [e for e in candidates if e.wants(event_type)]
    if not endpoints:
        return []
    now = timezone.now()
    body = _envelope(event_type, data, now)
    msg_id = f"msg_{domain_event.pk}_{event_type}" if domain_event is not None else None
    rows = [
        WebhookMessage(
            endpoint=e,
            event_type=event_type,
            body=body,
            order=order,
            domain_event=domain_event,
            next_attempt_at=now,
            **({"msg_id": msg_id} if msg_id else {}),
        )
        for e in endpoints
    ]
    created = WebhookMessage.objects.bulk_create(rows)
    ids = [m.pk for m in created]
    transaction.on_commit(lambda: enqueue(ids))
    return created


def _order_ref(order) -> dict:
    return {
        "number": order.number,
        "source": order.source,
        "external_id": order.external_id,
        "status": order.status,
        "brand": order.brand.slug,
        "url": f"{settings.SITE_URL}/api/v1/orders/{order.number}/",
    }


def _map(event: DomainEvent) -> list[tuple[str, dict]]:
    """Domain event -> (event type, data) pairs."""
    payload = event.payload or {}
    order = _order_ref(event.order)
    shipment = event.shipment
    parcel = (
        {"tracking_id": shipment.tracking_id, "carrier": shipment.carrier, "tracking_number": shipment.tracking_number}
        if shipment is not None
        else None
    )
    name = event.name
    if name == events.ORDER_CREATED:
        return [(EventType.ORDER_CREATED, {"order": order})]
    if name == events.ORDER_STATUS_CHANGED:
        change = {"from": payload.get("from"), "to": payload.get("to"), "transition": payload.get("transition")}
        out = [(EventType.ORDER_STATUS_CHANGED, {"order": order, **change})]
        if payload.get("to") == "delivered":
            out.append((EventType.ORDER_DELIVERED, {"order": order}))
        return out
    if name == events.SHIPMENT_CREATED:
        return [(EventType.SHIPMENT_CREATED, {"order": order, "shipment": parcel})]
    if name == events.SHIPMENT_STATUS_CHANGED:
        change = {"from": payload.get("from"), "to": payload.get("to")}
        return [(EventType.SHIPMENT_STATUS_CHANGED, {"order": order, "shipment": parcel, **change})]
    if name == events.SHIPMENT_EVENT_RECORDED:
        data = {"order": order, "shipment": parcel, "status": payload.get("status"), "moved": payload.get("moved")}
        return [(EventType.SHIPMENT_EVENT_RECORDED, data)]
    if name in _DELIVERY_PREFERENCES:
        data = {"order": order, "change": name.split(".", 1)[1], "after": payload.get("after")}
        return [(EventType.DELIVERY_PREFERENCES_CHANGED, data)]
    if name == _FEEDBACK:
        data = {"order": order, "score": payload.get("score"), "feedback_id": payload.get("feedback_id")}
        return [(EventType.ORDER_FEEDBACK_RECEIVED, data)]
    return []


def on_domain_event(event: DomainEvent) -> None:
    """orders.events handler: runs in the orders transaction; writes the outbound messages."""
    try:
        # Most shops have no endpoint: one query, and none of the mapping or the savepoint below.
        candidates = _enabled_endpoints(event.order.brand_id)
        if not candidates:
            return
        mapped = _map(event)
        if not mapped:
            return
        # A savepoint: a bug here must not roll back the order's own change; it is logged loudly.
        with transaction.atomic():
            for event_type, data in mapped:
                messages_create(
                    event_type=event_type,
                    data=data,
                    brand_id=event.order.brand_id,
                    order=event.order,
                    domain_event=event,
                    candidates=candidates,
                )
    except Exception:
        logger.exception("outbound webhook handler failed", extra={"domain_event_id": event.pk, "event": event.name})


def notification_outcome(*, notification_id: int, status: str) -> None:
    """Called by notifications when a message is delivered or has failed for good."""
    from notifications.models import Notification

    delivered = status == Notification.Status.DELIVERED
    if not delivered and status not in (
        Notification.Status.FAILED,
        Notification.Status.BOUNCED,
        Notification.Status.UNDELIVERED,
    ):
        return
    event_type = EventType.NOTIFICATION_DELIVERED if delivered else EventType.NOTIFICATION_FAILED
    # Called for every message delivered: with no endpoint (of any brand) subscribed, no query at all.
    if not any(e.wants(event_type) for e in _endpoints.get("*", _load_all_enabled_endpoints)):
        return
    n = Notification.objects.select_related("order__brand").filter(pk=notification_id).first()
    if n is None:
        return
    data = {
        "order": _order_ref(n.order),
        "notification": {
            "id": str(n.public_id),
            "event": n.event,
            "channel": n.channel,
            "audience": n.audience,
            "status": status,
        },
    }
    try:
        with transaction.atomic():
            messages_create(
                event_type=event_type,
                data=data,
                brand_id=n.order.brand_id,
                order=n.order,
            )
    except Exception:
        logger.exception("outbound webhook for a notification failed", extra={"notification": notification_id})


# --- delivering ----------------------------------------------------------------------------------


def enqueue(ids: list[int]) -> None:
    from notifications.outbound_tasks import deliver_webhook

    if not ids:
        return
    WebhookMessage.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
    for pk in ids:
        try:
            deliver_webhook.delay(pk)
        except Exception:  # broker down: the sweeper sends it
            logger.exception("could not enqueue outbound webhook", extra={"webhook_message": pk})


def _claim(pk: int, now: datetime) -> bool:
    claimable = Q(status=M.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) | Q(
        status=M.SENDING, claimed_at__lt=now - SENDING_STALE
    )
    return bool(WebhookMessage.objects.filter(claimable, pk=pk).update(status=M.SENDING, claimed_at=now))


def sign_headers(*, msg_id: str, body: bytes, secrets: list[str], timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_sign(s, msg_id, timestamp, body) for s in secrets),
    }


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def retry_delay(round_attempt: int, retry_after: float | None = None) -> float | None:
    """Seconds before the next try after the `round_attempt`-th failure; None when the schedule is spent.

    Jitter only lengthens a delay, so the whole schedule never shrinks below its nominal span.
    """
    schedule = settings.OUTBOUND_WEBHOOK_SCHEDULE
    if round_attempt > len(schedule):
        return None
    base = schedule[round_attempt - 1]
    delay = base * (1 + random.uniform(0, settings.OUTBOUND_WEBHOOK_JITTER))
    return max(delay, retry_after or 0.0)


def message_deliver(*, message_id: int) -> str:
    """One attempt at one message, if it is due. Returns the outcome (for logs and tests)."""
    now = timezone.now()
    if not _claim(message_id, now):
        return "skipped"
    message = WebhookMessage.objects.select_related("endpoint").get(pk=message_id)
    endpoint = message.endpoint
    if not endpoint.enabled:
        WebhookMessage.objects.filter(pk=message.pk).update(status=M.FAILED, status_reason="endpoint disabled")
        return "endpoint_disabled"
    number = message.attempts + 1
    body = message.body.encode()
    secrets = endpoint_secrets(endpoint)
    headers = sign_headers(msg_id=message.msg_id, body=body, secrets=secrets, timestamp=int(time.time()))
    started, clock = timezone.now(), time.perf_counter()
    status_code, response_body, error, retry_after = None, "", "", None
    try:
        response = netguard.post(
            endpoint.url,
            body=body,
            headers=headers,
            timeout=(settings.OUTBOUND_WEBHOOK_CONNECT_TIMEOUT, settings.OUTBOUND_WEBHOOK_READ_TIMEOUT),
            max_redirects=settings.OUTBOUND_WEBHOOK_MAX_REDIRECTS,
        )
        status_code = response.status
        response_body = response.body[:500].decode("utf-8", errors="replace")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), started)
        outcome = (
            WebhookAttempt.Outcome.SUCCESS
            if 200 <= status_code < 300
            else WebhookAttempt.Outcome.GONE
            if status_code == 410
            else WebhookAttempt.Outcome.FAILURE
        )
    except netguard.UnsafeDestination as exc:
        outcome, error = WebhookAttempt.Outcome.REFUSED, f"unsafe destination: {exc}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        outcome, error = WebhookAttempt.Outcome.FAILURE, f"{type(exc).__name__}: {exc}"
    latency = int((time.perf_counter() - clock) * 1000)
    return _record(message, endpoint, number, started, latency, outcome, status_code, response_body, error, retry_after)


def _record(message, endpoint, number, started, latency, outcome, status_code, response_body, error, retry_after):
    now = timezone.now()
    retry_at = None
    if outcome in (WebhookAttempt.Outcome.FAILURE, WebhookAttempt.Outcome.REFUSED):
        delay = retry_delay(number - message.round_start, retry_after)
        retry_at = now + timedelta(seconds=delay) if delay is not None else None
    with transaction.atomic():
        WebhookAttempt.objects.create(
            message=message,
            number=number,
            started_at=started,
            latency_ms=latency,
            outcome=outcome,
            status_code=status_code,
            response_body=response_body,
            error=error[:500],
            retry_at=retry_at,
        )
        fields = {"attempts": number, "last_status_code": status_code, "claimed_at": None}
        if outcome == WebhookAttempt.Outcome.SUCCESS:
            fields.update(status=M.DELIVERED, status_reason="", delivered_at=now, next_attempt_at=None)
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_success_at=now, failing_since=None)
        elif outcome == WebhookAttempt.Outcome.GONE:
            fields.update(status=M.FAILED, status_reason="410 Gone: endpoint removed", next_attempt_at=None)
        elif retry_at is not None:
            reason = error[:300] or f"HTTP {status_code}"
            fields.update(status=M.PENDING, status_reason=reason, next_attempt_at=retry_at)
        else:
            fields.update(status=M.FAILED, status_reason="retries exhausted", next_attempt_at=None)
        WebhookMessage.objects.filter(pk=message.pk).update(**fields)
        if outcome != WebhookAttempt.Outcome.SUCCESS:
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    if outcome == WebhookAttempt.Outcome.GONE:
        endpoint_disable(endpoint=endpoint, reason="the endpoint answered 410 Gone")
    elif outcome != WebhookAttempt.Outcome.SUCCESS:
        _disable_if_failing_too_long(endpoint.pk, now)
        logger.warning(
            "outbound webhook attempt failed",
            extra={"webhook_message": message.pk, "endpoint": endpoint.pk, "status": status_code, "error": error[:200]},
        )
        if retry_at is not None and retry_at - now <= settings.MAX_COUNTDOWN:
            _schedule(message.pk, retry_at, now)
    return outcome


def _schedule(pk: int, retry_at: datetime, now: datetime) -> None:
    from notifications.outbound_tasks import deliver_webhook

    # Short waits ride on a countdown; long ones wait for the sweeper (broker visibility timeout).
    if deliver_webhook.app.conf.task_always_eager:
        return
    WebhookMessage.objects.filter(pk=pk).update(enqueued_at=retry_at)
    deliver_webhook.apply_async(args=[pk], countdown=max(0.0, (retry_at - now).total_seconds()))


def _disable_if_failing_too_long(endpoint_id: int, now: datetime) -> bool:
    limit = now - timedelta(days=settings.OUTBOUND_WEBHOOK_DISABLE_AFTER_DAYS)
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True, failing_since__lte=limit).first()
    if endpoint is None:
        return False
    days = settings.OUTBOUND_WEBHOOK_DISABLE_AFTER_DAYS
    endpoint_disable(endpoint=endpoint, reason=f"no successful delivery for {days} days")
    return True


# --- replay and sweeping -----------------------------------------------------------------------


def message_replay(*, message: WebhookMessage) -> WebhookMessage:
    """Send a message again (same webhook-id, so a receiver that got it already can tell), new round."""
    if not message.endpoint.enabled:
        raise ValidationError("Enable the endpoint before replaying its messages.")
    now = timezone.now()
    WebhookMessage.objects.filter(pk=message.pk).exclude(status=M.SENDING).update(
        status=M.PENDING, status_reason="replayed", next_attempt_at=now, round_start=message.attempts, claimed_at=None
    )
    transaction.on_commit(lambda: enqueue([message.pk]))
    message.refresh_from_db()
    return message


def endpoint_replay_failed_since(*, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Replay everything that failed for this endpoint since `since` (oldest first)."""
    failed = endpoint.messages.filter(status=M.FAILED, created_at__gte=since).order_by("created_at", "id")
    count = 0
    for message in failed:
        message_replay(message=message)
        count += 1
    return count


def webhooks_sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Beat: enqueue what is due (or was left claimed by a dead worker); disable endpoints failing too long."""
    now = now or timezone.now()
    recently = now - SENDING_STALE
    due = WebhookMessage.objects.filter(
        Q(status=M.PENDING, next_attempt_at__lte=now) & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=recently))
        # Handed to the broker before it came due (a long wait): the sweeper sends it now.
        | Q(status=M.PENDING, next_attempt_at__lte=now, enqueued_at__lt=F("next_attempt_at"))
        | Q(status=M.SENDING, claimed_at__lt=recently)
    ).values_list("pk", flat=True)[:limit]
    ids = list(dict.fromkeys(due))
    enqueue(ids)
    disabled = sum(
        _disable_if_failing_too_long(pk, now)
        for pk in WebhookEndpoint.objects.filter(enabled=True, failing_since__isnull=False).values_list("pk", flat=True)
    )
    return {"enqueued": len(ids), "disabled": disabled}
