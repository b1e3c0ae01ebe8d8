"""What the dashboard shows: figures and tables read from the rollups for one selection.

Every table is a `Table` (the same rows feed the HTML, the chart next to it and the CSV export).
Ratios are fractions (0..1) and None where the denominator is zero: "no data" is never shown as 0 %.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from django.apps import apps
from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse

from kpis.histograms import EDGES_MS, hist_merge, hist_percentile, hist_share_under
from kpis.models import FeedbackRollup, NotificationRollup, ShipmentRollup, VisitRollup
from kpis.periods import period_back, period_label


@dataclass(frozen=True)
class Selection:
    grain: str
    period: date  # start of the period the tables show
    span: int = 8  # periods drawn in the trend charts, ending with `period`
    brand_id: int | None = None
    channel: str = ""
    carrier: str = ""

    @property
    def periods(self) -> list[date]:
        return [period_back(self.period, self.grain, n) for n in range(self.span - 1, -1, -1)]


@dataclass
class Table:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (label, kind): kind is text, int, pct, ms, num, days
    rows: list[list] = field(default_factory=list)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _filtered(model, sel: Selection, periods: list[date]):
    qs = model.objects.filter(grain=sel.grain, period_start__in=periods)
    if sel.brand_id:
        qs = qs.filter(brand_id=sel.brand_id)
    if sel.channel and model is NotificationRollup:
        qs = qs.filter(channel=sel.channel)
    if sel.carrier and model is not VisitRollup:
        qs = qs.filter(carrier=sel.carrier)
    return qs


def _sum(rows, *names: str) -> dict[str, int]:
    return {n: sum(getattr(r, n) for r in rows) for n in names}


# --- notifications ------------------------------------------------------------------------------


def delivery_figures(rows: list[NotificationRollup]) -> dict:
    s = _sum(rows, "total", "accepted", "rejected", "eligible", "delivered", "undelivered", "awaiting", "not_sent")
    s["delivery_rate"] = ratio(s["delivered"], s["eligible"])
    s["acceptance_rate"] = ratio(s["accepted"], s["accepted"] + s["rejected"])
    s["drop_rate"] = ratio(s["undelivered"], s["eligible"])
    return s


def confirm_figures(rows: list[NotificationRollup]) -> dict:
    hist = hist_merge(r.confirm_hist for r in rows)
    top = max((r.confirm_max_ms for r in rows), default=0)
    n = sum(hist)
    return {
        "count": n,
        "avg_ms": ratio(sum(r.confirm_sum_ms for r in rows), n),
        "p50_ms": hist_percentile(hist, 0.5, max_ms=top),
        "p95_ms": hist_percentile(hist, 0.95, max_ms=top),
        "under_30s": hist_share_under(hist, 30_000),
        "hist": hist,
    }


def latency_figures(rows: list[NotificationRollup]) -> dict:
    hist = hist_merge(r.latency_hist for r in rows)
    top = max((r.latency_max_ms for r in rows), default=0)
    return {
        "count": sum(hist),
        "p50_ms": hist_percentile(hist, 0.5, max_ms=top),
        "p95_ms": hist_percentile(hist, 0.95, max_ms=top),
        "p99_ms": hist_percentile(hist, 0.99, max_ms=top),
        "under_2s": hist_share_under(hist, 2_000),
        "hist": hist,
    }


def _group(rows, *keys: str) -> dict[tuple, list]:
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        groups[tuple(getattr(r, k) for k in keys)].append(r)
    return groups


def notification_tables(sel: Selection) -> dict:
    rows = list(_filtered(NotificationRollup, sel, sel.periods))
    current = [r for r in rows if r.period_start == sel.period]
    providers = Table(
        "delivery_by_provider",
        "Delivery by channel and provider",
        [
            ("Channel", "text"),
            ("Provider", "text"),
            ("Messages", "int"),
            ("Accepted", "int"),
            ("Rejected", "int"),
            ("Acceptance rate", "pct"),
            ("With receipts", "int"),
            ("Delivered", "int"),
            ("Not delivered", "int"),
            ("No receipt yet", "int"),
            ("Delivery rate", "pct"),
            ("Drop rate", "pct"),
        ],
    )
    for (channel, provider), group in _group(current, "channel", "provider").items():
        f = delivery_figures(group)
        providers.rows.append(
            [
                channel,
                provider,
                f["total"],
                f["accepted"],
                f["rejected"],
                f["acceptance_rate"],
                f["eligible"],
                f["delivered"],
                f["undelivered"],
                f["awaiting"],
                f["delivery_rate"],
                f["drop_rate"],
            ]
        )
    # The provider that dropped the most comes first.
    providers.rows.sort(key=lambda row: (-row[8], -(row[11] or 0), row[0], row[1]))

    trend = Table(
        "delivery_trend",
        "Delivery rate by channel over time",
        [
            ("Period", "text"),
            ("Channel", "text"),
            ("With receipts", "int"),
            ("Delivered", "int"),
            ("Delivery rate", "pct"),
            ("Acceptance rate", "pct"),
        ],
    )
    by_period = _group(rows, "period_start", "channel")
    for start in sel.periods:
        for channel in sorted({c for (p, c) in by_period if p == start}):
            f = delivery_figures(by_period[(start, channel)])
            trend.rows.append(
                [
                    period_label(start, sel.grain),
                    channel,
                    f["eligible"],
                    f["delivered"],
                    f["delivery_rate"],
                    f["acceptance_rate"],
                ]
            )

    confirm = Table(
        "time_to_confirm",
        "Time to confirm a delivery, by carrier",
        [
            ("Carrier", "text"),
            ("Confirmations", "int"),
            ("Average", "ms"),
            ("p50", "ms"),
            ("p95", "ms"),
            ("Under 30 s", "pct"),
        ],
    )
    latency = Table(
        "update_latency",
        "Update latency, by carrier and channel",
        [
            ("Carrier", "text"),
            ("Channel", "text"),
            ("Messages", "int"),
            ("p50", "ms"),
            ("p95", "ms"),
            ("p99", "ms"),
            ("Under 2 s", "pct"),
        ],
    )
    for (carrier,), group in sorted(_group(current, "carrier").items()):
        c = confirm_figures(group)
        if c["count"]:
            confirm.rows.append(
                [carrier or "(none)", c["count"], c["avg_ms"], c["p50_ms"], c["p95_ms"], c["under_30s"]]
            )
    for (carrier, channel), group in sorted(_group(current, "carrier", "channel").items()):
        lat = latency_figures(group)
        if lat["count"]:
            latency.rows.append(
                [
                    carrier or "(none)",
                    channel,
                    lat["count"],
                    lat["p50_ms"],
                    lat["p95_ms"],
                    lat["p99_ms"],
                    lat["under_2s"],
                ]
            )
    latency_dist = Table(
        "latency_distribution", "Update latency distribution", [("Faster than", "text"), ("Messages", "int")]
    )
    confirm_dist = Table(
        "confirm_distribution", "Time to confirm distribution", [("Faster than", "text"), ("Confirmations", "int")]
    )
    lat_all, conf_all = latency_figures(current), confirm_figures(current)
    for i, label in enumerate(bucket_labels()):
        latency_dist.rows.append([label, lat_all["hist"][i]])
        confirm_dist.rows.append([label, conf_all["hist"][i]])
    return {
        "delivery": delivery_figures(current),
        "confirm": conf_all,
        "latency": lat_all,
        "tables": [providers, trend, confirm, confirm_dist, latency, latency_dist],
    }


def bucket_labels() -> list[str]:
    def fmt(ms: int) -> str:
        if ms < 1000:
            return f"{ms} ms"
        if ms < 120_000:
            return f"{ms // 1000} s"
        if ms < 7_200_000:
            return f"{ms // 60_000} min"
        return f"{ms // 3_600_000} h"

    return [f"< {fmt(e)}" for e in EDGES_MS] + [f"≥ {fmt(EDGES_MS[-1])}"]


# --- feedback -------------------------------------------------------------------------------------


def feedback_figures(rows: list[FeedbackRollup]) -> dict:
    scores = [sum((r.scores or [0] * 5)[i] for r in rows) for i in range(5)]
    scored = sum(scores)
    s = _sum(rows, "requests", "responses", "not_received")
    s["scores"] = scores
    s["scored"] = scored
    s["csat"] = ratio(sum((i + 1) * n for i, n in enumerate(scores)), scored)
    s["response_rate"] = ratio(s["responses"], s["requests"])
    return s


def feedback_tables(sel: Selection) -> dict:
    current = list(_filtered(FeedbackRollup, sel, [sel.period]))
    figures = feedback_figures(current)
    dist = Table("csat_distribution", "CSAT distribution", [("Score", "text"), ("Responses", "int"), ("Share", "pct")])
    for i, n in enumerate(figures["scores"]):
        dist.rows.append([f"{i + 1}", n, ratio(n, figures["scored"])])
    lowest = Table(
        "csat_lowest",
        "Lowest-scoring carriers and routes",
        [("Carrier", "text"), ("Route", "text"), ("Scored", "int"), ("CSAT", "num"), ("Not received", "int")],
    )
    for (carrier, route), group in _group(current, "carrier", "route").items():
        f = feedback_figures(group)
        if f["scored"] or f["not_received"]:
            lowest.rows.append([carrier or "(unknown)", route or "(any)", f["scored"], f["csat"], f["not_received"]])
    lowest.rows.sort(key=lambda row: (row[3] if row[3] is not None else 6, -row[2]))
    return {"feedback": figures, "tables": [dist, lowest]}


# --- shipments ------------------------------------------------------------------------------------


def shipment_figures(rows: list[ShipmentRollup]) -> dict:
    s = _sum(
        rows,
        "delivered",
        "with_window",
        "on_time",
        "late",
        "with_eta",
        "eta_exact",
        "eta_abs_error_days",
        "first_attempt_failed",
    )
    s["on_time_rate"] = ratio(s["on_time"], s["with_window"])
    s["eta_accuracy"] = ratio(s["eta_exact"], s["with_eta"])
    s["eta_mean_error_days"] = ratio(s["eta_abs_error_days"], s["with_eta"])
    s["failed_first_attempt_rate"] = ratio(s["first_attempt_failed"], s["delivered"])
    return s


def shipment_tables(sel: Selection) -> dict:
    rows = list(_filtered(ShipmentRollup, sel, sel.periods))
    current = [r for r in rows if r.period_start == sel.period]
    by_carrier = Table(
        "delivery_performance",
        "Delivery performance by carrier",
        [
            ("Carrier", "text"),
            ("Delivered", "int"),
            ("On time in window", "pct"),
            ("Late", "int"),
            ("ETA accuracy", "pct"),
            ("Mean ETA error", "days"),
            ("Failed first attempt", "pct"),
        ],
    )
    for (carrier,), group in sorted(_group(current, "carrier").items()):
        f = shipment_figures(group)
        by_carrier.rows.append(
            [
                carrier,
                f["delivered"],
                f["on_time_rate"],
                f["late"],
                f["eta_accuracy"],
                f["eta_mean_error_days"],
                f["failed_first_attempt_rate"],
            ]
        )
    trend = Table(
        "delivery_performance_trend",
        "Delivery performance over time",
        [
            ("Period", "text"),
            ("Delivered", "int"),
            ("On time in window", "pct"),
            ("ETA accuracy", "pct"),
            ("Failed first attempt", "pct"),
        ],
    )
    by_period = _group(rows, "period_start")
    for start in sel.periods:
        f = shipment_figures(by_period.get((start,), []))
        trend.rows.append(
            [
                period_label(start, sel.grain),
                f["delivered"],
                f["on_time_rate"],
                f["eta_accuracy"],
                f["failed_first_attempt_rate"],
            ]
        )
    return {"shipments": shipment_figures(current), "tables": [by_carrier, trend]}


# --- tracking-page visits -------------------------------------------------------------------------


def visit_tables(sel: Selection) -> dict:
    current = list(_filtered(VisitRollup, sel, [sel.period]))
    visits = sum(r.visits for r in current)
    orders = sum(r.orders for r in current)
    table = Table(
        "visits_by_status",
        "Tracking-page visits by the order's status (exceptions first)",
        [
            ("Order status", "text"),
            ("Exception", "text"),
            ("Visits", "int"),
            ("Orders", "int"),
            ("Visits per order", "num"),
            ("Share of visits", "pct"),
        ],
    )
    for (status, exception), group in _group(current, "order_status", "exception").items():
        v, o = sum(r.visits for r in group), sum(r.orders for r in group)
        table.rows.append([status, "yes" if exception else "no", v, o, ratio(v, o), ratio(v, visits)])
    table.rows.sort(key=lambda row: (row[1] != "yes", -row[2]))
    exception_visits = sum(r.visits for r in current if r.exception)
    return {
        "visits": {
            "visits": visits,
            "orders": orders,
            "per_order": ratio(visits, orders),
            "exception_share": ratio(exception_visits, visits),
        },
        "tables": [table],
    }


# --- data sync accuracy (carriers' reconciliation, read lazily) -----------------------------------


def sync_tables(sel: Selection, *, runs: int = 10) -> dict:
    table = Table(
        "sync_runs",
        "Latest reconciliation runs",
        [
            ("Started", "text"),
            ("Trigger", "text"),
            ("Checked", "int"),
            ("Mismatched", "int"),
            ("Unreachable", "int"),
            ("Accuracy", "pct"),
        ],
    )
    empty = {"sync": None, "tables": [table]}
    try:
        Run = apps.get_model("carriers", "ReconciliationRun")
        Mismatch = apps.get_model("carriers", "SyncMismatch")
    except LookupError:
        return empty
    try:
        finished = list(Run.objects.filter(finished_at__isnull=False).order_by("-started_at")[:runs])
        open_mismatches = Mismatch.objects.filter(resolved_at__isnull=True)
        if sel.brand_id:
            open_mismatches = open_mismatches.filter(shipment__order__brand_id=sel.brand_id)
        if sel.carrier:
            open_mismatches = open_mismatches.filter(shipment__carrier=sel.carrier)
        open_count = open_mismatches.count()
    except DatabaseError:  # the reconciliation tables are not migrated yet
        return empty
    if not finished:
        return empty
    for run in finished:
        table.rows.append(
            [
                f"{run.started_at:%Y-%m-%d %H:%M}",
                run.trigger,
                run.checked,
                run.mismatched,
                run.unreachable,
                ratio(run.checked - run.mismatched, run.checked),
            ]
        )
    checked = sum(r.checked for r in finished)
    mismatched = sum(r.mismatched for r in finished)
    try:
        query = {"open": "yes", **({"shipment__carrier": sel.carrier} if sel.carrier else {})}
        link = reverse("admin:carriers_syncmismatch_changelist") + "?" + urlencode(query)
    except NoReverseMatch:
        link = ""
    return {
        "sync": {
            "latest_accuracy": ratio(finished[0].checked - finished[0].mismatched, finished[0].checked),
            "accuracy": ratio(checked - mismatched, checked),
            "runs": len(finished),
            "open_mismatches": open_count,
            "mismatches_url": link,
        },
        "tables": [table],
    }
