"""Notifications business logic: create the outbox rows, dispatch them, sweep, resend.

`notifications_create_for_event` runs inside the orders transaction (it is called by the domain
event handler): it only writes rows and schedules the enqueue for after commit. The provider is
called by `notification_dispatch`, from a Celery task, after the row has been claimed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from notifications import failover, rules
from notifications.models import (
    Audience,
    Channel,
    DeliveryAttempt,
    Event,
    Notification,
)
from notifications.preferences import (
    QUIET_CHANNELS,
    active_devices,
    consent_refusal,
    customer_zone,
    preferences_for,
    quiet_hours_end,
)
from notifications.rendering import render_notification
from notifications.staff_alerts import render_staff_chat as render_chat
from notifications.staff_alerts import staff_first_wait
from notifications.transports import TransportError, get_transport, provider_for_channel
from oms_notify.fastsql import JoinedLoader, insert_and_update, insert_many, update_row
from oms_notify.logging import correlation_scope, get_correlation_id, set_correlation_id
from orders.models import DomainEvent, Order, Shipment, StatusChange
from orders.tracking.models import DeliveryFeedback

logger = logging.getLogger(__name__)
S = Notification.Status

CLAIMABLE_STATUSES = (S.PENDING, S.SCHEDULED)
FINAL_STATUSES = (S.SENT, S.DELIVERED, S.FAILED, S.BOUNCED, S.UNDELIVERED, S.SUPPRESSED, S.EXPIRED)
# Counters for dead letters and outcomes (a process-local view; the rows are the record).
COUNTERS: dict[str, int] = {}


def _count(name: str) -> None:
    COUNTERS[name] = COUNTERS.get(name, 0) + 1


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _queue_for(event: str, urgent: bool) -> str:
    if urgent:
        return "critical"
    return "bulk" if event == Event.FEEDBACK_REQUEST else "default"


# --- creating the outbox rows -----------------------------------------------------------------


def notifications_create(
    *,
    order: Order,
    event: str,
    key_source: str,
    shipment: Shipment | None = None,
    domain_event: DomainEvent | None = None,
    status_change: StatusChange | None = None,
    audiences: tuple[str, ...] = (Audience.CUSTOMER, Audience.STAFF),
    due_at: datetime | None = None,
    hold_reason: str = "",
    data: dict | None = None,
) -> list[Notification]:
    """One row per (cause, audience, channel, recipient), following the brand's rules.

    Rows that may not be sent (no consent, opted out, no address) are written as suppressed so the
    log says why a customer heard nothing. Call inside the transaction of the cause.
    """
    created: list[Notification] = []
    customer = order.customer
    now = timezone.now()
    for rule in rules.rules_for(brand=order.brand, event=event):
        if rule.audience not in audiences:
            continue
        for channel in rule.channels:
            for recipient, provider, refusal in _recipients(order, rule.audience, channel, event=event):
                key = f"{key_source}:{event}:{rule.audience}:{channel}:{_short_hash(recipient or '-')}"
                row = Notification(
                    idempotency_key=key,
                    order=order,
                    shipment=shipment,
                    customer=customer,
                    domain_event=domain_event,
                    status_change=status_change,
                    event=event,
                    audience=rule.audience,
                    channel=channel,
                    provider=provider,
                    recipient=recipient,
                    locale=(customer.locale or order.brand.default_locale)
                    if rule.audience == Audience.CUSTOMER
                    else "en",
                    urgent=rule.urgent,
                    queue=_queue_for(event, rule.urgent),
                    data=dict(data or {}),
                    correlation_id=get_correlation_id(),
                )
                if refusal:
                    row.status, row.status_reason = S.SUPPRESSED, refusal
                elif hold_reason:
                    row.status, row.status_reason, row.due_at = S.HELD, hold_reason, due_at
                elif due_at is not None and due_at > now:
                    row.status, row.status_reason, row.due_at = S.SCHEDULED, "due_later", due_at
                elif rule.audience == Audience.CUSTOMER and not rule.urgent and channel in QUIET_CHANNELS:
                    wake = quiet_hours_end(preferences_for(customer), customer_zone(customer), now)
                    if wake is not None:
                        row.status, row.status_reason, row.due_at = S.SCHEDULED, "quiet_hours", wake
                if _due_now(row, now) and provider not in LOCAL_PROVIDERS:
                    # Enqueued after the commit (below): stamped as it is written, not by an UPDATE
                    # after it. A broker outage unstamps them for the sweeper.
                    row.enqueued_at = now
                created.append(row)
    # One statement: rows whose key is written already (a handler run twice) are skipped, not an error.
    created = insert_many(created, skip_conflicts_on=("idempotency_key",))
    due = _deliver_local_now([n for n in created if _due_now(n, now)], created, now)
    if due:
        # In-app rows left to dispatch (rare: staff first, a moment passed, a template error).
        if unstamped := [n.pk for n in due if n.enqueued_at is None]:
            _stamp_enqueued(unstamped, now)
        # The queue and audience are in hand: no need to read them back after the commit.
        rows = [(n.pk, n.queue, n.audience) for n in due]
        transaction.on_commit(lambda: _enqueue_rows(rows))
    return created


def _due_now(n: Notification, now: datetime) -> bool:
    """Pending rows go now; so does a confirmation whose proof-of-delivery wait is already over (an
    old scan with no verdict): dispatch applies the brand's unverified policy to it."""
    return n.status == S.PENDING or (n.status == S.HELD and n.due_at is not None and n.due_at <= now)


def _recipients(order: Order, audience: str, channel: str, event: str = "") -> list[tuple[str, str, str]]:
    """(recipient, provider, refusal) triples for one channel."""
    if audience == Audience.STAFF:
        if channel == Channel.CHAT:  # issue 6: the brand's Slack / Teams / Google Chat destinations
            from notifications.staff_alerts import chat_recipients

            return chat_recipients(order, event)
        if channel != Channel.EMAIL:
            return []
        address = settings.NOTIFY_STAFF_EMAIL or order.brand.support_email
        return [(address, provider_for_channel(channel, brand=order.brand), "" if address else "no_address")]
    customer = order.customer
    prefs = preferences_for(customer)
    refusal = consent_refusal(customer, prefs, channel)
    if channel == Channel.EMAIL:
        return [(customer.email, provider_for_channel(channel, brand=order.brand), refusal)]
    if channel in (Channel.SMS, Channel.WHATSAPP):
        provider = provider_for_channel(channel, brand=order.brand)
        return [(customer.phone, provider, refusal or ("" if customer.phone else "no_address"))]
    if channel == Channel.PUSH:
        devices = active_devices(customer)
        if not devices:
            return [("", provider_for_channel(channel), refusal or "no_device")]
        return [(f"device:{pk}", provider_for_channel(channel, device_provider=kind), refusal) for pk, kind in devices]
    return [(f"customer:{customer.pk}", provider_for_channel(channel), "")]


def enqueue_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: enqueue(ids))


def enqueue(ids: list[int]) -> None:
    rows = list(Notification.objects.filter(pk__in=ids).values_list("pk", "queue", "audience"))
    if rows:
        # Stamped before the send: in eager mode the task runs inside apply_async.
        _stamp_enqueued([row[0] for row in rows], timezone.now())
    _enqueue_rows(rows)


def _stamp_enqueued(ids: list[int], when: datetime | None) -> None:
    Notification.objects.filter(pk__in=ids).update(enqueued_at=when)


def _enqueue_rows(rows: list[tuple[int, str, str]]) -> None:
    """(pk, queue, audience) rows, their `enqueued_at` already written, to the broker, staff alerts first."""
    from notifications.staff_alerts import staff_first
    from notifications.tasks import send_notification

    if not rows:
        return
    rows = staff_first(rows)
    try:
        for pk, queue, _audience in rows:
            send_notification.apply_async(args=[pk], queue=queue)
    except KombuOperationalError as exc:
        # The broker is down (found by the chaos run): the rows are committed and pending, and the
        # sweeper enqueues them once it is back (unstamped, so it does not wait NOTIFY_REQUEUE_SECONDS
        # for messages that never reached the broker). The caller's work is done; do not fail it.
        _stamp_enqueued([row[0] for row in rows], None)
        logger.warning(
            "broker unavailable, left to the sweeper", extra={"notifications": len(rows), "error": str(exc)[:200]}
        )


# --- dispatch ---------------------------------------------------------------------------------


# pending | scheduled and due | sending for too long (its worker died). Written out rather than
# built from Q objects: compiling the four-way OR cost more CPU than the statement, once per message.
_CLAIMABLE = "status = %s OR (status = %s AND (due_at <= %s OR due_at IS NULL)) OR (status = %s AND claimed_at < %s)"


def _claim(pk: int, now: datetime) -> Notification | None:
    """Take the row for this worker and count the attempt; None if another claimer has it (or it is
    not due). Only one claimer wins; a stale `sending` (dead worker) is re-taken.

    The attempt is counted here, before the provider is called, so that a message that keeps
    killing its worker still runs out of attempts; a path that then sends nothing takes it back.
    One statement on PostgreSQL: the UPDATE returns the row, joined to what dispatch reads.
    """
    stale = now - timedelta(seconds=settings.NOTIFY_SENDING_STALE_SECONDS)
    return _DISPATCH_ROW.update(
        pk,
        where=_CLAIMABLE,
        where_params=(S.PENDING, S.SCHEDULED, now, S.SENDING, stale),
        increment={"attempts": 1},
        status=S.SENDING,
        claimed_at=now,
    )


def _moment_passed(n: Notification, now: datetime) -> tuple[str, str] | None:
    superseded_by = rules.SUPERSEDED_WHEN.get(n.event, set())
    if n.order_id is not None and n.order.status in superseded_by:
        return S.SUPPRESSED, f"superseded: order is {n.order.status}"
    if n.event == Event.FEEDBACK_REQUEST and DeliveryFeedback.objects.filter(order_id=n.order_id).exists():
        return S.SUPPRESSED, "feedback already given"
    if n.event not in rules.NO_EXPIRY and now - n.created_at > timedelta(hours=settings.NOTIFY_MESSAGE_TTL_HOURS):
        return S.EXPIRED, "expired"
    if n.audience == Audience.CUSTOMER and n.channel != Channel.INAPP:
        refusal = consent_refusal(n.order.customer, preferences_for(n.order.customer), n.channel)
        if refusal:
            return S.SUPPRESSED, refusal
    return None


def _finish(pk: int, *, attempt: DeliveryAttempt | None = None, **fields) -> None:
    """Write the row's outcome, with the attempt that led to it if any.

    Outside a transaction a plain outcome is one statement with no BEGIN/COMMIT (with its attempt
    too, on PostgreSQL): those two round trips were a fifth of a message's. Delivered and failed
    also queue the outbound webhooks, in the same transaction as the change.
    """
    fields["updated_at"] = timezone.now()
    outcome = fields.get("status") in (S.DELIVERED, S.FAILED)
    with transaction.atomic(savepoint=False) if outcome else nullcontext():
        if attempt is None:
            update_row(Notification, pk, **fields)
        else:
            insert_and_update(attempt, Notification, pk, **fields)
        if outcome:
            from notifications.outbound import notification_outcome

            notification_outcome(notification_id=pk, status=fields["status"])


# The row a dispatch works on, with everything the checks, rendering and transports read. Built
# once per process: compiling this select_related afresh cost more CPU than the rest of a dispatch.
DISPATCH_RELATED = ("order__brand", "order__customer__notification_preferences", "shipment")
_DISPATCH_ROW = JoinedLoader(Notification, *DISPATCH_RELATED)


def _load_for_dispatch(pk: int) -> Notification:
    return _DISPATCH_ROW.get(pk)


def notification_dispatch(*, notification_id: int) -> str:
    """Send one notification if it is still due. Returns the outcome (for logs and tests)."""
    # Whoever enqueued it (the sweeper, a retry countdown), the attempt logs under its event's id.
    with correlation_scope():
        return _dispatch(notification_id)


def _dispatch(notification_id: int) -> str:
    now = timezone.now()
    n = _claim(notification_id, now)
    if n is None:
        from notifications.delivery_gate import delivery_wait_end

        return "released" if delivery_wait_end(notification_id=notification_id, now=now) else "skipped"
    set_correlation_id(n.correlation_id or get_correlation_id())
    not_sent = {"attempts": n.attempts - 1}  # nothing reached a provider: the claim's count is taken back
    passed = _moment_passed(n, now)
    if passed is not None:
        if n.provider == "outbox" and passed[1].startswith("superseded"):
            # The local outbox shows every message of an order's life, even one whose moment passed.
            rendered = render_chat(n) if n.channel == Channel.CHAT else render_notification(n)
            not_sent.update(subject=rendered.subject[:300], body_text=rendered.text, body_html=rendered.html)
        _finish(n.pk, status=passed[0], status_reason=passed[1][:200], **not_sent)
        logger.info("notification not sent", extra={"notification": n.pk, "reason": passed[1]})
        return passed[0]
    wait_until = staff_first_wait(n, now)  # issue 6: staff hear of an exception before the customer
    if wait_until is not None:
        _finish(n.pk, status=S.SCHEDULED, status_reason="staff_first", due_at=wait_until, **not_sent)
        _enqueue_later(n, wait_until, now)
        return "waiting"
    if n.attempts > settings.NOTIFY_MAX_ATTEMPTS:
        # Every attempt was spent, the last ones by workers that died mid-send (a message that
        # crashes its worker would otherwise be re-taken by the sweeper for ever).
        return _dead_letter_lost(n, now)
    # The rendered content (kept for the log and resends) is written with the outcome.
    rendered_fields: dict = {}
    if not (n.body_text or n.subject):
        try:
            rendered_fields = _render_into(n)
        except Exception as exc:  # a template bug: the same every time, so no retry
            failure = TransportError("render error", permanent=True, code="render")
            failure.__cause__ = exc
            _log_failure(n, failure, outcome="permanent", attempt=n.attempts - 1)
            _finish(
                n.pk,
                status=S.FAILED,
                status_reason="render error",
                error_code="render",
                error_message=str(exc)[:500],
                **not_sent,
            )
            return "permanent"
    # issue 6: an open circuit hands the message to the next provider
    provider, circuit_clean = failover.route_checked(n)
    if provider != n.provider:
        n.provider = rendered_fields["provider"] = provider
    transport = get_transport(n.provider)
    started, clock = timezone.now(), time.perf_counter()
    try:
        result = transport.send(n)
    except TransportError as exc:
        latency = int((time.perf_counter() - clock) * 1000)
        return _failed(n, exc, started=started, latency=latency, rendered=rendered_fields)
    except Exception as exc:  # an SDK surprise: retried like a transient error, dead-lettered in the end
        latency = int((time.perf_counter() - clock) * 1000)
        failure = TransportError(f"{type(exc).__name__}: {exc}", code="unexpected")
        failure.__cause__ = exc  # logged once, with its traceback, by _log_failure
        return _failed(n, failure, started=started, latency=latency, rendered=rendered_fields)
    latency = int((time.perf_counter() - clock) * 1000)
    if failover.applies(n) and not circuit_clean:
        failover.record_success(n.provider)
    _record_success(n, result, number=n.attempts, started=started, latency=latency, **rendered_fields)
    logger.info(
        "notification sent",
        extra={"notification": n.pk, "event": n.event, "channel": n.channel, "provider": n.provider, "ms": latency},
    )
    return "sent"


def _render_into(n: Notification) -> dict:
    """Render the message onto the row; returns the fields to store (kept for the log and resends)."""
    rendered = render_chat(n) if n.channel == Channel.CHAT else render_notification(n)
    n.subject, n.body_text, n.body_html = rendered.subject[:300], rendered.text, rendered.html
    n.sms_segments, n.sms_encoding = rendered.sms_segments, rendered.sms_encoding
    n.data = {**rendered.data, **(n.data or {})}
    if n.channel == Channel.EMAIL and n.audience == Audience.CUSTOMER:
        n.data["headers"] = unsubscribe_headers(n)
    return {
        "subject": n.subject,
        "body_text": n.body_text,
        "body_html": n.body_html,
        "sms_segments": n.sms_segments,
        "sms_encoding": n.sms_encoding,
        "data": n.data,
    }


def _record_success(n: Notification, result, *, number: int, started: datetime, latency: int, **fields) -> None:
    """The attempt row and the row's new status, together."""
    attempt = DeliveryAttempt(
        notification=n,
        number=number,
        provider=n.provider,
        started_at=started,
        latency_ms=latency,
        outcome=DeliveryAttempt.Outcome.SUCCESS,
        http_status=result.http_status,
        provider_message_id=result.message_id[:200],
    )
    done = timezone.now()
    _finish(
        n.pk,
        attempt=attempt,
        status=S.DELIVERED if result.delivered else S.SENT,
        status_reason="",
        provider_message_id=result.message_id[:200],
        sent_at=done,
        delivered_at=done if result.delivered else None,
        error_code="",
        error_message="",
        **fields,
    )


# Providers for which storing the rendered row is the delivery: the customer's in-app feed. (The
# local outbox stands in for a real provider, in the demo and the tests, so it goes through dispatch.)
LOCAL_PROVIDERS = frozenset({"inapp"})


def _deliver_local_now(due: list[Notification], created: list[Notification], now: datetime) -> list[Notification]:
    """Of the rows due now, deliver the in-app ones at once; returns the rest, to enqueue.

    A customer message whose cause also alerts staff waits its turn in dispatch (staff first), and
    one whose moment has already passed is left to dispatch, which records why it was not sent.
    """
    staff_too = any(n.audience == Audience.STAFF for n in created)
    local = [
        n
        for n in due
        if n.status == S.PENDING
        and n.provider in LOCAL_PROVIDERS
        and not (staff_too and n.audience == Audience.CUSTOMER)
        and _moment_passed(n, now) is None
    ]
    if not local:
        return due
    taken = {n.pk for n in local}
    return [n for n in due if n.pk not in taken] + _deliver_locally(local)


def _deliver_locally(rows: list[Notification]) -> list[Notification]:
    """Deliver in-app messages at once, in the transaction that created them.

    Nothing leaves the process for these, so a Celery task (enqueue, claim, load, record: about
    4 ms of worker CPU each) bought nothing but latency. The row is rendered, its attempt recorded
    and its status set here. Returns the rows left for dispatch: any that failed to render (the
    dispatch path records a template error with its traceback). Call inside the cause's transaction.
    """
    left: list[Notification] = []
    for n in rows:
        started = timezone.now()
        try:
            fields = _render_into(n)
        except Exception:  # noqa: BLE001 - recorded by notification_dispatch, which renders again
            left.append(n)
            continue
        result = get_transport(n.provider).send(n)
        number = n.attempts + 1
        _record_success(n, result, number=number, started=started, latency=0, attempts=number, **fields)
    return left


# --- failover, destinations, dead-letter alerts (issue 6) ----------------------------------------


def _enqueue_later(n: Notification, due: datetime, now: datetime) -> None:
    from notifications.tasks import send_notification

    # Eager mode (demo, tests) would run a countdown at once: the sweeper picks the row up instead.
    if not send_notification.app.conf.task_always_eager:
        Notification.objects.filter(pk=n.pk).update(enqueued_at=due)
        send_notification.apply_async(args=[n.pk], queue=n.queue, countdown=max(0.0, (due - now).total_seconds()))


def _failed(n: Notification, exc: TransportError, *, started: datetime, latency: int, rendered: dict) -> str:
    """A failed attempt: fail over to the next provider, disable a dead destination, or retry/fail as before.

    `rendered` is the content rendered for this attempt, stored with its outcome.
    """
    number = n.attempts
    circuit_open = failover.record_failure(n.provider, exc) if failover.applies(n) else False
    last = number >= settings.NOTIFY_MAX_ATTEMPTS
    target = None if last else failover.next_provider(n, exc, circuit_open=circuit_open)
    if target is not None:
        attempt = _failed_attempt(n, exc, started=started, latency=latency, retry_at=timezone.now())
        # Not the message's last word, whatever the provider said: another provider has it next.
        attempt.outcome = DeliveryAttempt.Outcome.TRANSIENT
        attempt.error_message = f"{exc.message} (failing over to {target})"[:500]
        _finish(
            n.pk,
            attempt=attempt,
            **{
                **rendered,
                "status": S.PENDING,
                "status_reason": f"failover from {n.provider}"[:200],
                "provider": target,
                "due_at": None,
                "error_code": exc.code[:64],
                "error_message": exc.message[:500],
            },
        )
        _count("failover")
        _log_failure(n, exc, outcome="failover", attempt=number, to=target)
        enqueue([n.pk])
        return "failover"
    outcome = _record_failure(n, exc, started=started, latency=latency, rendered=rendered)
    if exc.permanent and exc.scope == "destination" and n.recipient.startswith("destination:"):
        from notifications.destinations import destination_disable, destination_of

        destination_disable(destination=destination_of(n), reason=exc.message, notification=n)
    if outcome == "dead_lettered":
        _alert_dead_letter(n, exc.code)
    return outcome


def _alert_dead_letter(n: Notification, code: str) -> None:
    if n.audience != Audience.CUSTOMER:
        return
    from notifications.staff_alerts import staff_alert

    staff_alert(
        order=n.order,
        event=Event.NOTIFICATION_DEAD_LETTERED,
        key_source=f"dl{n.pk}",
        # The code, not the provider's text: Twilio's messages quote the customer's number.
        data={"reason": f"{n.get_channel_display()} via {n.provider}: error {code or 'unknown'}"[:300]},
    )


def _dead_letter_lost(n: Notification, now: datetime) -> str:
    """Dead-letter a message whose attempts all ran out, some lost with a killed worker."""
    spent = n.attempts - 1  # this claim's count is taken back: it sent nothing
    failure = TransportError(f"{spent} attempts, the last lost with their worker", code="worker_lost")
    _finish(
        n.pk,
        status=S.FAILED,
        status_reason="dead-lettered",
        dead_lettered_at=now,
        error_code=failure.code,
        error_message=failure.message,
        attempts=spent,
    )
    _count("dead_lettered")
    _log_failure(n, failure, outcome="dead_lettered", attempt=spent)
    _alert_dead_letter(n, failure.code)
    return "dead_lettered"


def _failed_attempt(
    n: Notification, exc: TransportError, *, started: datetime, latency: int, retry_at: datetime | None
) -> DeliveryAttempt:
    return DeliveryAttempt(
        notification=n,
        number=n.attempts,
        provider=n.provider,
        started_at=started,
        latency_ms=latency,
        outcome=DeliveryAttempt.Outcome.PERMANENT if exc.permanent else DeliveryAttempt.Outcome.TRANSIENT,
        http_status=exc.http_status,
        error_code=exc.code[:64],
        error_message=exc.message[:500],
        retry_at=retry_at,
    )


_TRACED = {"render", "unexpected"}  # our bugs or an SDK's surprise: the traceback is the clue


def _log_failure(n: Notification, exc: TransportError, *, outcome: str, attempt: int, **more) -> None:
    """The one log line per failed attempt (issue 8). No recipient and no provider text: Twilio's
    messages quote the phone number; both stay on the row, for staff."""
    kind = "permanent" if exc.permanent else "transient"
    extra = {"notification": n.pk, "order": n.order.number if n.order_id else None, "event": n.event}
    extra.update(channel=n.channel, provider=n.provider, code=exc.code or "unknown", http_status=exc.http_status)
    extra.update(kind=kind, outcome=outcome, attempt=attempt, **more)
    level = logging.WARNING if outcome in ("retry", "failover") else logging.ERROR
    traced = exc.__cause__ if exc.code in _TRACED else None
    logger.log(level, "notification failed", extra=extra, exc_info=traced)


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half fixed, half random); never sooner than Retry-After."""
    ceiling = min(settings.NOTIFY_RETRY_MAX_SECONDS, settings.NOTIFY_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(delay, retry_after or 0.0)


def _record_failure(n: Notification, exc: TransportError, *, started: datetime, latency: int, rendered: dict) -> str:
    now = timezone.now()
    number = n.attempts
    last = number >= settings.NOTIFY_MAX_ATTEMPTS
    retry_at = None if exc.permanent or last else now + timedelta(seconds=retry_delay(number, exc.retry_after))
    attempt = _failed_attempt(n, exc, started=started, latency=latency, retry_at=retry_at)
    common = {**rendered, "error_code": exc.code[:64], "error_message": exc.message[:500]}
    if retry_at is not None:
        _finish(n.pk, attempt=attempt, status=S.SCHEDULED, status_reason="retry", due_at=retry_at, **common)
    elif exc.permanent:
        status = S.SUPPRESSED if exc.unsubscribed else S.FAILED
        with transaction.atomic():
            _finish(n.pk, attempt=attempt, status=status, status_reason="permanent error", **common)
            if exc.unsubscribed and n.customer_id:
                prefs = preferences_for(n.order.customer)
                setattr(prefs, f"{n.channel}_opted_out", True)
                prefs.save()
    else:
        _finish(n.pk, attempt=attempt, status=S.FAILED, status_reason="dead-lettered", dead_lettered_at=now, **common)
    if retry_at is not None:
        _count("retried")
        _log_failure(n, exc, outcome="retry", attempt=number, retry_at=retry_at.isoformat())
        if (retry_at - now) <= settings.MAX_COUNTDOWN:
            from notifications.tasks import send_notification

            # Eager mode would run the countdown at once: the sweeper picks it up instead.
            if not send_notification.app.conf.task_always_eager:
                Notification.objects.filter(pk=n.pk).update(enqueued_at=retry_at)
                send_notification.apply_async(
                    args=[n.pk], queue=n.queue, countdown=max(0.0, (retry_at - now).total_seconds())
                )
        return "retry"
    if exc.permanent:
        _count("permanent")
        _log_failure(n, exc, outcome="permanent", attempt=number)
        return "permanent"
    _count("dead_lettered")
    _log_failure(n, exc, outcome="dead_lettered", attempt=number)
    return "dead_lettered"


def unsubscribe_headers(n: Notification) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: the POST lands on our preferences endpoint."""
    prefs = preferences_for(n.order.customer)
    url = f"{settings.SITE_URL}/preferences/{prefs.token}/unsubscribe/?channel=email"
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def notifications_warm_up() -> int:
    """Import every transport (and its SDK) and compile every message template; returns the templates."""
    from notifications.rendering import warm_up

    get_transport("outbox")  # fills the registry: every transport module and its SDK imported
    return warm_up()


# --- sweeping and resending -------------------------------------------------------------------


def notifications_sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Enqueue what is due or was lost, and apply the unverified policy to confirmations left waiting."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.NOTIFY_SENDING_STALE_SECONDS)
    lost = now - timedelta(seconds=30)
    # A row already handed to the broker is left alone for a while: under a backlog the sweeper
    # must not pile duplicates onto the queue it is waiting for.
    waited = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=settings.NOTIFY_REQUEUE_SECONDS))
    due = Notification.objects.filter(
        Q(status=S.PENDING, created_at__lt=lost) & waited
        | Q(status=S.SCHEDULED, due_at__lte=now) & (waited | Q(enqueued_at__lt=F("due_at")))
        | Q(status=S.SENDING, claimed_at__lt=stale) & (waited | Q(enqueued_at__lt=F("claimed_at")))
    ).values_list("pk", flat=True)[:limit]
    ids = list(due)
    enqueue(ids)
    from notifications import delivery_gate

    waited = 0
    for order_id, shipment_id in (
        Notification.objects.filter(status=S.HELD, status_reason="awaiting_pod", due_at__lte=now)
        .values_list("order_id", "shipment_id")
        .distinct()[:limit]
    ):
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            shipment = Shipment.objects.filter(pk=shipment_id).first() if shipment_id else None
            waited += delivery_gate.delivery_verdict_apply(
                order=order, shipment=shipment, payload={"verified": False, "failed_checks": ["no_verdict"]}
            )
    from notifications.receipts import receipts_apply_unmatched

    # Receipts that arrived before the worker recorded the provider's id (fast providers).
    matched = receipts_apply_unmatched(limit=limit)
    return {"enqueued": len(ids), "pod_timeouts": waited, "late_receipts": matched}


def notification_resend(*, notification: Notification, actor=None) -> Notification:
    """Staff resend: a new row (its own key and attempts), rendered afresh, sent now."""
    with transaction.atomic():
        n = Notification.objects.select_for_update().get(pk=notification.pk)
        count = Notification.objects.filter(resend_of=n).count() + 1
        provider = n.provider
        if n.provider == "outbox":
            provider = provider_for_channel(n.channel)
        copy = Notification.objects.create(
            idempotency_key=f"{n.idempotency_key[:170]}:resend{count}",
            order=n.order,
            shipment=n.shipment,
            customer=n.customer,
            status_change=n.status_change,
            resend_of=n,
            event=n.event,
            audience=n.audience,
            channel=n.channel,
            provider=provider,
            recipient=n.recipient,
            locale=n.locale,
            variant=n.variant,
            urgent=n.urgent,
            queue="critical",
            proof=n.proof,
            status_reason=f"resent by {actor.get_username()}" if actor else "resent",
            correlation_id=get_correlation_id(),
        )
        enqueue_on_commit([copy.pk])
    logger.info("notification resent", extra={"notification": n.pk, "copy": copy.pk})
    return copy


def notification_release(*, notification: Notification, actor=None) -> Notification:
    """Staff release a held message (e.g. after checking a delivery's proof themselves)."""
    with transaction.atomic():
        updated = Notification.objects.filter(pk=notification.pk, status=S.HELD).update(
            status=S.PENDING, status_reason="released by staff", due_at=None, updated_at=timezone.now()
        )
        if updated:
            enqueue_on_commit([notification.pk])
    notification.refresh_from_db()
    return notification
