"""manage.py replay_webhooks --carrier ups --since 2026-01-01 --status failed,pending

Replays stored webhooks through the same path; each keeps its original received_at.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from carriers import services
from carriers.models import RawWebhook


def _since(value: str):
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since {value!r} is neither a date nor a date-time")
        moment = timezone.datetime.combine(day, timezone.datetime.min.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


class Command(BaseCommand):
    help = "Replay stored carrier webhooks (dead letters by default), keeping their received_at."

    def add_arguments(self, parser):
        parser.add_argument("--carrier", help="only this carrier (easypost, ups, ...)")
        parser.add_argument("--since", help="received at or after this date / ISO date-time")
        parser.add_argument(
            "--status",
            default="failed,pending",
            help="comma-separated statuses to replay (default: failed,pending)",
        )
        parser.add_argument("--limit", type=int, default=0)

    def handle(self, *args, carrier=None, since=None, status="failed,pending", limit=0, **options):
        statuses = [s.strip() for s in status.split(",") if s.strip()]
        unknown = set(statuses) - set(RawWebhook.Status.values)
        if unknown:
            raise CommandError(f"unknown status: {', '.join(sorted(unknown))}")
        raws = RawWebhook.objects.filter(status__in=statuses)
        if carrier:
            raws = raws.filter(carrier=carrier)
        if since:
            raws = raws.filter(received_at__gte=_since(since))
        ids = list(raws.order_by("received_at", "id").values_list("pk", flat=True))
        if limit:
            ids = ids[:limit]
        total = len(ids)
        counts: dict[str, int] = {}
        for done, raw_id in enumerate(ids, start=1):
            outcome = services.raw_webhook_process(raw_id=raw_id, replay=True)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            self._progress(done, total)
        if total:
            self.stderr.write("")
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to replay"
        self.stdout.write(f"Replayed {total} webhook(s): {summary}")

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total)
        # Carriage return, no newline: one line that fills up (stderr, so stdout stays the summary).
        self.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
        self.stderr.flush()
