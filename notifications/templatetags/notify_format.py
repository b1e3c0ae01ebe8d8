"""Locale-aware formatting for message templates (Babel), in the customer's locale and time zone."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_time
from babel.numbers import format_currency
from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def money(context, amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    return format_currency(amount, currency, locale=context.get("babel_locale", "en"))


def _as_datetime(value):
    # Values stored in JSON (the proof of delivery) arrive as ISO strings.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


@register.simple_tag(takes_context=True)
def ldate(context, value: date | datetime | None, fmt: str = "long") -> str:
    value = _as_datetime(value)
    if not value:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(context["tz"]).date()
    return format_date(value, format=fmt, locale=context.get("babel_locale", "en"))


@register.simple_tag(takes_context=True)
def ldatetime(context, value: datetime | str | None) -> str:
    """A long date and a short time (no seconds) in the customer's zone, e.g. "November 20, 2026, 2:05 PM"."""
    value = _as_datetime(value)
    if not value:
        return ""
    locale = context.get("babel_locale", "en")
    local = value.astimezone(context["tz"])
    day = format_date(local.date(), format="long", locale=locale)
    return f"{day}, {format_time(local, format='short', locale=locale)}"
