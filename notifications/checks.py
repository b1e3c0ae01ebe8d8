"""`manage.py check`: which channels have no provider (their messages go to the outbox), and which
configured providers are incomplete, so they are skipped or fail every message.

W001-W004: a channel with no usable provider falls back to the local outbox. W005-W006: push and
SendGrid details. W007-W014 (issue 6): a provider half configured — its messages go to the next
provider of the channel, or to the outbox when there is none; receipts that cannot be verified;
provider names in NOTIFY_PROVIDER_ORDER that do not exist.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Warning, register
from django.db import DatabaseError, transaction

from notifications.models import Channel


@register()
def provider_configuration(app_configs=None, **kwargs) -> list[Warning]:
    found: list[Warning] = []

    def warn(id_: str, channel: str, what: str) -> None:
        found.append(
            Warning(
                f"{channel} has no provider configured: its messages are kept in the local outbox (/outbox/).",
                hint=f"Set {what} to send {channel} for real.",
                id=id_,
            )
        )

    from notifications.failover import providers_for

    # Every provider of the channel counts (failover order), not only the first one built.
    if not providers_for(brand=None, channel=Channel.EMAIL):
        warn("notifications.W001", "Email", "SENDGRID_API_KEY, or MAILGUN_API_KEY and MAILGUN_DOMAIN")
    if settings.SENDGRID_API_KEY and not settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY:
        found.append(
            Warning(
                "SendGrid receipts are off: SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY is not set.",
                hint="Copy the Event Webhook verification key from SendGrid's mail settings.",
                id="notifications.W006",
            )
        )
    if not providers_for(brand=None, channel=Channel.SMS):
        warn(
            "notifications.W002",
            "SMS",
            "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER, or MESSAGEBIRD_ACCESS_KEY and "
            "MESSAGEBIRD_ORIGINATOR",
        )
    if not providers_for(brand=None, channel=Channel.WHATSAPP):
        warn(
            "notifications.W003",
            "WhatsApp",
            "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM, or WHATSAPP_ACCESS_TOKEN and "
            "WHATSAPP_PHONE_NUMBER_ID, or MESSAGEBIRD_ACCESS_KEY, MESSAGEBIRD_WHATSAPP_CHANNEL_ID and "
            "MESSAGEBIRD_WHATSAPP_NAMESPACE",
        )
    fcm = settings.FCM_PROJECT_ID and settings.FCM_CREDENTIALS_FILE
    onesignal = settings.ONESIGNAL_APP_ID and settings.ONESIGNAL_API_KEY
    if not (fcm or onesignal):
        warn(
            "notifications.W004",
            "Push",
            "FCM_PROJECT_ID and FCM_CREDENTIALS_FILE, or ONESIGNAL_APP_ID and ONESIGNAL_API_KEY",
        )
    elif fcm and settings.FCM_CREDENTIALS_FILE and not os.path.exists(settings.FCM_CREDENTIALS_FILE):
        found.append(
            Warning(
                f"FCM_CREDENTIALS_FILE {settings.FCM_CREDENTIALS_FILE!r} does not exist: push through FCM will fail.",
                id="notifications.W005",
            )
        )
    found.extend(channel_provider_configuration())
    return found


def _missing(*names: str) -> list[str]:
    return [name for name in names if not getattr(settings, name)]


def _names(names: list[str]) -> str:
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def _incomplete(id_: str, channel: str, provider: str, given: list[str], missing: list[str], effect: str) -> Warning:
    return Warning(
        f"{channel}: {provider} is incomplete: {_names(given)} {'is' if len(given) == 1 else 'are'} set "
        f"but {_names(missing)} {'is' if len(missing) == 1 else 'are'} not, so {effect}.",
        hint=f"Set {_names(missing)}, or unset {_names(given)}.",
        id=id_,
    )


def _falls_back(channel: str, provider: str) -> str:
    """What happens to the channel's messages while this provider is skipped."""
    from notifications.failover import providers_for

    others = [p for p in providers_for(brand=None, channel=channel) if p != provider]
    if others:
        return f"{provider} is skipped and {channel} goes through {', '.join(others)}"
    return f"{provider} is skipped and {channel} messages are kept in the local outbox (/outbox/)"


def channel_provider_configuration() -> list[Warning]:
    """Issue 6 providers: each one with some of its settings present but not all of them."""
    found: list[Warning] = []

    def check(id_: str, channel: str, provider: str, label: str, needed: tuple[str, ...]) -> None:
        given = [name for name in needed if getattr(settings, name)]
        missing = _missing(*needed)
        if given and missing:
            found.append(_incomplete(id_, label, provider, given, missing, _falls_back(channel, provider)))

    check("notifications.W007", Channel.EMAIL, "mailgun", "Email", ("MAILGUN_API_KEY", "MAILGUN_DOMAIN"))
    check(
        "notifications.W008",
        Channel.WHATSAPP,
        "whatsapp_cloud",
        "WhatsApp",
        ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"),
    )
    check("notifications.W009", Channel.SMS, "messagebird", "SMS", ("MESSAGEBIRD_ACCESS_KEY", "MESSAGEBIRD_ORIGINATOR"))
    # MessageBird WhatsApp is wanted as soon as one of its own settings is there (the access key
    # alone means MessageBird SMS).
    mb_wa = ("MESSAGEBIRD_WHATSAPP_CHANNEL_ID", "MESSAGEBIRD_WHATSAPP_NAMESPACE")
    if any(getattr(settings, name) for name in mb_wa):
        check(
            "notifications.W010",
            Channel.WHATSAPP,
            "messagebird_whatsapp",
            "WhatsApp",
            ("MESSAGEBIRD_ACCESS_KEY", *mb_wa),
        )
    found.extend(_template_warnings())
    found.extend(_receipt_warnings())
    found.extend(_unknown_providers())
    found.extend(_slack_destinations())
    return found


def _template_warnings() -> list[Warning]:
    from notifications.transports import messagebird_whatsapp

    found = []
    cloud = settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_PHONE_NUMBER_ID
    if (cloud and not settings.WHATSAPP_TEMPLATES) or (
        messagebird_whatsapp.configured() and not messagebird_whatsapp.templates()
    ):
        found.append(
            Warning(
                "WhatsApp: no approved templates are configured, so every business-initiated WhatsApp message "
                "through the Cloud API or MessageBird fails (no_template).",
                hint='Set WHATSAPP_TEMPLATES (or MESSAGEBIRD_WHATSAPP_TEMPLATES), e.g. {"delayed": '
                '{"name": "order_delayed", "language": "en_US"}}.',
                id="notifications.W011",
            )
        )
    return found


def _receipt_warnings() -> list[Warning]:
    found = []
    receipts = (
        ("Mailgun", settings.MAILGUN_API_KEY and settings.MAILGUN_DOMAIN, "MAILGUN_WEBHOOK_SIGNING_KEY"),
        (
            "WhatsApp Cloud API",
            settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_PHONE_NUMBER_ID,
            "WHATSAPP_APP_SECRET",
        ),
        ("MessageBird", settings.MESSAGEBIRD_ACCESS_KEY, "MESSAGEBIRD_SIGNING_KEY"),
    )
    for name, used, key in receipts:
        if used and not getattr(settings, key):
            found.append(
                Warning(
                    f"{name} receipts are off: {key} is not set, so every receipt is refused (401) and "
                    "messages stay 'sent'.",
                    hint=f"Copy the signing key from {name}'s webhook settings into {key}.",
                    id="notifications.W012",
                )
            )
    return found


def _unknown_providers() -> list[Warning]:
    from notifications.failover import DEFAULT_ORDER

    found = []
    for channel, providers in (settings.NOTIFY_PROVIDER_ORDER or {}).items():
        known = DEFAULT_ORDER.get(channel)
        if known is None:
            found.append(
                Warning(
                    f"NOTIFY_PROVIDER_ORDER has a list for {channel!r}, which has no provider failover.",
                    hint=f"Use one of {', '.join(sorted(DEFAULT_ORDER))}.",
                    id="notifications.W013",
                )
            )
            continue
        unknown = [p for p in providers if p not in known]
        if unknown:
            found.append(
                Warning(
                    f"NOTIFY_PROVIDER_ORDER[{channel!r}] names {', '.join(map(repr, unknown))}, which "
                    f"{'is' if len(unknown) == 1 else 'are'} not a {channel} provider: skipped.",
                    hint=f"{channel} providers: {', '.join(known)}.",
                    id="notifications.W013",
                )
            )
    return found


def _slack_destinations() -> list[Warning]:
    """SLACK_BOT_TOKEN only carries messages for Slack destinations (admin: Staff destinations) with a
    channel; without one, staff chat alerts go to the other destinations or to the outbox."""
    from notifications.models import StaffDestination

    slack = StaffDestination.objects.filter(kind=StaffDestination.Kind.SLACK, enabled=True)
    try:
        # A check runs before migrations too (manage.py migrate): no table, nothing to say yet. The
        # savepoint keeps a failed query from breaking a surrounding transaction.
        with transaction.atomic():
            with_channel = list(slack.exclude(channel="").values_list("secret_encrypted", flat=True))
            without_channel = list(slack.filter(channel="").values_list("name", flat=True))
            other = StaffDestination.objects.filter(enabled=True).exclude(kind=StaffDestination.Kind.SLACK).exists()
    except DatabaseError:
        return []
    found = []
    if settings.SLACK_BOT_TOKEN and not with_channel:
        effect = "staff chat alerts go to the other destinations" if other else "staff chat alerts go to the outbox"
        found.append(
            Warning(
                f"Staff chat: Slack is incomplete: SLACK_BOT_TOKEN is set but no enabled Slack destination has a "
                f"channel, so the token is never used and {effect}.",
                hint="Add a Staff destination of kind 'Slack channel' with its channel id (C0123...) in the admin.",
                id="notifications.W014",
            )
        )
    if without_channel:
        found.append(
            Warning(
                f"Staff chat: Slack destination(s) {', '.join(map(repr, without_channel))} have no channel: "
                "chat.postMessage refuses them (channel_not_found) and disables them.",
                hint="Set the channel id (C0123...) of each Slack destination in the admin.",
                id="notifications.W014",
            )
        )
    if not settings.SLACK_BOT_TOKEN and with_channel and not all(with_channel):
        found.append(
            Warning(
                "Staff chat: a Slack destination has no bot token of its own and SLACK_BOT_TOKEN is not set: "
                "Slack refuses its messages (invalid_auth) and it is disabled.",
                hint="Set SLACK_BOT_TOKEN, or the destination's token in the admin.",
                id="notifications.W014",
            )
        )
    return found
