"""Days, weeks (Monday first) and months as the dashboard counts them, in the KPI time zone."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from django.conf import settings


def kpi_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = kpi_zone()
    return datetime.combine(day, time(), zone), datetime.combine(day + timedelta(days=1), time(), zone)


def period_start(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def period_end(start: date, grain: str) -> date:
    """The first day after the period that starts on `start`."""
    if grain == "week":
        return start + timedelta(days=7)
    if grain == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def period_back(start: date, grain: str, n: int = 1) -> date:
    for _ in range(n):
        start = period_start(start - timedelta(days=1), grain)
    return start


def period_label(start: date, grain: str) -> str:
    if grain == "week":
        return f"week of {start:%Y-%m-%d}"
    if grain == "month":
        return f"{start:%Y-%m}"
    return f"{start:%Y-%m-%d}"


def period_short_label(start: date, grain: str) -> str:
    """For chart axes: 16 Nov (a day or the week starting then), Nov 2026 (a month)."""
    return f"{start:%b %Y}" if grain == "month" else f"{start:%d %b}"
