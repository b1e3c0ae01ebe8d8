"""Supervisors may export and erase a customer's data (a data migration and every migrate grant it)."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions

GRANTS = {"Supervisors": ["export_customer_data", "erase_customer_data"]}


def grant_privacy_permissions(app_config=None, apps=None, using="default", **_kwargs) -> None:
    from django.apps import apps as global_apps

    apps = apps or global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # On a fresh database the permissions do not exist yet when migrations run.
    create_permissions(global_apps.get_app_config("privacy"), verbosity=0, using=using, apps=apps)
    for name, codenames in GRANTS.items():
        group = Group.objects.using(using).filter(name=name).first()
        if group is None:
            continue  # orders creates the groups
        perms = Permission.objects.using(using).filter(content_type__app_label="privacy", codename__in=codenames)
        group.permissions.add(*perms)
