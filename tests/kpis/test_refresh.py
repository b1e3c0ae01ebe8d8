"""The refresh: incremental (only the days whose records changed), idempotent, grains that agree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from kpis import queries
from kpis.models import FeedbackRollup, NotificationRollup, RefreshState, ShipmentRollup, VisitRollup
from kpis.periods import kpi_zone, period_start
from kpis.refresh import kpis_refresh
from notifications.models import Notification
from tests.kpis import records as r

pytestmark = pytest.mark.django_db
S = Notification.Status


def snapshot() -> list[tuple]:
    rows = []
    for model in (NotificationRollup, ShipmentRollup, FeedbackRollup, VisitRollup):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "computed_at")]
        rows += sorted(tuple(str(v) for v in row) for row in model.objects.values_list(*fields))
    return rows


def day_of(moment):
    return moment.astimezone(kpi_zone()).date()


@pytest.fixture
def history():
    """Messages, deliveries, answers and visits spread over ten days."""
    o = r.order(promised=(None, day_of(r.days_ago(3))))
    s = r.shipment(o, delivered_at=r.days_ago(3), eta=day_of(r.days_ago(3)))
    Notification.objects.all().delete()
    for n in range(10):
        at = r.days_ago(n + 1)
        _, change = r.scan(s, "in_transit", occurred_at=at, received_at=at)
        r.message(o=o, s=s, change=change, created_at=at, sent_at=at + timedelta(milliseconds=400 * n))
        r.visit(o, at=at)
    r.feedback(o, score=4, at=r.days_ago(2))
    return o


def test_a_second_refresh_with_nothing_changed_gives_the_same_rows(history):
    first = kpis_refresh(full=True)
    before = snapshot()
    second = kpis_refresh()
    third = kpis_refresh(full=True)
    assert first.rows > 0 and not second.skipped and not third.skipped
    assert snapshot() == before


def test_an_incremental_refresh_recomputes_only_the_days_that_changed(history, settings):
    # No overlap window: every record above was written before the first refresh started.
    settings.KPI_REFRESH_OVERLAP_SECONDS = 0
    kpis_refresh(full=True)
    untouched_day = day_of(r.days_ago(8))
    untouched = NotificationRollup.objects.get(grain="day", period_start=untouched_day).computed_at

    result = kpis_refresh()
    assert result.days == 1  # today only: nothing changed since

    changed = Notification.objects.get(created_at=r.days_ago(5))
    Notification.objects.filter(pk=changed.pk).update(status=S.DELIVERED, updated_at=timezone.now())
    result = kpis_refresh()

    assert result.days == 2  # the changed message's day and today
    assert NotificationRollup.objects.get(grain="day", period_start=untouched_day).computed_at == untouched
    assert NotificationRollup.objects.get(grain="day", period_start=day_of(r.days_ago(5))).delivered == 1


def test_a_late_receipt_moves_the_delivery_rate_of_the_day_its_message_was_created():
    o = r.order()
    Notification.objects.all().delete()
    created = r.days_ago(6)
    late = r.message(o=o, status=S.SENT, created_at=created, sent_at=created)
    kpis_refresh()
    sel = queries.Selection(grain="day", period=day_of(created), span=1)
    assert queries.notification_tables(sel)["delivery"]["delivery_rate"] == 0.0

    # Six days later the provider's receipt lands (receipts.py sets the status and delivered_at).
    Notification.objects.filter(pk=late.pk).update(
        status=S.DELIVERED, delivered_at=timezone.now(), updated_at=timezone.now()
    )
    kpis_refresh()
    assert queries.notification_tables(sel)["delivery"]["delivery_rate"] == 1.0


def test_weeks_and_months_are_the_sums_of_their_days(history):
    kpis_refresh(full=True)
    for grain in ("week", "month"):
        for row in NotificationRollup.objects.filter(grain=grain):
            days = NotificationRollup.objects.filter(
                grain="day",
                period_start__gte=row.period_start,
                period_start__in=[
                    d
                    for d in NotificationRollup.objects.filter(grain="day").values_list("period_start", flat=True)
                    if period_start(d, grain) == row.period_start
                ],
                channel=row.channel,
                provider=row.provider,
            )
            assert row.total == sum(d.total for d in days)
            assert row.latency_hist == [sum(col) for col in zip(*(d.latency_hist for d in days), strict=True)]
    assert NotificationRollup.objects.filter(grain="week").exists()


@pytest.mark.django_db(transaction=True)
def test_a_refresh_already_running_makes_a_second_one_step_aside():
    RefreshState.objects.get_or_create(pk=1)
    # The row lock is what keeps two refreshes apart; a lock held elsewhere means "skip".
    from django.db import connections

    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {RefreshState._meta.db_table} WHERE id = 1 FOR UPDATE")
            assert kpis_refresh().skipped
    finally:
        other.rollback()
        other.close()


def test_the_command_refreshes_and_says_how_much_it_did(history, capsys):
    call_command("refresh_kpis", "--full")
    out = capsys.readouterr().out
    assert "full rebuild" in out and "days recomputed" in out
    call_command("refresh_kpis", "--since", str(day_of(r.days_ago(2))))
    assert "(incremental): 3 days recomputed" in capsys.readouterr().out


def test_the_beat_runs_the_refresh_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["kpis-refresh"]
    assert entry["task"] == "kpis.tasks.refresh_kpis"
    from kpis.tasks import refresh_kpis

    assert refresh_kpis.delay().get()["skipped"] is False
    assert RefreshState.objects.get(pk=1).watermark is not None
