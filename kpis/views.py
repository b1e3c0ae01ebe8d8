"""The KPI dashboard (staff only: every view is wrapped in admin_view in kpis/urls.py).

Thin: the form reads the selection, kpis.queries reads the rollups, kpis.charts draws them.
"""

from __future__ import annotations

import csv
from datetime import date

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kpis import charts, queries
from kpis.definitions import DEFINITIONS
from kpis.formatting import kpi_format, kpi_raw
from kpis.models import Grain, NotificationRollup, RefreshState, ShipmentRollup
from kpis.periods import period_back, period_end, period_label, period_short_label, period_start
from kpis.tasks import refresh_kpis
from notifications.models import Channel
from orders.models import Brand

SPAN_CHOICES = [(n, f"{n} periods") for n in (4, 8, 12, 24)]


class SelectionForm(forms.Form):
    grain = forms.ChoiceField(choices=Grain.choices, required=False, label="Period")
    period = forms.DateField(required=False, label="Showing", help_text="Any day inside the period.")
    brand = forms.ModelChoiceField(queryset=Brand.objects.all(), required=False, empty_label="All brands")
    channel = forms.ChoiceField(choices=[("", "All channels"), *Channel.choices], required=False)
    carrier = forms.ChoiceField(required=False)
    span = forms.TypedChoiceField(choices=SPAN_CHOICES, coerce=int, required=False, label="Trend over")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        carriers = set(ShipmentRollup.objects.values_list("carrier", flat=True).distinct())
        carriers |= set(NotificationRollup.objects.exclude(carrier="").values_list("carrier", flat=True).distinct())
        self.fields["carrier"].choices = [("", "All carriers"), *((c, c) for c in sorted(carriers))]

    def selection(self) -> queries.Selection:
        data = self.cleaned_data
        grain = data.get("grain") or Grain.WEEK
        day = data.get("period") or timezone.localdate()
        return queries.Selection(
            grain=grain,
            period=period_start(day, grain),
            span=data.get("span") or 8,
            brand_id=data["brand"].pk if data.get("brand") else None,
            channel=data.get("channel") or "",
            carrier=data.get("carrier") or "",
        )


def _collect(sel: queries.Selection) -> dict:
    parts = {
        "notifications": queries.notification_tables(sel),
        "feedback": queries.feedback_tables(sel),
        "shipments": queries.shipment_tables(sel),
        "visits": queries.visit_tables(sel),
        "sync": queries.sync_tables(sel),
    }
    tables = {t.key: t for part in parts.values() for t in part["tables"]}
    return {"parts": parts, "tables": tables}


def _charts(sel: queries.Selection, tables: dict[str, queries.Table]) -> dict:
    labels = [period_short_label(p, sel.grain) for p in sel.periods]
    trend = tables["delivery_trend"].rows
    # A channel without receipts has no delivery rate to draw.
    channels = sorted({row[1] for row in trend if row[4] is not None})
    long_labels = [period_label(p, sel.grain) for p in sel.periods]
    delivery = {
        c: [next((row[4] for row in trend if row[0] == label and row[1] == c), None) for label in long_labels]
        for c in channels
    }
    perf = tables["delivery_performance_trend"].rows
    buckets = [row[0] for row in tables["latency_distribution"].rows]
    visits = tables["visits_by_status"].rows
    runs = list(reversed(tables["sync_runs"].rows))
    return {
        "delivery_trend": charts.line_chart("Delivery rate by channel", labels, delivery, full_range=False),
        "confirm_distribution": charts.bar_chart(
            "Time to confirm", buckets, {"Confirmations": [r[1] for r in tables["confirm_distribution"].rows]}
        ),
        "latency_distribution": charts.bar_chart(
            "Update latency", buckets, {"Messages": [r[1] for r in tables["latency_distribution"].rows]}
        ),
        "csat_distribution": charts.bar_chart(
            "CSAT distribution",
            ["1", "2", "3", "4", "5"],
            {"Responses": [r[1] for r in tables["csat_distribution"].rows]},
        ),
        "performance_trend": charts.line_chart(
            "Delivery performance",
            labels,
            {
                "On time in window": [r[2] for r in perf],
                "ETA accuracy": [r[3] for r in perf],
                "Failed first attempt": [r[4] for r in perf],
            },
        ),
        "visits_by_status": charts.bar_chart(
            "Tracking visits by order status", [r[0] for r in visits], {"Visits": [r[2] for r in visits]}
        ),
        "sync_runs": charts.line_chart(
            "Data sync accuracy per run", [r[0] for r in runs], {"Accuracy": [r[5] for r in runs]}
        ),
    }


def _export(table: queries.Table, sel: queries.Selection) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"kpis-{table.key}-{sel.grain}-{sel.period:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow([label for label, _ in table.columns])
    for row in table.rows:
        writer.writerow([kpi_raw(v, kind) for v, (_, kind) in zip(row, table.columns, strict=True)])
    return response


def _error(error: str, detail: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail, "fields": fields or {}}, status=400)


def dashboard(request: HttpRequest) -> HttpResponse:
    export = request.GET.get("export", "")
    # Fields left out of the query keep their defaults (a week, eight periods of trend).
    form = SelectionForm({"grain": Grain.WEEK, "span": "8", **request.GET.dict()})
    if form.is_valid():
        sel = form.selection()
    else:
        if export:
            return _error("invalid_selection", "The selection is not valid.", form.errors.get_json_data())
        # Show what was wrong next to the fields, and the default selection meanwhile.
        fallback = SelectionForm(data={"grain": Grain.WEEK, "span": "8"})
        fallback.is_valid()
        sel = fallback.selection()
    data = _collect(sel)
    if export:
        table = data["tables"].get(export)
        if table is None:
            return _error("unknown_table", f"No table named {export!r}.", {"export": sorted(data["tables"])})
        return _export(table, sel)
    for table in data["tables"].values():
        table.formatted = [
            [kpi_format(v, kind) for v, (_, kind) in zip(row, table.columns, strict=True)] for row in table.rows
        ]
    query = request.GET.copy()
    query.pop("export", None)
    context = {
        "title": "Delivery KPIs",
        "form": form,
        "sel": sel,
        "period_label": period_label(sel.period, sel.grain),
        "previous": period_back(sel.period, sel.grain),
        "next": _next_period(sel),
        "query": query.urlencode(),
        "parts": data["parts"],
        "tables": data["tables"],
        "charts": _charts(sel, data["tables"]),
        "defs": {k.replace("-", "_"): v for k, v in DEFINITIONS.items()},
        "state": RefreshState.objects.filter(pk=1).first(),
    }
    return render(request, "admin/kpis/dashboard.html", context)


def _next_period(sel: queries.Selection) -> date | None:
    following = period_end(sel.period, sel.grain)
    return following if following <= timezone.localdate() else None


def definitions(request: HttpRequest) -> HttpResponse:
    return render(request, "admin/kpis/definitions.html", {"title": "KPI definitions", "definitions": DEFINITIONS})


@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    refresh_kpis.delay()
    messages.info(request, "A refresh of the KPIs was queued; figures update within a minute.")
    return redirect("kpis:dashboard")
