"""manage.py purge_expired [--days N] [--batch-size N] [--dry-run]

Runs the retention purge by hand, with a progress bar when the terminal is interactive.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from privacy.models import PrivacyRequest
from privacy.retention import retention_cutoff, retention_due, retention_purge


class Command(BaseCommand):
    help = "Strip personal data from message bodies and raw payloads older than RETENTION_DAYS."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="override RETENTION_DAYS for this run")
        parser.add_argument("--batch-size", type=int, help="rows per transaction (default RETENTION_BATCH_SIZE)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be purged")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")

    def handle(self, *args, days=None, batch_size=None, dry_run=False, no_progress=False, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        cutoff = retention_cutoff(days=days)
        due = retention_due(cutoff=cutoff)
        total = sum(due.values())
        if dry_run:
            for label, n in due.items():
                self.stdout.write(f"{label}: {n}")
            self.stdout.write(f"{total} rows older than {cutoff:%Y-%m-%d %H:%M} would be purged")
            return
        interactive = sys.stderr.isatty() and not no_progress
        with tqdm(total=total, unit="row", desc="purging", disable=not interactive, file=sys.stderr) as bar:
            counts = retention_purge(
                days=days, batch_size=batch_size, via=PrivacyRequest.Via.COMMAND, progress=bar.update
            )
        for label, n in counts.items():
            self.stdout.write(f"{label}: {n}")
        self.stdout.write(self.style.SUCCESS(f"purged {sum(counts.values())} rows older than {cutoff:%Y-%m-%d %H:%M}"))
