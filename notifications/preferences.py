"""Consent, opt-outs and quiet hours: may this customer get this message on this channel, and when."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django.db import connections, router
from django.utils import timezone

from notifications.models import Channel, CustomerPreferences, DeviceToken
from oms_notify import fastsql
from orders.models import Customer

# Channels that quiet hours delay (email waits in an inbox; the feed makes no noise).
QUIET_CHANNELS = {Channel.SMS, Channel.WHATSAPP, Channel.PUSH}


def preferences_for(customer: Customer) -> CustomerPreferences:
    prefs = getattr(customer, "_notification_prefs", None)
    if prefs is None:
        try:
            prefs = customer.notification_preferences  # loaded already when select_related asked for it
        except CustomerPreferences.DoesNotExist:
            prefs, _ = CustomerPreferences.objects.get_or_create(customer=customer)
        customer._notification_prefs = prefs
    return prefs


_devices_sql: dict[str, str] = {}


def active_devices(customer: Customer) -> list[tuple[int, str]]:
    """(id, provider) of the customer's active push devices: a statement built once, read for
    every customer message that may go by push."""
    alias = router.db_for_read(DeviceToken)
    connection = connections[alias]
    sql = _devices_sql.get(connection.vendor)
    if sql is None:
        qn = connection.ops.quote_name
        sql = _devices_sql[connection.vendor] = (
            f"SELECT {qn('id')}, {qn('provider')} FROM {qn(DeviceToken._meta.db_table)} "
            f"WHERE {qn('customer_id')} = %s AND {qn('active')} ORDER BY {qn('id')}"
        )
    with connection.cursor() as cursor:
        fastsql.execute(cursor, sql, [customer.pk])
        return [(pk, provider) for pk, provider in cursor.fetchall()]


def consent_refusal(customer: Customer, prefs: CustomerPreferences, channel: str) -> str:
    """Why this channel may not be used for this customer ("" when it may)."""
    if channel == Channel.INAPP:
        return ""
    consent = getattr(customer, f"consent_{channel}", False)
    if not consent:
        return "no_consent"
    if prefs.opted_out(channel):
        return "opted_out"
    return ""


def customer_zone(customer: Customer) -> zoneinfo.ZoneInfo:
    name = customer.time_zone or customer.brand.default_time_zone or "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        return zoneinfo.ZoneInfo("UTC")


def _at(day, clock: time, zone: zoneinfo.ZoneInfo) -> datetime:
    # Wall-clock time on that day; a time that DST skips is pushed forward by the gap.
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)
    return round_trip if round_trip.replace(tzinfo=None) != naive else aware


def quiet_hours_end(
    prefs: CustomerPreferences, zone: zoneinfo.ZoneInfo, now: datetime | None = None
) -> datetime | None:
    """When quiet hours end if `now` is inside them, else None. Works across midnight and DST."""
    if not prefs.quiet_hours_enabled or prefs.quiet_start == prefs.quiet_end:
        return None
    now = now or timezone.now()
    local = now.astimezone(zone)
    start, end = _as_time(prefs.quiet_start), _as_time(prefs.quiet_end)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return _at(end_day, end, zone)


def _as_time(value) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))
