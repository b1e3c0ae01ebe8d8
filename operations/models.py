from __future__ import annotations

from notifications.models import Notification


class NotificationFailure(Notification):
    """No table of its own: gives the failures page its place (and link) on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "notification failure"
        verbose_name_plural = "notification failures by cause"
