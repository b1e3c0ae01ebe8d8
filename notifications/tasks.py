"""Celery tasks: thin wrappers over notifications.services. They take ids, never objects."""

from __future__ import annotations

from celery import shared_task

from notifications import services


@shared_task(acks_late=True, ignore_result=True)
def send_notification(notification_id: int) -> str:
    """Idempotent: a notification already sent (or claimed by a live worker) is skipped."""
    return services.notification_dispatch(notification_id=notification_id)


@shared_task(ignore_result=True)
def sweep_notifications() -> dict:
    """Beat: enqueue what is due (quiet hours, retries, the feedback request) or was lost."""
    return services.notifications_sweep()
