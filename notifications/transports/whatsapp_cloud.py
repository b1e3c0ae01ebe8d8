"""WhatsApp Cloud API (Meta Graph API): approved template messages, recording the returned wamid.

Business-initiated WhatsApp messages must be approved templates: WHATSAPP_TEMPLATES maps our
event to the template's name and language (and, per language of the customer, another
language code); the body parameters are the first name, order number and tracking URL that
rendering puts in `content_variables`. Status webhooks (sent/delivered/read/failed) come back
to /webhooks/providers/whatsapp/ carrying the same wamid.
"""

from __future__ import annotations

import requests
from django.conf import settings

from notifications.models import Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http

# Graph API error codes: the account or token is at fault (fail over), or the moment is (retry).
PROVIDER_FAULT = {190, 10, 200, 3, 368, 131031}
TRANSIENT_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004}


def template_of(notification: Notification) -> dict:
    spec = (settings.WHATSAPP_TEMPLATES or {}).get(notification.event)
    if not spec:
        raise TransportError(
            f"no approved WhatsApp template for {notification.event} (WHATSAPP_TEMPLATES)",
            permanent=True,
            code="no_template",
        )
    lang = (notification.locale or "en").split("-")[0]
    language = (spec.get("languages") or {}).get(lang) or spec.get("language") or "en_US"
    variables = (notification.data or {}).get("content_variables") or {}
    count = int(spec.get("parameters", 3))
    parameters = [{"type": "text", "text": str(variables.get(str(i), ""))} for i in range(1, count + 1)]
    template: dict = {"name": spec["name"], "language": {"code": language}}
    if parameters:
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


def payload(notification: Notification) -> dict:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": notification.recipient.removeprefix("whatsapp:").lstrip("+"),
        "type": "template",
        "template": template_of(notification),
    }


class WhatsAppCloudTransport(Transport):
    provider = "whatsapp_cloud"

    def send(self, notification: Notification) -> SendResult:
        base = settings.WHATSAPP_API_BASE_URL.rstrip("/")
        url = f"{base}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
        body = payload(notification)
        try:
            response = requests.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"},
                timeout=self.timeouts(),
            )
        except requests.Timeout as exc:
            raise TransportError("timeout talking to WhatsApp Cloud API", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to WhatsApp Cloud API", code="connection") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and (answer.get("messages") or [{}])[0].get("id"):
            return SendResult(message_id=answer["messages"][0]["id"], http_status=200)
        error = answer.get("error") or {} if isinstance(answer, dict) else {}
        code = int(error.get("code") or 0)
        transient = code in TRANSIENT_CODES or transient_http(response.status_code)
        raise TransportError(
            str(error.get("message") or f"WhatsApp Cloud API answered {response.status_code}"),
            permanent=not transient,
            code=str(code or f"http_{response.status_code}"),
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            scope="provider" if code in PROVIDER_FAULT else "message",
        )
