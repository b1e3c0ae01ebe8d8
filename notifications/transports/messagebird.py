"""SMS through MessageBird's REST API: POST /messages with `Authorization: AccessKey <key>`.

The message gets our notification id as `reference` and our status endpoint as `reportUrl`:
MessageBird only sends status reports for messages with a reference, as a GET request signed
with the MessageBird-Signature-JWT header (see notifications/provider_receipts.py).
"""

from __future__ import annotations

import requests
from django.conf import settings
from django.urls import reverse

from notifications.models import Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http

# MessageBird error codes: 2 = request not allowed (bad access key), 9 = missing/invalid parameter,
# 21 = bad request, 25 = not enough balance (the account's problem: fail over).
PROVIDER_FAULT = {2, 25}


def payload(notification: Notification) -> dict:
    brand = notification.order.brand
    return {
        "originator": brand.sms_sender or settings.MESSAGEBIRD_ORIGINATOR,
        "recipients": [notification.recipient.lstrip("+")],
        "body": notification.body_text,
        "reference": str(notification.public_id),
        "reportUrl": f"{settings.SITE_URL}{reverse('notifications:messagebird-status')}",
        "datacoding": "auto",
    }


class MessageBirdTransport(Transport):
    provider = "messagebird"

    def send(self, notification: Notification) -> SendResult:
        url = f"{settings.MESSAGEBIRD_API_BASE_URL.rstrip('/')}/messages"
        try:
            response = requests.post(
                url,
                json=payload(notification),
                headers={"Authorization": f"AccessKey {settings.MESSAGEBIRD_ACCESS_KEY}"},
                timeout=self.timeouts(),
            )
        except requests.Timeout as exc:
            raise TransportError("timeout talking to MessageBird", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to MessageBird", code="connection") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 201 and answer.get("id"):
            return SendResult(message_id=str(answer["id"]), http_status=201)
        errors = answer.get("errors") if isinstance(answer, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        code = int(first.get("code") or 0)
        status = response.status_code
        raise TransportError(
            str(first.get("description") or f"MessageBird answered {status}"),
            permanent=not transient_http(status),
            code=str(code or f"http_{status}"),
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            scope="provider" if code in PROVIDER_FAULT or status == 401 else "message",
        )
