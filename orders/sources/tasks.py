"""Celery tasks of order intake: thin wrappers over orders.sources.services; they take ids."""

from __future__ import annotations

from celery import shared_task

from orders.sources import services


@shared_task(acks_late=True, ignore_result=True)
def process_intake(intake_id: int) -> str:
    """Apply one stored payload (the view acknowledged it already). Idempotent."""
    return services.intake_process(intake_id=intake_id).status


@shared_task(ignore_result=True)
def sweep_intakes() -> dict:
    """Beat: payloads no task applied, and those that waited for their order."""
    return services.intakes_sweep()
