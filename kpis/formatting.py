"""How figures read: on the page (kpi_format) and in CSV exports (kpi_raw, machine-friendly)."""

from __future__ import annotations


def kpi_format(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value * 100:.1f} %"
    if kind == "int":
        return f"{value:,}"
    if kind == "ms":
        if value < 1000:
            return f"{value:.0f} ms"
        if value < 120_000:
            return f"{value / 1000:.1f} s"
        if value < 7_200_000:
            return f"{value / 60_000:.1f} min"
        return f"{value / 3_600_000:.1f} h"
    if kind == "num":
        return f"{value:.2f}"
    if kind == "days":
        return f"{value:.1f} d"
    return str(value)


def kpi_raw(value, kind: str):
    if value is None:
        return ""
    if kind == "pct":
        return f"{value:.4f}"
    if kind in ("ms", "num", "days") and isinstance(value, float):
        return f"{value:.2f}" if kind != "ms" else f"{value:.0f}"
    return value
