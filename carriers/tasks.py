"""Celery tasks: thin wrappers over carriers services; they take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from carriers import delays, polling, services


@shared_task(acks_late=True)
def process_raw_webhook(raw_id: int) -> str:
    """Apply one stored webhook (the view acknowledged it already)."""
    return services.raw_webhook_process(raw_id=raw_id).status


@shared_task(acks_late=True)
def apply_pending_events(shipment_id: int) -> int:
    """A shipment appeared: apply the events that waited for its tracking number."""
    return services.pending_apply_for_shipment(shipment_id=shipment_id)


@shared_task
def sweep_carrier_webhooks() -> dict:
    """Beat: unprocessed raws, pending events whose shipment exists, expiry, dedupe retention."""
    return services.sweep()


@shared_task
def poll_trackers() -> dict:
    """Beat: poll the shipments that are due (per-carrier interval, batches, backoff)."""
    return polling.poll_due()


@shared_task
def check_shipment_delays() -> dict:
    """Beat: mark stalled/late shipments delayed; clear the delays we set once the cause is gone."""
    return delays.shipments_check_delays()


@shared_task(acks_late=False)
def reconcile_shipments(run_id: int | None = None) -> dict:
    """Beat (nightly) and the admin button: compare in-flight shipments with their carriers.

    Works for CARRIER_RECONCILE_TASK_SECONDS, then queues itself for the rest of the run. Not
    acks_late: a redelivered copy would only find the run's lease taken or its work done.
    """
    from carriers import reconciliation

    if run_id is None:
        run, created = reconciliation.reconciliation_start(trigger="schedule")
        if not created:
            return {"run": run.pk, "started": False}
        run_id = run.pk
    if reconciliation.reconciliation_continue(run_id=run_id):
        reconcile_shipments.delay(run_id)
        return {"run": run_id, "more": True}
    return {"run": run_id, "more": False}
