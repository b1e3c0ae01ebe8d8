"""`manage.py check` says which channels have no provider configured (their messages go to the outbox)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Warning, register


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

    if not settings.SENDGRID_API_KEY:
        warn("notifications.W001", "Email", "SENDGRID_API_KEY")
    elif not settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY:
        found.append(
            Warning(
                "SendGrid receipts are off: SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY is not set.",
                hint="Copy the Event Webhook verification key from SendGrid's mail settings.",
                id="notifications.W006",
            )
        )
    twilio = settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
    if not (twilio and settings.TWILIO_FROM_NUMBER):
        warn("notifications.W002", "SMS", "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER")
    if not (twilio and settings.TWILIO_WHATSAPP_FROM):
        warn("notifications.W003", "WhatsApp", "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM")
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
    return found
