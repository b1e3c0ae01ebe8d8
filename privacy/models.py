"""The privacy audit log: every export, erasure and retention purge, without personal data.

A record names the customer only by its primary key (the kept, anonymised row), never by name
or address, so the log itself can outlive the erasure it records.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

EXPORT_PERMISSION = "privacy.export_customer_data"
ERASE_PERMISSION = "privacy.erase_customer_data"


class PrivacyRequest(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export", "Export of a customer's data"
        ERASE = "erase", "Erasure of a customer's data"
        PURGE = "purge", "Retention purge"

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused"

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        COMMAND = "command", "Management command"
        SCHEDULE = "schedule", "Scheduled task"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.DONE)
    via = models.CharField(max_length=8, choices=Via.choices)
    # An opaque reference, not a foreign key: the record must survive whatever happens to the row.
    customer_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    brand = models.ForeignKey("orders.Brand", on_delete=models.SET_NULL, null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    forced = models.BooleanField(default=False, help_text="Erased although orders were still in flight.")
    # Rows touched per model ("notifications.Notification": 3); a refusal's machine reason.
    counts = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("export_customer_data", "Can export all data held about a customer"),
            ("erase_customer_data", "Can erase a customer's personal data"),
        ]

    def __str__(self) -> str:
        subject = f"customer {self.customer_id}" if self.customer_id else "all customers"
        return f"{self.get_kind_display()} of {subject} ({self.outcome})"
