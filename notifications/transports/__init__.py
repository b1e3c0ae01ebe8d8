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

    return {
        t.provider: t
        for t in (OutboxTransport, InAppTransport, SendGridTransport, TwilioTransport, FCMTransport, OneSignalTransport)
    }


REGISTRY: dict[str, type[Transport]] = {}


def get_transport(provider: str) -> Transport:
    if not REGISTRY:
        REGISTRY.update(_registry())
    return REGISTRY[provider]()


def provider_for_channel(channel: str, *, device_provider: str = "") -> str:
    """The provider that carries a channel now: the real one when configured, else the local outbox."""
    if channel == Channel.INAPP:
        return "inapp"
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
