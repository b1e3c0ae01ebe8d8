"""Who may do what, as groups.

Support moves orders through their lifecycle, Supervisors may also override a status, and
Integrations is for machine users (sales channels, the WMS) that hold an API token: they create
orders, register parcels, set warehouse flags and move orders, but see nothing else.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions

SUPPORT = "Support"
SUPERVISORS = "Supervisors"
INTEGRATIONS = "Integrations"

SUPPORT_PERMISSIONS = [
    ("orders", "view_brand"),
    ("orders", "view_customer"),
    ("orders", "view_order"),
    ("orders", "change_order"),
    ("orders", "view_shipment"),
    ("orders", "view_statuschange"),
    ("orders", "transition_order"),
]
SUPERVISOR_PERMISSIONS = [*SUPPORT_PERMISSIONS, ("orders", "override_status")]
INTEGRATION_PERMISSIONS = [
    ("orders", "view_order"),
    ("orders", "add_order"),
    ("orders", "change_order"),
    ("orders", "transition_order"),
    # A WMS registers the parcels it packs (POST /api/v1/orders/<number>/shipments/).
    ("orders", "view_shipment"),
    ("orders", "add_shipment"),
]
GROUPS = {SUPPORT: SUPPORT_PERMISSIONS, SUPERVISORS: SUPERVISOR_PERMISSIONS, INTEGRATIONS: INTEGRATION_PERMISSIONS}


def ensure_groups(app_config=None, apps=None, using="default", **_kwargs) -> None:
    """Create or top up the groups. Safe to run again: migration 0002 calls it, and so do the tests
    after a transactional test flushed the database."""
    from django.apps import apps as global_apps

    apps = apps or global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # On a fresh database the permissions do not exist yet when migrations run.
    create_permissions(global_apps.get_app_config("orders"), verbosity=0, using=using, apps=apps)
    for name, wanted in GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        perms = [
            Permission.objects.using(using).get(content_type__app_label=app, codename=codename)
            for app, codename in wanted
        ]
        group.permissions.add(*perms)
