"""Slack: chat.postMessage with a bot token (official slack_sdk) and incoming webhooks.

Both send the same Block Kit message: a header, the facts (order, status, reason, parcel) and a
button to the order's admin page. A permanent answer about the destination itself (revoked
token, deleted or archived channel, removed webhook) disables it; rate limits are retried.
"""

from __future__ import annotations

import urllib.error

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from notifications import destinations
from notifications.models import Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after

# Slack error codes that mean the destination is gone or no longer ours: disable it.
DEAD = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "missing_scope",
    "team_access_not_granted",
    "no_service",
    "channel_is_archived",
    "invalid_token",
    "action_prohibited",
}
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def blocks(notification: Notification) -> list[dict]:
    data = notification.data or {}
    facts = data.get("facts") or []
    out: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": notification.subject[:150]}}]
    if facts:
        out.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in facts[:10]]}
        )
    if data.get("admin_url"):
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in admin"}, "url": data["admin_url"]}
        out.append({"type": "actions", "elements": [button]})
    return out


def payload(notification: Notification) -> dict:
    # `text` is the notification fallback (and what screen readers and old clients show).
    return {"text": notification.body_text[:3000], "blocks": blocks(notification)}


class SlackTransport(Transport):
    """chat.postMessage in a channel, with the destination's bot token (or SLACK_BOT_TOKEN)."""

    provider = "slack"

    def send(self, notification: Notification) -> SendResult:
        destination = destinations.destination_of(notification)
        token = destinations.destination_secret(destination) or settings.SLACK_BOT_TOKEN
        client = WebClient(
            token=token,
            base_url=settings.SLACK_API_BASE_URL,
            timeout=max(self.timeouts()),
            retry_handlers=[],  # our retries are recorded and counted; the SDK's would hide duplicates
        )
        try:
            response = client.chat_postMessage(channel=destination.channel, unfurl_links=False, **payload(notification))
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else None
            headers = (exc.response.headers if exc.response is not None else None) or {}
            transient = error in TRANSIENT or (status or 0) >= 500 or status == 429
            raise TransportError(
                f"Slack: {error or exc}",
                permanent=not transient,
                code=error[:64] or f"http_{status}",
                http_status=status,
                retry_after=parse_retry_after(headers.get("Retry-After")),
                scope="destination" if error in DEAD else "message",
            ) from exc
        except (TimeoutError, urllib.error.URLError) as exc:
            code = "timeout" if "timed out" in str(exc) else "connection"
            raise TransportError(f"Slack: {exc}", code=code) from exc
        return SendResult(message_id=f"{response.get('channel', '')}:{response.get('ts', '')}", http_status=200)


class SlackWebhookTransport(Transport):
    """An incoming webhook (https://hooks.slack.com/services/...): answers "ok" or a plain-text error code."""

    provider = "slack_webhook"

    def send(self, notification: Notification) -> SendResult:
        destination = destinations.destination_of(notification)
        url = destinations.destination_secret(destination)
        response = destinations.post_json(url, payload(notification), name="Slack")
        if response.status == 200:
            return SendResult(message_id=f"slack-webhook-{notification.public_id}", http_status=200)
        error = destinations.webhook_error(response, name="Slack", dead=frozenset({401, 403, 404, 410}))
        if error.code in DEAD:
            error.permanent, error.scope = True, "destination"
        raise error
