from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "privacy"
    verbose_name = "Privacy and retention"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from privacy import tasks  # noqa: F401  (the beat task)
        from privacy.groups import grant_privacy_permissions

        post_migrate.connect(grant_privacy_permissions, sender=self, dispatch_uid="privacy-permissions")
