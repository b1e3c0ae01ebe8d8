"""Provider failover and circuit breaking.

A brand lists providers per channel in order (ProviderRoute rows, else NOTIFY_PROVIDER_ORDER, else
the built-in order); unconfigured ones are skipped. A message moves to the next provider when
its current one failed it NOTIFY_FAILOVER_AFTER_ATTEMPTS times transiently, when that provider's
circuit is open, or at once when the provider itself is at fault (revoked API key). A circuit
(ProviderHealth, shared by all workers through the database) opens after NOTIFY_CIRCUIT_FAILURES
failures in a row, stays open NOTIFY_CIRCUIT_OPEN_SECONDS, then lets one probe through: its
success closes the circuit, its failure opens it again.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications.brand_cache import BrandCache
from notifications.models import Channel, DeliveryAttempt, Notification, ProviderHealth, ProviderRoute
from notifications.transports.base import TransportError
from oms_notify.fastsql import JoinedLoader
from orders.models import Brand

# Without any configuration: the order to try the providers of a channel in.
DEFAULT_ORDER: dict[str, list[str]] = {
    Channel.EMAIL: ["sendgrid", "mailgun"],
    Channel.SMS: ["twilio", "messagebird"],
    Channel.WHATSAPP: ["whatsapp_cloud", "twilio", "messagebird_whatsapp"],
}


def configured(provider: str, channel: str) -> bool:
    s = settings
    checks = {
        "sendgrid": lambda: bool(s.SENDGRID_API_KEY),
        "mailgun": lambda: bool(s.MAILGUN_API_KEY and s.MAILGUN_DOMAIN),
        "messagebird": lambda: bool(s.MESSAGEBIRD_ACCESS_KEY and s.MESSAGEBIRD_ORIGINATOR),
        "whatsapp_cloud": lambda: bool(s.WHATSAPP_ACCESS_TOKEN and s.WHATSAPP_PHONE_NUMBER_ID),
    }
    if provider == "messagebird_whatsapp":
        from notifications.transports import messagebird_whatsapp

        return messagebird_whatsapp.configured()
    if provider == "twilio":
        from notifications.transports.twilio import TwilioTransport

        return TwilioTransport.configured(channel)
    check = checks.get(provider)
    return bool(check and check())


# A brand's routes (its own and the all-brands ones), every channel: one query per brand, cached.
_routes: BrandCache[dict[tuple[str, bool], list[str]]] = BrandCache("provider_routes", ProviderRoute)


def _load_routes(brand_id: int) -> dict[tuple[str, bool], list[str]]:
    rows = ProviderRoute.objects.filter(Q(brand_id=brand_id) | Q(brand__isnull=True)).values_list(
        "brand_id", "channel", "providers"
    )
    return {(channel, row_brand is not None): list(providers or []) for row_brand, channel, providers in rows}


def providers_for(*, brand: Brand | None, channel: str) -> list[str]:
    """The configured providers of a channel for a brand, in the order to try them (may be empty)."""
    order: list[str] | None = None
    if brand is not None:
        brand_id = brand.pk
        routes = _routes.get(brand_id, lambda: _load_routes(brand_id))
        order = routes.get((channel, True)) or routes.get((channel, False))
    if not order:
        order = settings.NOTIFY_PROVIDER_ORDER.get(channel) or DEFAULT_ORDER.get(channel, [])
    return [p for p in order if configured(p, channel)]


def provider_fault(error: TransportError) -> bool:
    """The provider account is at fault (revoked key, unknown domain), not this message or recipient."""
    if error.scope == "provider":
        return True
    # SDK transports (SendGrid, Twilio) do not say so themselves: a rejected credential is a 401/403.
    return error.scope == "message" and error.permanent and error.http_status in (401, 403)


# --- the circuit ------------------------------------------------------------------------------


def circuit_allows(provider: str, now: datetime | None = None) -> bool:
    """Closed: yes. Open: no. Half open (open time over): yes for exactly one caller, the probe."""
    return _circuit_check(provider, now)[0]


# Read once per message: built once, not compiled per call (oms_notify/fastsql.py).
_HEALTH = JoinedLoader(ProviderHealth, by="provider")


# provider -> until when (monotonic) a clean circuit read by this process is trusted without a query.
_clean_until: dict[str, float] = {}


def _circuit_check(provider: str, now: datetime | None = None) -> tuple[bool, bool]:
    """(allowed, clean): clean means no failure on record, so a success has nothing to reset.

    A clean circuit is read once per NOTIFY_CIRCUIT_CACHE_SECONDS per process instead of once per
    message; anything else (failures on record, open, half open) is read every time. A failure
    this process records forgets it at once; another process's failures are seen within that time.
    """
    if _clean_until.get(provider, 0.0) > time.monotonic():
        return True, True
    now = now or timezone.now()
    health = _HEALTH.first(provider)
    if health is None or (health.open_until is None and health.consecutive_failures == 0):
        if settings.NOTIFY_CIRCUIT_CACHE_SECONDS > 0:
            _clean_until[provider] = time.monotonic() + settings.NOTIFY_CIRCUIT_CACHE_SECONDS
        return True, True
    if health.open_until is None:
        return True, False
    if health.open_until > now:
        return False, False
    # Only one worker wins the probe; the others see the circuit open for another window.
    probe_until = now + timedelta(seconds=settings.NOTIFY_CIRCUIT_OPEN_SECONDS)
    won = ProviderHealth.objects.filter(provider=provider, open_until__lte=now).update(open_until=probe_until)
    return bool(won), False


def circuit_state(provider: str, now: datetime | None = None) -> str:
    now = now or timezone.now()
    health = ProviderHealth.objects.filter(provider=provider).first()
    if health is None or health.open_until is None:
        return "closed"
    return "open" if health.open_until > now else "half_open"


def _health(provider: str) -> None:
    if not ProviderHealth.objects.filter(provider=provider).exists():
        try:
            with transaction.atomic():
                ProviderHealth.objects.create(provider=provider)
        except IntegrityError:
            pass  # another worker made it


def record_success(provider: str) -> None:
    now = timezone.now()
    ProviderHealth.objects.filter(provider=provider).exclude(consecutive_failures=0, open_until__isnull=True).update(
        consecutive_failures=0, open_until=None, opened_at=None, last_success_at=now
    )


def record_failure(provider: str, error: TransportError) -> bool:
    """Count a provider's failure (not a recipient's); returns True when its circuit is now open."""
    fault = provider_fault(error)
    if error.permanent and not fault:
        return False  # an invalid number says nothing about the provider's health
    _clean_until.pop(provider, None)
    _health(provider)
    now = timezone.now()
    ProviderHealth.objects.filter(provider=provider).update(
        consecutive_failures=F("consecutive_failures") + 1, last_failure_at=now, last_error=error.message[:300]
    )
    health = ProviderHealth.objects.get(provider=provider)
    if health.consecutive_failures >= settings.NOTIFY_CIRCUIT_FAILURES or fault:
        open_until = now + timedelta(seconds=settings.NOTIFY_CIRCUIT_OPEN_SECONDS)
        ProviderHealth.objects.filter(pk=health.pk).update(opened_at=health.opened_at or now, open_until=open_until)
        return True
    return False


# --- choosing ---------------------------------------------------------------------------------


def applies(n: Notification) -> bool:
    """Failover and circuits are for the customer channels' providers (not chat destinations, not the outbox)."""
    return n.channel in DEFAULT_ORDER and n.provider != "outbox"


def _alternatives(n: Notification) -> list[str]:
    if not applies(n):
        return []
    return providers_for(brand=n.order.brand, channel=n.channel)


def route(n: Notification) -> str:
    """The provider to use now: the row's own unless its circuit is open and another's is not."""
    return route_checked(n)[0]


def route_checked(n: Notification) -> tuple[str, bool]:
    """`route`, plus whether the chosen provider's circuit had no failure on record when read.

    A success on a clean circuit has nothing to reset, so the sender skips `record_success` (one
    UPDATE per message); a failure recorded meanwhile is reset by the next success instead.
    """
    if not applies(n):
        return n.provider, False
    allowed, clean = _circuit_check(n.provider)
    if allowed:
        return n.provider, clean
    for provider in _alternatives(n):
        if provider != n.provider:
            allowed, clean = _circuit_check(provider)
            if allowed:
                return provider, clean
    return n.provider, False  # every circuit open: try anyway rather than hold the message


def next_provider(n: Notification, error: TransportError, *, circuit_open: bool) -> str | None:
    """After a failure: the provider to hand the message to now, or None (retry or fail as usual)."""
    fault = provider_fault(error)
    if error.permanent and not fault:
        return None
    order = _alternatives(n)
    if n.provider not in order:
        return None
    failures = DeliveryAttempt.objects.filter(
        notification=n, provider=n.provider, outcome=DeliveryAttempt.Outcome.TRANSIENT
    ).count()
    if not (fault or circuit_open or failures + 1 >= settings.NOTIFY_FAILOVER_AFTER_ATTEMPTS):
        return None
    # The next in order, wrapping round: a primary that recovered gets the message back later.
    start = order.index(n.provider)
    for provider in order[start + 1 :] + order[:start]:
        if circuit_allows(provider):
            return provider
    return None
