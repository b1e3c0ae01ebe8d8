from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from notifications import checks  # noqa: F401  (registers the provider checks)
        from notifications.groups import grant_notification_permissions
        from notifications.handlers import on_domain_event
        from orders import events

        events.register(on_domain_event)
        # Signed outbound webhooks: their own handler (messages in the same transaction) and tasks.
        from notifications import outbound, outbound_tasks  # noqa: F401

        events.register(outbound.on_domain_event)
        # High-impact intake failures reach the staff chat (issue 7), not only the alert log.
        from notifications.staff_alerts import on_intake_failure
        from orders.sources.services import register_alert_handler

        register_alert_handler(on_intake_failure)
        post_migrate.connect(grant_notification_permissions, sender=self, dispatch_uid="notifications-permissions")
