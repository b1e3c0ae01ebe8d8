"""Email through Mailgun: POST /v3/<domain>/messages (US https://api.mailgun.net, EU https://api.eu.mailgun.net).

Basic auth `api:<key>`, form fields as Mailgun documents them (from, to, subject, text, html,
h:<header>, v:<variable>). The answer's id is the Message-Id in angle brackets; the event
webhooks carry it without them, so it is stored bare.
"""

from __future__ import annotations

import requests
from django.conf import settings

from notifications.models import Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http


def form(notification: Notification) -> list[tuple[str, str]]:
    brand = notification.order.brand
    address = brand.email_from_address or settings.NOTIFY_FROM_EMAIL
    fields = [
        ("from", f"{brand.email_from_name or brand.name} <{address}>"),
        ("to", notification.recipient),
        ("subject", notification.subject),
        ("text", notification.body_text),
        # Only an opaque id leaves the building; the webhooks give it back as user-variables.
        ("v:notification", str(notification.public_id)),
    ]
    if notification.body_html:
        fields.append(("html", notification.body_html))
    for name, value in ((notification.data or {}).get("headers") or {}).items():
        fields.append((f"h:{name}", value))
    return fields


class MailgunTransport(Transport):
    provider = "mailgun"

    def send(self, notification: Notification) -> SendResult:
        url = f"{settings.MAILGUN_API_BASE_URL.rstrip('/')}/v3/{settings.MAILGUN_DOMAIN}/messages"
        try:
            response = requests.post(
                url, data=form(notification), auth=("api", settings.MAILGUN_API_KEY), timeout=self.timeouts()
            )
        except requests.Timeout as exc:
            raise TransportError("timeout talking to Mailgun", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to Mailgun", code="connection") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and answer.get("id"):
            return SendResult(message_id=str(answer["id"]).strip("<>"), http_status=200)
        status = response.status_code
        detail = answer.get("message") if isinstance(answer, dict) else ""
        account_fault = status in (401, 403) or (status == 404 and "domain" in str(detail).lower())
        raise TransportError(
            str(detail or response.text[:200] or f"Mailgun answered {status}"),
            permanent=not transient_http(status),
            code=f"http_{status}",
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            # A rejected key or unknown domain is the account's problem, not this recipient's.
            scope="provider" if account_fault else "message",
        )
