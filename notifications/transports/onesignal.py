"""Push through OneSignal's REST API (create notification), over plain HTTP with requests."""

from __future__ import annotations

import requests
from django.conf import settings

from notifications.models import DeviceToken, Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http


class OneSignalTransport(Transport):
    provider = "onesignal"

    def payload(self, notification: Notification, external_id: str) -> dict:
        lang = (notification.locale or "en")[:2]
        return {
            "app_id": settings.ONESIGNAL_APP_ID,
            "target_channel": "push",
            "include_aliases": {"external_id": [external_id]},
            # OneSignal needs an English entry; we send the customer's language under both keys.
            "headings": {"en": notification.subject, lang: notification.subject},
            "contents": {"en": notification.body_text, lang: notification.body_text},
            "data": {k: str(v) for k, v in (notification.data or {}).items() if not isinstance(v, dict)},
            # OneSignal deduplicates on this for 30 days: a redelivered task does not push twice.
            "idempotency_key": str(notification.public_id),
            "priority": 10 if notification.urgent else 5,
        }

    def send(self, notification: Notification) -> SendResult:
        device = DeviceToken.objects.get(pk=int(notification.recipient.split(":", 1)[1]))
        url = f"{settings.ONESIGNAL_API_BASE_URL.rstrip('/')}/notifications"
        try:
            response = requests.post(
                url,
                json=self.payload(notification, device.token),
                headers={"Authorization": f"Key {settings.ONESIGNAL_API_KEY}"},
                timeout=self.timeouts(),
            )
        except requests.Timeout as exc:
            raise TransportError("timeout talking to OneSignal", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to OneSignal", code="connection") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200:
            errors = body.get("errors") if isinstance(body, dict) else None
            # HTTP 200 can still mean nothing was sent (invalid alias, no subscribed device).
            if errors or not body.get("id"):
                if isinstance(errors, dict) and errors.get("invalid_aliases"):
                    DeviceToken.objects.filter(pk=device.pk).update(active=False, last_error="invalid_alias")
                raise TransportError(f"OneSignal sent nothing: {errors}", permanent=True, code="invalid_aliases")
            return SendResult(message_id=body["id"], http_status=200)
        errors = body.get("errors") if isinstance(body, dict) else None
        raise TransportError(
            f"OneSignal answered {response.status_code}: {errors}",
            permanent=not transient_http(response.status_code),
            code=f"http_{response.status_code}",
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
