"""WhatsApp through MessageBird's Conversations API: approved templates ("hsm") sent with POST /v1/send.

A business-initiated WhatsApp message must be an approved template. MessageBird addresses it by
the account's WhatsApp namespace, the template name and a language (policy "deterministic": that
language or nothing), with positional parameters as `{"default": value}`; `from` is the id of the
WhatsApp channel in MessageBird. It is its own provider (not "messagebird"): a different API host
with its own outages, so it gets its own circuit and its own line in the failover order.

Receipts: Conversations reports message status as JSON bodies (`message.updated` style), which the
SMS status endpoint (query parameters id/recipient/status) cannot read, so no reportUrl is sent;
the message stays "sent" until that endpoint learns the format (see docs/channels.md).
"""

from __future__ import annotations

import requests
from django.conf import settings

from notifications.models import Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http

# Conversations API error codes that mean the account is at fault, not this message: 2 and 1001 are
# a rejected access key, 25 no balance. 404 with a channel error: the channel id is not ours.
PROVIDER_FAULT = {2, 25, 1001}


def configured() -> bool:
    return bool(
        settings.MESSAGEBIRD_ACCESS_KEY
        and settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID
        and settings.MESSAGEBIRD_WHATSAPP_NAMESPACE
    )


def templates() -> dict:
    """MessageBird's own template list, else the Cloud API's (the same WhatsApp Business Account)."""
    return settings.MESSAGEBIRD_WHATSAPP_TEMPLATES or settings.WHATSAPP_TEMPLATES or {}


def hsm_of(notification: Notification) -> dict:
    spec = templates().get(notification.event)
    if not spec:
        raise TransportError(
            f"no approved WhatsApp template for {notification.event} (MESSAGEBIRD_WHATSAPP_TEMPLATES)",
            permanent=True,
            code="no_template",
        )
    lang = (notification.locale or "en").split("-")[0]
    language = (spec.get("languages") or {}).get(lang) or spec.get("language") or "en"
    variables = (notification.data or {}).get("content_variables") or {}
    count = int(spec.get("parameters", 3))
    return {
        "namespace": spec.get("namespace") or settings.MESSAGEBIRD_WHATSAPP_NAMESPACE,
        "templateName": spec["name"],
        "language": {"policy": "deterministic", "code": language},
        "params": [{"default": str(variables.get(str(i), ""))} for i in range(1, count + 1)],
    }


def payload(notification: Notification) -> dict:
    number = notification.recipient.removeprefix("whatsapp:").lstrip("+")
    return {
        "to": f"+{number}",
        "from": settings.MESSAGEBIRD_WHATSAPP_CHANNEL_ID,
        "type": "hsm",
        "content": {"hsm": hsm_of(notification)},
    }


def message_id_of(answer: dict) -> str:
    # The Go SDK's fixture answers {"id", "status"}; the Node SDK types it as {"message": {"id", "status"}}.
    message = answer.get("message") if isinstance(answer.get("message"), dict) else answer
    return str(message.get("id") or "")


class MessageBirdWhatsAppTransport(Transport):
    provider = "messagebird_whatsapp"

    def send(self, notification: Notification) -> SendResult:
        url = f"{settings.MESSAGEBIRD_CONVERSATIONS_BASE_URL.rstrip('/')}/v1/send"
        body = payload(notification)
        try:
            response = requests.post(
                url,
                json=body,
                headers={"Authorization": f"AccessKey {settings.MESSAGEBIRD_ACCESS_KEY}", "Accept": "application/json"},
                timeout=self.timeouts(),
            )
        except requests.Timeout as exc:
            raise TransportError("timeout talking to MessageBird Conversations", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to MessageBird Conversations", code="connection") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        status = response.status_code
        if 200 <= status < 300 and message_id_of(answer):
            return SendResult(message_id=message_id_of(answer), http_status=status)
        errors = answer.get("errors")
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        try:
            code = int(first.get("code") or 0)
        except (TypeError, ValueError):
            code = 0
        # A channel id that is not ours is the account's configuration, not the recipient's fault.
        channel_fault = first.get("parameter") in ("from", "channelId")
        raise TransportError(
            str(first.get("description") or f"MessageBird Conversations answered {status}"),
            permanent=not transient_http(status),
            code=str(code or f"http_{status}"),
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            scope="provider" if code in PROVIDER_FAULT or status == 401 or channel_fault else "message",
        )
