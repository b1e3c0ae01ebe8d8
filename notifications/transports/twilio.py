"""SMS and WhatsApp through the official Twilio SDK (Messages API), with a status callback on every message."""

from __future__ import annotations

import json
import threading
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.models import Channel, Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http

# Twilio error codes that no retry can fix (invalid or unreachable number, unsubscribed, blocked).
PERMANENT_CODES = {21211, 21214, 21217, 21219, 21408, 21606, 21610, 21612, 21614, 63003, 63024}
UNSUBSCRIBED_CODES = {21610}

_local = threading.local()


class _HeaderKeepingClient(TwilioHttpClient):
    """Keeps the last response's headers: the SDK's exception drops Retry-After."""

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


class _EnvCachingSession(requests.Session):
    """Resolves the environment's proxy and CA-bundle settings once per origin, not on every request.

    requests re-reads and parses the whole process environment (proxies, no_proxy, CA bundle) for
    each request, which was ~10% of a message's CPU; the environment does not change under a worker.
    """

    def __init__(self) -> None:
        super().__init__()
        self._env_settings: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies:  # explicit proxies: nothing to cache, let requests merge them
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        found = self._env_settings.get(key)
        if found is None:
            found = self._env_settings[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {**found, "proxies": dict(found["proxies"])}


def _client() -> tuple[Client, _HeaderKeepingClient]:
    # One client (and HTTP session) per thread: pooled connections, no sharing across threads.
    timeouts = Transport.timeouts()
    key = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_API_BASE_URL, timeouts)
    cached = getattr(_local, "clients", {}).get(key)
    if cached is None:
        http = _HeaderKeepingClient()
        session = _EnvCachingSession()
        session.adapters = http.session.adapters  # keep the SDK's pool settings
        http.session = session
        # The SDK's constructor only takes one number; requests takes (connect, read) and the SDK passes it on.
        http.timeout = timeouts
        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http)
        client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
        cached = (client, http)
        _local.clients = {**getattr(_local, "clients", {}), key: cached}
    return cached


def status_callback_url() -> str:
    return f"{settings.SITE_URL}{reverse('notifications:twilio-status')}"


class TwilioTransport(Transport):
    provider = "twilio"

    @staticmethod
    def configured(channel: str = Channel.SMS) -> bool:
        sender = settings.TWILIO_WHATSAPP_FROM if channel == Channel.WHATSAPP else settings.TWILIO_FROM_NUMBER
        return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and sender)

    def message_params(self, notification: Notification) -> dict:
        brand = notification.order.brand
        params: dict = {"to": notification.recipient, "status_callback": status_callback_url()}
        if notification.channel == Channel.WHATSAPP:
            sender = brand.whatsapp_sender or settings.TWILIO_WHATSAPP_FROM
            params["to"] = f"whatsapp:{notification.recipient}"
            params["from_"] = sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"
            content_sid = settings.TWILIO_WHATSAPP_CONTENT_SIDS.get(notification.event)
            if content_sid:
                # Business-initiated WhatsApp needs an approved template: ContentSid + variables.
                params["content_sid"] = content_sid
                params["content_variables"] = json.dumps(notification.data.get("content_variables") or {})
            else:
                params["body"] = notification.body_text
        else:
            params["from_"] = brand.sms_sender or settings.TWILIO_FROM_NUMBER
            params["body"] = notification.body_text
        return params

    def send(self, notification: Notification) -> SendResult:
        client, http = _client()
        http.last_headers = {}
        try:
            message = client.messages.create(**self.message_params(notification))
        except TwilioRestException as exc:
            code = int(exc.code) if exc.code else 0
            status = int(exc.status or 0)
            permanent = code in PERMANENT_CODES or not transient_http(status)
            raise TransportError(
                str(exc.msg or exc),
                permanent=permanent,
                code=str(code or f"http_{status}"),
                http_status=status,
                retry_after=parse_retry_after(http.last_headers.get("Retry-After")),
                unsubscribed=code in UNSUBSCRIBED_CODES,
            ) from exc
        except requests.Timeout as exc:
            raise TransportError("timeout talking to Twilio", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to Twilio", code="connection") from exc
        return SendResult(message_id=message.sid, http_status=201)
