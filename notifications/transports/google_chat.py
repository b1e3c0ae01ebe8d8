"""Google Chat: a space's incoming webhook (spaces.messages.create), text plus a card.

The webhook URL carries the space, key and token; the answer is the created Message resource,
whose `name` (spaces/.../messages/...) we keep as the provider id. 401/403 (webhook revoked) and
404 (space or webhook deleted) disable the destination.
"""

from __future__ import annotations

import json

from notifications import destinations
from notifications.models import Notification
from notifications.transports.base import SendResult, Transport


def card(notification: Notification) -> dict:
    data = notification.data or {}
    widgets: list[dict] = [
        {"decoratedText": {"topLabel": str(k), "text": str(v), "wrapText": True}} for k, v in data.get("facts") or []
    ]
    if data.get("admin_url"):
        button = {"text": "Open in admin", "onClick": {"openLink": {"url": data["admin_url"]}}}
        widgets.append({"buttonList": {"buttons": [button]}})
    return {
        "cardId": f"n{notification.public_id.hex[:16]}",
        "card": {"header": {"title": notification.subject[:200]}, "sections": [{"widgets": widgets}]},
    }


def payload(notification: Notification) -> dict:
    return {"text": notification.body_text[:4000], "cardsV2": [card(notification)]}


class GoogleChatTransport(Transport):
    provider = "google_chat"

    def send(self, notification: Notification) -> SendResult:
        destination = destinations.destination_of(notification)
        url = destinations.destination_secret(destination)
        response = destinations.post_json(url, payload(notification), name="Google Chat")
        if response.status == 200:
            try:
                name = str(json.loads(response.body or b"{}").get("name", ""))
            except ValueError:
                name = ""
            return SendResult(message_id=name or f"gchat-{notification.public_id}", http_status=200)
        raise destinations.webhook_error(response, name="Google Chat", dead=frozenset({401, 403, 404}))
