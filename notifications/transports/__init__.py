"""One module per provider; the registry maps a provider name to its transport."""

from __future__ import annotations

from django.conf import settings

from notifications.models import Channel
from notifications.transports.base import SendResult, Transport, TransportError

__all__ = ["SendResult", "Transport", "TransportError", "get_transport", "provider_for_channel", "REGISTRY"]


def _registry() -> dict[str, type[Transport]]:
    from notifications.transports.fcm import FCMTransport
    from notifications.transports.onesignal import OneSignalTransport
    from notifications.transports.outbox import InAppTransport, OutboxTransport
    from notifications.transports.sendgrid import SendGridTransport
    from notifications.transports.twilio import TwilioTransport

    base = (OutboxTransport, InAppTransport, SendGridTransport, TwilioTransport, FCMTransport, OneSignalTransport)
    return {t.provider: t for t in (*base, *_channel_transports())}


def _channel_transports() -> tuple[type[Transport], ...]:
    """Issue 6: chat destinations, WhatsApp Cloud API, Mailgun, MessageBird."""
    from notifications.transports.google_chat import GoogleChatTransport
    from notifications.transports.mailgun import MailgunTransport
    from notifications.transports.messagebird import MessageBirdTransport
    from notifications.transports.messagebird_whatsapp import MessageBirdWhatsAppTransport
    from notifications.transports.slack import SlackTransport, SlackWebhookTransport
    from notifications.transports.teams import TeamsTransport
    from notifications.transports.whatsapp_cloud import WhatsAppCloudTransport

    return (
        SlackTransport,
        SlackWebhookTransport,
        TeamsTransport,
        GoogleChatTransport,
        WhatsAppCloudTransport,
        MailgunTransport,
        MessageBirdTransport,
        MessageBirdWhatsAppTransport,
    )


REGISTRY: dict[str, type[Transport]] = {}


def get_transport(provider: str) -> Transport:
    if not REGISTRY:
        REGISTRY.update(_registry())
    return REGISTRY[provider]()


def provider_for_channel(channel: str, *, device_provider: str = "", brand=None) -> str:
    """The provider that carries a channel now: the real one when configured, else the local outbox."""
    if channel == Channel.INAPP:
        return "inapp"
    if channel in (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP):
        from notifications.failover import providers_for

        # The first configured provider of the brand's order (issue 6); failover picks the next.
        found = providers_for(brand=brand, channel=channel)
        return found[0] if found else "outbox"
    if channel == Channel.EMAIL and settings.SENDGRID_API_KEY:
        return "sendgrid"
    if channel in (Channel.SMS, Channel.WHATSAPP):
        from notifications.transports.twilio import TwilioTransport

        if TwilioTransport.configured(channel):
            return "twilio"
    if channel == Channel.PUSH:
        if device_provider == "fcm" and settings.FCM_PROJECT_ID and settings.FCM_CREDENTIALS_FILE:
            return "fcm"
        if device_provider == "onesignal" and settings.ONESIGNAL_APP_ID and settings.ONESIGNAL_API_KEY:
            return "onesignal"
    return "outbox"
