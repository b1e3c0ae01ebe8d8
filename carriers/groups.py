"""What the staff groups (made by orders) may do at the carrier edge.

Support reads dead letters, unmapped codes and PoD results and replays webhooks; Supervisors also
decide unverified deliveries and manage carrier accounts and delivery policies. Granted after
every migrate, because on a fresh database the permissions exist only once migrations are done.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions

SUPPORT = [
    "view_rawwebhook",
    "replay_rawwebhook",
    "view_unmappedcode",
    "view_pendingevent",
    "view_deliveryverification",
    "view_trackerpoll",
    "view_delayflag",
    "view_reconciliationrun",
    "run_reconciliation",
    "view_syncmismatch",
    "resolve_syncmismatch",
]
SUPERVISORS = [
    *SUPPORT,
    "decide_deliveryverification",
    "view_carrieraccount",
    "add_carrieraccount",
    "change_carrieraccount",
    "view_deliverypolicy",
    "add_deliverypolicy",
    "change_deliverypolicy",
]
GRANTS = {"Support": SUPPORT, "Supervisors": SUPERVISORS}


def grant_carrier_permissions(app_config=None, using="default", **_kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    create_permissions(apps.get_app_config("carriers"), verbosity=0, using=using)
    for name, codenames in GRANTS.items():
        group = Group.objects.using(using).filter(name=name).first()
        if group is None:
            continue  # orders creates the groups; nothing to top up yet
        perms = Permission.objects.using(using).filter(content_type__app_label="carriers", codename__in=codenames)
        group.permissions.add(*perms)
