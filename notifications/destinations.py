"""Staff destinations (Slack, Teams, Google Chat): secrets, the SSRF-guarded POST, disabling, rendering.

A destination's webhook URL or bot token is encrypted at rest (oms_notify.crypto). Every webhook
URL goes through notifications.netguard, which resolves it, refuses private and loopback addresses
and connects to the address it checked. A permanent error disables the destination (reason and
time in the admin) and alerts staff on the other channels, instead of failing forever.
"""

from __future__ import annotations

import json
import logging

import urllib3
from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications import netguard
from notifications.models import Notification, StaffDestination
from notifications.transports.base import Transport, TransportError, parse_retry_after, transient_http
from oms_notify import crypto
from orders.models import Brand

logger = logging.getLogger(__name__)
WEBHOOK_KINDS = {StaffDestination.Kind.SLACK_WEBHOOK, StaffDestination.Kind.TEAMS, StaffDestination.Kind.GOOGLE_CHAT}


def destination_set_secret(*, destination: StaffDestination, secret: str) -> StaffDestination:
    """Store a webhook URL (checked against SSRF now, and again at every send) or a bot token, encrypted."""
    secret = secret.strip()
    if destination.kind in WEBHOOK_KINDS:
        netguard.check_url(secret)  # raises UnsafeDestination (a ValueError) for the form to show
    destination.secret_encrypted = crypto.encrypt(secret)
    # A new secret is a fresh start for a destination disabled by a dead one.
    destination.enabled, destination.disabled_reason, destination.disabled_at = True, "", None
    destination.save()
    return destination


def destination_secret(destination: StaffDestination) -> str:
    return crypto.decrypt(destination.secret_encrypted)


def destinations_for(*, brand: Brand, event: str) -> list[StaffDestination]:
    """The enabled destinations that want this staff event: the brand's own and the all-brands ones."""
    found = StaffDestination.objects.filter(Q(brand=brand) | Q(brand__isnull=True), enabled=True)
    return [d for d in found if not d.events or event in d.events]


def destination_of(notification: Notification) -> StaffDestination:
    pk = int(notification.recipient.split(":", 1)[1])
    return StaffDestination.objects.get(pk=pk)


def destination_disable(
    *, destination: StaffDestination, reason: str, notification: Notification | None = None
) -> bool:
    """Disable a destination that answered with a permanent error; alert staff once. True if it was enabled."""
    changed = StaffDestination.objects.filter(pk=destination.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=timezone.now(), updated_at=timezone.now()
    )
    if not changed:
        return False
    logger.error("staff destination disabled", extra={"destination": destination.pk, "reason": reason[:200]})
    from notifications import staff_alerts

    if notification is None or notification.order_id is None:
        # No order to hang it on (disabled from the admin, or while carrying an alert about the system).
        staff_alerts.staff_system_alert(
            brand=destination.brand,
            event="destination_disabled",
            key=f"dest{destination.pk}:{int(timezone.now().timestamp())}",
            title=f"A staff destination was disabled: {destination.name}",
            facts=[("Destination", f"{destination.name} ({destination.get_kind_display()})"), ("Reason", reason[:300])],
            admin_url=settings.SITE_URL + reverse("admin:notifications_staffdestination_change", args=[destination.pk]),
        )
    else:
        staff_alerts.staff_alert(
            order=notification.order,
            event="destination_disabled",
            key_source=f"dest{destination.pk}:{int(timezone.now().timestamp())}",
            data={"reason": f"{destination.name} ({destination.get_kind_display()}) disabled: {reason}"[:300]},
        )
    return True


def post_json(url: str, payload: dict, *, name: str) -> netguard.NetResponse:
    """POST JSON to a user-supplied URL through the SSRF guard; map failures to TransportError."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    try:
        return netguard.post(url, body=body, headers=headers, timeout=Transport.timeouts())
    except netguard.UnsafeDestination as exc:
        raise TransportError(
            f"unsafe destination: {exc}", permanent=True, code=exc.reason, scope="destination"
        ) from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise TransportError(f"timeout talking to {name}", code="timeout") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise TransportError(f"connection error talking to {name}", code="connection") from exc
    except OSError as exc:  # resolution failures surface as socket errors
        raise TransportError(f"connection error talking to {name}: {exc}", code="connection") from exc


def webhook_error(
    response: netguard.NetResponse, *, name: str, dead: frozenset[int] = frozenset({400, 401, 403, 404, 410})
) -> TransportError:
    """A webhook's non-success answer: 404/410 (deleted), 401/403 (revoked) and 400 are the destination's fault."""
    text = response.body[:300].decode("utf-8", "replace").strip()
    status = response.status
    permanent = not transient_http(status)
    return TransportError(
        f"{name} answered {status}: {text}" if text else f"{name} answered {status}",
        permanent=permanent,
        code=text[:64] if text and " " not in text[:64] else f"http_{status}",
        http_status=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        scope="destination" if permanent and status in dead else "message",
    )


# --- content ----------------------------------------------------------------------------------


def admin_order_url(order) -> str:
    return f"{settings.SITE_URL}{reverse('admin:orders_order_change', args=[order.pk])}"


def chat_facts(notification: Notification) -> list[tuple[str, str]]:
    """Order, status, reason and parcel: what a dispatcher needs at a glance."""
    order = notification.order
    facts = [("Order", order.number), ("Status", order.get_status_display())]
    reason = (notification.data or {}).get("reason") or (
        notification.shipment.status_reason if notification.shipment_id else ""
    )
    if reason:
        facts.append(("Reason", str(reason)))
    if notification.shipment_id:
        facts.append(("Parcel", f"{notification.shipment.carrier} {notification.shipment.tracking_number}"))
    return facts
