from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from kpis.refresh import kpis_refresh

logger = logging.getLogger(__name__)


@shared_task
def refresh_kpis() -> dict:
    """Beat (KPI_REFRESH_SECONDS): recompute the rollups of the days whose records changed."""
    try:
        result = kpis_refresh()
    except SoftTimeLimitExceeded:
        # Only a first (full) build of a very long history gets here; its transaction rolled back,
        # so the next beat would start it again and fail the same way.
        logger.error("kpis refresh ran out of time: run `manage.py refresh_kpis --full` once by hand")
        raise
    return {"skipped": result.skipped, "days": result.days, "rows": result.rows, "duration_ms": result.duration_ms}
