"""Staff alerts: exceptions go to the brand's chat destinations, and before the customer's message.

Ordering. Queues alone cannot promise "staff first": a dedicated critical worker, prefetch and
retries all reorder tasks, and a countdown on every customer message delays customers even when
staff were told long ago (and still races a slow chat provider). So the order is enforced where
it is decided: staff rows are handed to the broker first, and a customer row of the same cause
that finds its staff alert still unsent waits (re-scheduled a couple of seconds later) for at
most NOTIFY_STAFF_FIRST_WAIT_SECONDS. Customers wait only while the staff alert is really in
flight, and a broken chat destination never silences them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from notifications.destinations import admin_order_url, chat_facts
from notifications.models import Audience, Channel, Notification
from notifications.rendering import Rendered
from orders.models import Brand, Order

S = Notification.Status
STAFF_FIRST_RECHECK_SECONDS = 2.0
_UNSENT = (S.PENDING, S.SCHEDULED, S.SENDING)

TITLES = {
    "delayed": "Delayed",
    "delivery_failed": "Delivery failed",
    "delivery_unverified": "Proof of delivery needs checking",
    "on_hold": "On hold",
    "returned_to_sender": "Returned to sender",
    "notification_dead_lettered": "A customer message was dead-lettered",
    "destination_disabled": "A staff destination was disabled",
    "intake_failed": "A high-impact order intake failed",
    "webhook_endpoint_disabled": "An outbound webhook endpoint was disabled",
}


def render_staff_chat(notification: Notification) -> Rendered:
    """Title, text and facts for Slack / Teams / Google Chat (staff messages are English)."""
    order = notification.order
    if order is None:  # an alert about the system: its title, facts and admin link were written with it
        data = notification.data or {}
        facts = [tuple(fact) for fact in data.get("facts") or []]
        title = str(data.get("title") or TITLES.get(notification.event, notification.event))
        lines = [title, *(f"{label}: {value}" for label, value in facts), f"Admin: {data.get('admin_url', '')}"]
        return Rendered(
            subject=title[:300], text="\n".join(lines), data={"facts": facts, "admin_url": data.get("admin_url", "")}
        )
    title = f"[{order.brand.name}] {TITLES.get(notification.event, notification.get_event_display())}: {order.number}"
    facts = chat_facts(notification)
    admin_url = admin_order_url(order)
    lines = [title, *(f"{label}: {value}" for label, value in facts), f"Admin: {admin_url}"]
    return Rendered(
        subject=title[:300],
        text="\n".join(lines),
        data={"facts": facts, "admin_url": admin_url, "tracking_url": order.tracking_url},
    )


def chat_recipients(order: Order, event: str) -> list[tuple[str, str, str]]:
    """(recipient, provider, refusal) for the staff chat channel; with no destination, the local outbox."""
    from notifications.destinations import destinations_for

    found = [(f"destination:{d.pk}", d.kind, "") for d in destinations_for(brand=order.brand, event=event)]
    return found or [("staff-chat", "outbox", "")]


def staff_alert(*, order: Order, event: str, key_source: str, data: dict | None = None) -> list[Notification]:
    """An alert for staff only (dead letters, disabled destinations), following the brand's rules."""
    from notifications import services

    return services.notifications_create(
        order=order, event=event, key_source=key_source, audiences=(Audience.STAFF,), data=data or {}
    )


def staff_system_alert(
    *, brand: Brand | None, event: str, key: str, title: str, facts: list[tuple[str, str]], admin_url: str
) -> list[Notification]:
    """An alert about the system itself (no order): one row per staff chat destination, else the outbox.

    `key` names the incident (a dead letter, one disablement of an endpoint): the rows' idempotency
    keys derive from it, so the same incident alerts once however often it is reported.
    """
    from notifications import services
    from notifications.destinations import destinations_for
    from orders.services import brand_default

    brand = brand or brand_default()
    name = f"[{brand.name}] {title}"
    recipients = [(f"destination:{d.pk}", d.kind) for d in destinations_for(brand=brand, event=event)]
    rows = [
        Notification(
            idempotency_key=f"sys:{key}:{event}:{recipient}"[:200],
            event=event,
            audience=Audience.STAFF,
            channel=Channel.CHAT,
            provider=provider,
            recipient=recipient,
            urgent=True,
            queue="critical",
            data={"title": name[:300], "facts": [list(f) for f in facts], "admin_url": admin_url},
        )
        for recipient, provider in recipients or [("staff-chat", "outbox")]
    ]
    known = set(
        Notification.objects.filter(idempotency_key__in=[n.idempotency_key for n in rows]).values_list(
            "idempotency_key", flat=True
        )
    )
    created = Notification.objects.bulk_create([n for n in rows if n.idempotency_key not in known])
    services.enqueue_on_commit([n.pk for n in created])
    return created


def on_intake_failure(raw, alert: dict) -> list[Notification]:
    """Registered with orders.sources: a high-impact dead letter reaches the staff chat, once per intake."""
    value = f"{alert.get('order_value', '')} {alert.get('currency', '')}".strip()
    facts = [
        ("Source", f"{alert.get('source', '')} {alert.get('account', '')}".strip()),
        ("Order", str(alert.get("external_id") or "(not parsed)")),
        ("Value", value or "unknown"),
        ("Customer tier", str(alert.get("customer_tier") or "new")),
        ("Why", f"{alert.get('status', '')}: {alert.get('reason', '')}"[:300]),
    ]
    brand = raw.account.brand if raw.account_id and raw.account.brand_id else None
    return staff_system_alert(
        brand=brand,
        event="intake_failed",
        key=f"intake{raw.pk}",
        title=f"Order intake failed: {raw.source} {alert.get('external_id') or f'#{raw.pk}'} ({value})",
        facts=facts,
        admin_url=str(alert.get("admin_url") or ""),
    )


def staff_first_wait(notification: Notification, now: datetime) -> datetime | None:
    """For a customer message: when to look again if the staff alert of the same cause is still unsent."""
    if notification.audience != Audience.CUSTOMER:
        return None
    if not (notification.status_change_id or notification.domain_event_id):
        return None
    if now - notification.created_at > timedelta(seconds=settings.NOTIFY_STAFF_FIRST_WAIT_SECONDS):
        return None  # waited long enough: a broken chat destination must not silence customers
    from notifications.rules import rules_for

    # Most events alert no staff (out for delivery, dispatched): no row to look for, no query.
    rules = rules_for(brand=notification.order.brand, event=notification.event)
    if not any(r.audience == Audience.STAFF for r in rules):
        return None
    cause = (
        {"status_change_id": notification.status_change_id}
        if notification.status_change_id
        else {"domain_event_id": notification.domain_event_id}
    )
    waiting = Notification.objects.filter(
        order_id=notification.order_id, event=notification.event, audience=Audience.STAFF, status__in=_UNSENT, **cause
    ).exists()
    return now + timedelta(seconds=STAFF_FIRST_RECHECK_SECONDS) if waiting else None


def staff_first(rows: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """(pk, queue, audience) rows with staff alerts first: they reach the broker before the customer's."""
    return sorted(rows, key=lambda row: row[2] != Audience.STAFF)
