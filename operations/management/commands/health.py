"""manage.py health: the /readyz summary for a shell; exits 1 when not ready (scripts, cron, CI)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from operations.checks import FAILED, OK, readiness_check


class Command(BaseCommand):
    help = "Check the database, the Redis broker and the worker heartbeats (exit status 1 when not ready)."
    requires_system_checks: list = []  # a probe prints its verdict, not configuration warnings

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the same JSON body as GET /readyz.")

    def handle(self, *args, **options) -> None:
        summary = readiness_check()
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            for name, check in summary["checks"].items():
                style = {OK: self.style.SUCCESS, FAILED: self.style.ERROR}.get(check["status"], self.style.WARNING)
                line = f"{name:<10} {check['status']:<9} {check['ms']:>7.1f} ms  {check['detail']}"
                self.stdout.write(style(line))
            self.stdout.write(f"ready: {'yes' if summary['status'] == OK else 'no'}")
        if summary["status"] != OK:
            raise CommandError("not ready", returncode=1)
