"""Celery tasks of outbound webhooks: thin wrappers over notifications.outbound; they take ids."""

from __future__ import annotations

from celery import shared_task

from notifications import outbound


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(message_id: int) -> str:
    """One attempt, if due and not claimed by a live worker (idempotent)."""
    return outbound.message_deliver(message_id=message_id)


@shared_task(ignore_result=True)
def sweep_webhooks() -> dict:
    """Beat: send what is due (retries hours apart live in next_attempt_at), disable dead endpoints."""
    return outbound.webhooks_sweep()
