from __future__ import annotations

from celery import shared_task

from orders import services


@shared_task
def complete_delivered_orders() -> int:
    """Beat: close orders delivered ORDER_COMPLETE_AFTER_DAYS ago with nothing open."""
    return services.orders_complete_due()


# Order-intake tasks live with their sources; importing them here lets the worker find them.
from orders.sources.tasks import process_intake, sweep_intakes  # noqa: E402,F401
