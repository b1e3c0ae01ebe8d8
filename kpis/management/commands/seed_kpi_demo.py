"""manage.py seed_kpi_demo: six weeks of past traffic for the KPI dashboard, then a full refresh."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carriers.reconciliation import demo_seed as reconciliation_demo_seed
from kpis.demo import kpis_demo_history
from kpis.refresh import kpis_refresh


class Command(BaseCommand):
    help = "Add demo history (after seed_demo) so every KPI chart has values; idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=42)
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (it writes made-up orders).")

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_kpi_demo writes made-up orders: it runs with DJANGO_DEBUG=true (or pass --force).")
        started = time.monotonic()
        made = kpis_demo_history(days=options["days"])
        # After the week of past runs: last night's run left one mismatch for staff to resolve.
        reconciliation_demo_seed()
        result = kpis_refresh(full=True)
        self.stdout.write(
            f"KPI demo history: {made} orders added ({'already there' if not made else 'new'}); "
            f"rollups rebuilt over {result.days} days in {time.monotonic() - started:.1f} s. "
            "Dashboard: /admin/kpis/"
        )
