"""`manage.py notifications_sweep`: run the notifications sweeper once (what beat does every 30 s).

Useful where no beat runs (the zero-broker demo, a one-off after an outage): sends what is due
(quiet hours over, retries, feedback requests), re-sends what a dead worker left claimed, and
applies the unverified-delivery policy to confirmations whose proof-of-delivery wait is over.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from notifications import services


class Command(BaseCommand):
    help = "Enqueue every notification that is due or was lost (the beat task, once)."

    def handle(self, *args, **options) -> None:
        result = services.notifications_sweep()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in result.items()))
