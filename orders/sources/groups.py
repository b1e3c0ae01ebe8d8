"""What the staff groups may do with order intake: Support works the dead letters, Supervisors
also manage source accounts and validation rules."""

from __future__ import annotations

SUPPORT = ["view_rawintake", "retry_rawintake", "view_sourceaccount", "view_validationrule", "view_sourceorderstate"]
SUPERVISORS = [
    *SUPPORT,
    "add_sourceaccount",
    "change_sourceaccount",
    "add_validationrule",
    "change_validationrule",
    "delete_validationrule",
]


def grant_intake_permissions(apps=None, using: str = "default") -> None:
    """Idempotent; migration 0005 calls it with its historical apps, the tests after a flush."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    # On a fresh database permissions are created after all migrations: create them first.
    create_permissions(global_apps.get_app_config("orders"), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Support", SUPPORT), ("Supervisors", SUPERVISORS)):
        group = Group.objects.using(using).filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.using(using).filter(content_type__app_label="orders", codename__in=codenames)
            )
