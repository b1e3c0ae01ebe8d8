"""Server-drawn SVG charts (pygal), inlined in the page: no JavaScript, nothing loaded from outside."""

from __future__ import annotations

import re

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#374151",
    foreground_strong="#111827",
    foreground_subtle="#e5e7eb",
    colors=("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777"),
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
    value_font_size=10,
)
# pygal adds a config <script> for its optional tooltips (from a CDN unless js=[]) and comments
# naming its website: neither is wanted in an offline admin page.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _config(title: str, *, percent: bool, unit: str) -> dict:
    if percent:
        formatter = lambda v: "" if v is None else f"{v:.1f} %"  # noqa: E731
    else:
        formatter = lambda v: "" if v is None else f"{v:,.0f}{unit}"  # noqa: E731
    return {
        "title": title,
        "js": [],
        "style": STYLE,
        "width": 720,
        "height": 330,
        "explicit_size": False,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "truncate_legend": -1,
        "value_formatter": formatter,
        "no_data_text": "No data for this selection",
        "x_label_rotation": 20,
        "truncate_label": 16,
        "margin": 12,
    }


def _render(chart) -> SafeString:
    svg = chart.render(is_unicode=True, disable_xml_declaration=True)
    # pygal builds the SVG with an XML library, which escapes every label and value it is given.
    return mark_safe(_COMMENT.sub("", _SCRIPT.sub("", svg)))  # noqa: S308


def _empty(title: str) -> SafeString:
    # Without series or labels pygal draws only its "no data" text (no axis of made-up zeros).
    return _render(pygal.Bar(**_config(title, percent=False, unit="")))


def line_chart(
    title: str,
    x_labels: list[str],
    series: dict[str, list],
    *,
    percent: bool = True,
    unit: str = "",
    full_range: bool = True,
) -> SafeString:
    if not any(v is not None for values in series.values() for v in values):
        return _empty(title)
    chart = pygal.Line(**_config(title, percent=percent, unit=unit), allow_interruptions=True, dots_size=3)
    chart.x_labels = x_labels
    for name, values in series.items():
        chart.add(name, [None if v is None else (v * 100 if percent else v) for v in values])
    if percent and full_range:
        chart.range = (0, 100)
    return _render(chart)


def bar_chart(
    title: str, x_labels: list[str], series: dict[str, list], *, percent: bool = False, unit: str = ""
) -> SafeString:
    if not any(v for values in series.values() for v in values):
        return _empty(title)
    chart = pygal.Bar(**_config(title, percent=percent, unit=unit), print_values=len(x_labels) <= 8)
    chart.x_labels = x_labels
    for name, values in series.items():
        chart.add(name, [None if v is None else (v * 100 if percent else v) for v in values])
    return _render(chart)
