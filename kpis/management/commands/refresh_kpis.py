"""manage.py refresh_kpis [--full | --since 2026-11-01]: what the beat task does, by hand."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from kpis.refresh import kpis_refresh


class Command(BaseCommand):
    help = "Refresh the KPI rollups: only the days whose records changed, unless --full or --since."

    def add_arguments(self, parser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--full", action="store_true", help="rebuild every period from the first record")
        mode.add_argument("--since", help="recompute every day from this date (YYYY-MM-DD) to today")

    def handle(self, *args, **options) -> None:
        since = None
        if options["since"]:
            since = parse_date(options["since"])
            if since is None:
                raise CommandError(f"--since {options['since']!r} is not a date (YYYY-MM-DD)")
        result = kpis_refresh(full=options["full"], since=since)
        if result.skipped:
            self.stdout.write("Another refresh is running; nothing done.")
            return
        kind = "full rebuild" if result.full else "incremental"
        self.stdout.write(
            f"KPIs refreshed ({kind}): {result.days} days recomputed, {result.rows} rollup rows, "
            f"{result.duration_ms} ms."
        )
