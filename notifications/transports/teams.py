"""Microsoft Teams: a Workflows webhook ("When a Teams webhook request is received") with an Adaptive Card.

The legacy Office 365 connector format (MessageCard) is being retired; the Workflows trigger
takes a message envelope whose attachment is an Adaptive Card, and answers 202 with no body.
A 401/403 (signature of the trigger URL no longer valid), 404 or 410 (workflow deleted) disables
the destination.
"""

from __future__ import annotations

from notifications import destinations
from notifications.models import Notification
from notifications.transports.base import SendResult, Transport

CARD_VERSION = "1.4"  # the highest version Teams renders in channel messages posted by Workflows


def adaptive_card(notification: Notification) -> dict:
    data = notification.data or {}
    body: list[dict] = [
        {"type": "TextBlock", "text": notification.subject, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    facts = data.get("facts") or []
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": str(k), "value": str(v)} for k, v in facts]})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if data.get("admin_url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in admin", "url": data["admin_url"]}]
    return card


def payload(notification: Notification) -> dict:
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None}
    return {"type": "message", "attachments": [{**attachment, "content": adaptive_card(notification)}]}


class TeamsTransport(Transport):
    provider = "teams"

    def send(self, notification: Notification) -> SendResult:
        destination = destinations.destination_of(notification)
        url = destinations.destination_secret(destination)
        response = destinations.post_json(url, payload(notification), name="Teams")
        if response.status in (200, 202):
            return SendResult(message_id=f"teams-{notification.public_id}", http_status=response.status)
        raise destinations.webhook_error(response, name="Teams", dead=frozenset({401, 403, 404, 410}))
