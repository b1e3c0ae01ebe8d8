from __future__ import annotations

from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from carriers.groups import grant_carrier_permissions
        from orders import events

        events.register(on_shipment_created)
        post_migrate.connect(grant_carrier_permissions, sender=self, dispatch_uid="carriers-permissions")


def on_shipment_created(event) -> None:
    """Runs inside the orders transaction: only enqueue, on commit, when there is work to do."""
    if event.name != "shipment.created" or event.shipment_id is None:
        return
    from carriers import polling, services, tasks

    shipment = event.shipment
    client = polling.poll_client_for(shipment.carrier)
    if client:
        polling.poll_subscribe(shipment=shipment, client=client)
    if services.pending_exists_for(shipment.tracking_number):
        tasks.apply_pending_events.delay_on_commit(shipment.pk)
