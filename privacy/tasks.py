from __future__ import annotations

from celery import shared_task

from privacy.retention import retention_purge


@shared_task
def purge_expired() -> dict[str, int]:
    """Beat: strip personal data from message bodies and raw payloads past RETENTION_DAYS."""
    return retention_purge()
