"""Recent notification failures grouped by cause: provider + error code + permanent/transient.

Two sources: failed provider calls (DeliveryAttempt rows, one per attempt, so a message retried
three times counts three) and failures that have no failed call behind them, each counted once:
a template that would not render, or a provider that accepted the message and later reported it
failed, bounced or undelivered (a receipt). Both queries are bounded by Notification.created_at,
which is indexed, so the page stays cheap at millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.urls import reverse

from notifications.models import DeliveryAttempt, Notification

N = Notification.Status
FAILED_STATUSES = (N.FAILED, N.BOUNCED, N.UNDELIVERED)


@dataclass
class FailureCause:
    provider: str
    code: str
    kind: str  # "permanent" or "transient"
    source: str  # "attempt" or "receipt" (or "render")
    count: int
    messages: int
    first_seen: datetime
    last_seen: datetime
    link: str


def _link(**params: str) -> str:
    return reverse("admin:notifications_notification_changelist") + "?" + urlencode(params)


def failures_by_cause(*, since: datetime, limit: int = 200) -> list[FailureCause]:
    """Causes seen since `since`, most frequent first."""
    # Attempts belong to messages created at most a message lifetime before they ran.
    lifetime = timedelta(hours=max(settings.NOTIFY_MESSAGE_TTL_HOURS, 72))
    created_since = (since - lifetime).isoformat()
    causes: list[FailureCause] = []
    attempts = (
        DeliveryAttempt.objects.filter(notification__created_at__gte=since - lifetime, started_at__gte=since)
        .exclude(outcome=DeliveryAttempt.Outcome.SUCCESS)
        .values("provider", "error_code", "outcome")
        .annotate(
            count=Count("pk"),
            messages=Count("notification", distinct=True),
            first=Min("started_at"),
            last=Max("started_at"),
        )
        .order_by("-count")[:limit]
    )
    for row in attempts:
        code = row["error_code"] or "unknown"
        causes.append(
            FailureCause(
                provider=row["provider"],
                code=code,
                kind=row["outcome"],
                source="attempt",
                count=row["count"],
                messages=row["messages"],
                first_seen=row["first"],
                last_seen=row["last"],
                # The list shows messages whose last error is this code (a later success clears it).
                link=_link(provider=row["provider"], error_code=row["error_code"], created_at__gte=created_since),
            )
        )
    # Failures without a failed call: a render error (no call made) or a receipt after acceptance.
    later = (
        Notification.objects.filter(created_at__gte=since, status__in=FAILED_STATUSES, updated_at__gte=since)
        .filter(Q(attempts=0) | Q(sent_at__isnull=False))
        .values("provider", "status", "error_code")
        .annotate(count=Count("pk"), first=Min("updated_at"), last=Max("updated_at"))
        .order_by("-count")[:limit]
    )
    for row in later:
        render = row["error_code"] == "render"
        code = "render" if render else f"receipt:{row['status']}"
        params = {"provider": row["provider"], "status__exact": row["status"], "created_at__gte": since.isoformat()}
        if render:
            params["error_code"] = "render"
        causes.append(
            FailureCause(
                provider=row["provider"],
                code=code,
                kind="permanent",
                source="render" if render else "receipt",
                count=row["count"],
                messages=row["count"],
                first_seen=row["first"],
                last_seen=row["last"],
                link=_link(**params),
            )
        )
    causes.sort(key=lambda c: (-c.count, c.provider, c.code))
    return causes[:limit]
