"""SMS and WhatsApp through the official Twilio SDK (Messages API), with a status callback on every message."""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import urlencode

import requests
import urllib3
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from notifications.models import Channel, Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http

# Twilio error codes that no retry can fix (invalid or unreachable number, unsubscribed, blocked).
PERMANENT_CODES = {21211, 21214, 21217, 21219, 21408, 21606, 21610, 21612, 21614, 63003, 63024}
UNSUBSCRIBED_CODES = {21610}

_local = threading.local()


class _PooledHttpClient(HttpClient):
    """The SDK's HTTP layer (its documented extension point) on one urllib3 pool per thread.

    The SDK's default client goes through a requests Session, which merges hooks, cookies, auth
    and the process environment (proxies, CA bundle) again on every call: about a fifth of a
    worker's CPU per message. Here the environment is read once, when the client is made
    (HTTPS_PROXY / NO_PROXY and REQUESTS_CA_BUNDLE as requests reads them), and each call only
    encodes the form and sends it. It also keeps the last response's headers: the SDK's exception
    drops Retry-After.
    """

    def __init__(self, base_url: str, timeouts: tuple[float, float]) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), False, None)
        connect, read = timeouts
        options = {
            "retries": False,  # our dispatch retries, with backoff and a record of each attempt
            "timeout": urllib3.Timeout(connect=connect, read=read),
            "ca_certs": requests.utils.extract_zipped_paths(requests.certs.where()),
            "maxsize": 4,
        }
        env = requests.Session().merge_environment_settings(base_url, {}, None, None, None)
        if isinstance(env.get("verify"), str):
            options["ca_certs"] = env["verify"]
        proxy = requests.utils.select_proxy(base_url, env.get("proxies") or {})
        self.pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        self.last_headers: dict[str, str] = {}

    def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ):
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = urllib3.util.make_headers(basic_auth=f"{auth[0]}:{auth[1]}")["authorization"]
        body = None
        if data:
            if headers.get("Content-Type") in ("application/json", "application/scim+json"):
                body = json.dumps(data)
            else:
                body = urlencode(data, doseq=True)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        if params:
            url = f"{url}?{urlencode(params, doseq=True)}"
        self.last_headers = {}
        per_call = {"timeout": timeout} if timeout else {}
        answer = self.pool.request(
            method.upper(), url, body=body, headers=headers, redirect=allow_redirects, **per_call
        )
        self.last_headers = dict(answer.headers)
        return Response(answer.status, answer.data.decode("utf-8", errors="replace"), answer.headers)


def _client() -> tuple[Client, _PooledHttpClient]:
    # One client (and connection pool) per thread: no sharing across threads.
    timeouts = Transport.timeouts()
    base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
    key = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, base_url, timeouts)
    cached = getattr(_local, "clients", {}).get(key)
    if cached is None:
        http = _PooledHttpClient(base_url, timeouts)
        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http)
        client.api.base_url = base_url
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
            # Imported above, not by the first message: the SDK loads its whole v2010 API lazily.
            message: MessageInstance = client.messages.create(**self.message_params(notification))
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
        except urllib3.exceptions.NewConnectionError as exc:  # refused (urllib3 files it under timeouts)
            raise TransportError("connection error talking to Twilio", code="connection") from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise TransportError("timeout talking to Twilio", code="timeout") from exc
        except urllib3.exceptions.HTTPError as exc:  # reset, a broken answer
            raise TransportError("connection error talking to Twilio", code="connection") from exc
        return SendResult(message_id=message.sid, http_status=201)
