"""Email through the official SendGrid SDK (v3 Mail Send: 202 + X-Message-Id)."""

from __future__ import annotations

import json
import urllib.error

from django.conf import settings
from python_http_client import exceptions as http_exceptions
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Header, Mail

from notifications.models import Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http


class SendGridTransport(Transport):
    provider = "sendgrid"

    @staticmethod
    def configured() -> bool:
        return bool(settings.SENDGRID_API_KEY)

    def build_mail(self, notification: Notification) -> Mail:
        brand = notification.order.brand
        from_email = brand.email_from_address or settings.NOTIFY_FROM_EMAIL
        mail = Mail(
            from_email=(from_email, brand.email_from_name or brand.name),
            to_emails=notification.recipient,
            subject=notification.subject,
            plain_text_content=notification.body_text,
            html_content=notification.body_html or None,
        )
        for name, value in (notification.data.get("headers") or {}).items():
            mail.header = Header(name, value)
        # Only opaque ids leave the building: no names, addresses or order contents in metadata.
        mail.custom_arg = CustomArg("notification", str(notification.public_id))
        return mail

    def send(self, notification: Notification) -> SendResult:
        client = SendGridAPIClient(settings.SENDGRID_API_KEY, host=settings.SENDGRID_API_HOST)
        body = self.build_mail(notification).get()
        # urllib applies one timeout to the connect and to every read: the read budget covers both.
        connect, read = self.timeouts()
        try:
            response = client.client.mail.send.post(request_body=body, timeout=max(connect, read))
        except http_exceptions.HTTPError as exc:
            raise _error_from_http(exc) from exc
        except TimeoutError as exc:
            raise TransportError("timeout talking to SendGrid", code="timeout") from exc
        except urllib.error.URLError as exc:
            raise TransportError(f"connection error: {exc.reason}", code="connection") from exc
        message_id = response.headers.get("X-Message-Id", "") if response.headers else ""
        return SendResult(message_id=message_id, http_status=response.status_code)


def _error_from_http(exc: http_exceptions.HTTPError) -> TransportError:
    status = int(exc.status_code)
    detail = ""
    try:
        errors = json.loads(exc.body or b"{}").get("errors") or []
        detail = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        detail = ""
    retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
    return TransportError(
        detail or f"SendGrid answered {status}",
        permanent=not transient_http(status),
        code=f"http_{status}",
        http_status=status,
        retry_after=retry_after,
    )
