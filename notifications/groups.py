"""What the staff groups (made by orders) may do with notifications.

Support reads the notification log and resends or releases messages; Supervisors also edit the
rules, template overrides and brand settings; Integrations (the shop's app) read an order's
notifications and register devices. Granted after every migrate: on a fresh database the
permissions exist only once migrations are done.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions

SUPPORT = [
    "view_notification",
    "change_notification",  # resend, release held
    "view_deliveryattempt",
    "view_providerreceipt",
    "view_notificationrule",
    "view_templateoverride",
    "view_brandnotificationsettings",
    "view_customerpreferences",
    "view_devicetoken",
]
SUPERVISORS = [
    *SUPPORT,
    "add_notificationrule",
    "change_notificationrule",
    "delete_notificationrule",
    "add_templateoverride",
    "change_templateoverride",
    "delete_templateoverride",
    "add_brandnotificationsettings",
    "change_brandnotificationsettings",
    "change_customerpreferences",
]
INTEGRATIONS = ["view_notification", "add_devicetoken"]
# Outbound webhooks: support reads and replays; supervisors and integrations (a WMS or CRM
# subscribing itself through the API) manage endpoints.
_WEBHOOKS_READ = ["view_webhookendpoint", "view_webhookmessage", "view_webhookattempt", "replay_webhookendpoint"]
_WEBHOOKS_MANAGE = ["add_webhookendpoint", "change_webhookendpoint", "delete_webhookendpoint"]
SUPPORT += _WEBHOOKS_READ
SUPERVISORS += _WEBHOOKS_READ + _WEBHOOKS_MANAGE
INTEGRATIONS += _WEBHOOKS_READ + _WEBHOOKS_MANAGE
GRANTS = {"Support": SUPPORT, "Supervisors": SUPERVISORS, "Integrations": INTEGRATIONS}


def grant_notification_permissions(app_config=None, using="default", **_kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    create_permissions(apps.get_app_config("notifications"), verbosity=0, using=using)
    for name, codenames in GRANTS.items():
        group = Group.objects.using(using).filter(name=name).first()
        if group is None:
            continue  # orders creates the groups; nothing to top up yet
        perms = Permission.objects.using(using).filter(content_type__app_label="notifications", codename__in=codenames)
        group.permissions.add(*perms)
