"""The embedded default: the message is stored (it is the Notification row) and shown at /outbox/."""

from __future__ import annotations

from notifications.models import Notification
from notifications.transports.base import SendResult, Transport


class OutboxTransport(Transport):
    provider = "outbox"

    def send(self, notification: Notification) -> SendResult:
        return SendResult(message_id=f"outbox-{notification.public_id}")


class InAppTransport(Transport):
    """The customer's feed reads Notification rows of the in-app channel: storing is delivering."""

    provider = "inapp"

    def send(self, notification: Notification) -> SendResult:
        return SendResult(message_id=f"inapp-{notification.public_id}", delivered=True)
