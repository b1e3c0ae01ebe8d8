from __future__ import annotations

from django import template

from kpis.formatting import kpi_format

register = template.Library()


@register.filter
def kpi(value, kind: str = "int") -> str:
    """{{ value|kpi:"pct" }}: a figure as the dashboard shows it ("—" for no data)."""
    return kpi_format(value, kind)
