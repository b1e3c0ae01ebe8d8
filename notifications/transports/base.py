"""The transport contract, like healthchecks: `send(notification)` or raise TransportError.

A permanent error (invalid number, hard bounce, unsubscribed) is never retried; a transient one
(timeout, connection error, 5xx, 429) is, honouring the provider's Retry-After when it gives one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from notifications.models import Notification


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: str = "",
        http_status: int | None = None,
        retry_after: float | None = None,
        unsubscribed: bool = False,
        scope: str = "message",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        # The provider says this recipient opted out: record it as their preference too.
        self.unsubscribed = unsubscribed
        # What the error is about: this "message" (invalid number), the "provider" account (revoked
        # API key: fail over, open its circuit) or a staff "destination" (dead webhook: disable it).
        self.scope = scope


@dataclass
class SendResult:
    message_id: str
    http_status: int | None = None
    # True when handing over is delivery (in-app feed): no receipt will follow.
    delivered: bool = False


class Transport:
    provider = ""

    def send(self, notification: Notification) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def timeouts() -> tuple[float, float]:
        return (settings.NOTIFY_CONNECT_TIMEOUT, settings.NOTIFY_READ_TIMEOUT)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from these providers; our own backoff applies


def transient_http(status: int) -> bool:
    return status == 429 or status >= 500 or status in (408, 409)
