"""manage.py reconcile_shipments [--queue]

Compares every in-flight shipment with its carrier's latest status (through the polling clients)
and records mismatches for staff to resolve in the admin. Runs here by default; --queue hands the
run to a worker instead, as the admin's button does.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from carriers import reconciliation


class Command(BaseCommand):
    help = "Compare in-flight shipments with their carriers' latest status and record mismatches."

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="store_true", help="queue the run for a worker instead")

    def handle(self, *args, queue: bool = False, **options):
        if queue:
            run, created = reconciliation.reconciliation_request(requested_by=None)
            verb = "queued" if created else "is still going (not started twice)"
            self.stdout.write(f"Reconciliation run {run.pk} {verb}.")
            return
        run = reconciliation.reconciliation_run()
        accuracy = "n/a" if run.accuracy is None else f"{run.accuracy:.1%}"
        self.stdout.write(
            f"Run {run.pk}: checked {run.checked}, mismatched {run.mismatched} (in sync {accuracy}), "
            f"unreachable {run.unreachable}, not checkable {run.not_checkable}, no data {run.no_data}."
        )
        if run.note:
            self.stdout.write(f"Note: {run.note}")
