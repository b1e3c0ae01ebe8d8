"""Which event reaches which audience over which channels: shipped defaults, brand-editable in the admin.

A NotificationRule row (for a brand, or for all brands) replaces the default of its (event, audience).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from notifications.brand_cache import BrandCache
from notifications.models import Audience, Channel, Event, NotificationRule
from orders.models import Brand
from orders.statuses import OrderStatus as OS


@dataclass(frozen=True)
class Rule:
    event: str
    audience: str
    channels: tuple[str, ...]
    urgent: bool = False
    enabled: bool = True


_ALL = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP, Channel.PUSH, Channel.INAPP)
_QUIET = (Channel.EMAIL, Channel.PUSH, Channel.INAPP)
# Staff hear of exceptions by email and in their chat (Slack / Teams / Google Chat destinations).
_STAFF = (Channel.EMAIL, Channel.CHAT)

DEFAULT_RULES: dict[tuple[str, str], Rule] = {
    (r.event, r.audience): r
    for r in [
        Rule(Event.ORDER_CONFIRMED, Audience.CUSTOMER, _QUIET),
        Rule(Event.ORDER_DISPATCHED, Audience.CUSTOMER, _ALL),
        Rule(Event.SPLIT_SHIPMENT, Audience.CUSTOMER, (Channel.EMAIL, Channel.INAPP)),
        Rule(Event.OUT_FOR_DELIVERY, Audience.CUSTOMER, _ALL),
        Rule(Event.DELAYED, Audience.CUSTOMER, _ALL, urgent=True),
        Rule(Event.DELAYED, Audience.STAFF, (Channel.CHAT,), urgent=True),
        Rule(Event.DELIVERY_FAILED, Audience.CUSTOMER, _ALL, urgent=True),
        Rule(Event.DELIVERY_FAILED, Audience.STAFF, _STAFF, urgent=True),
        # "High-priority message" on delivery: every channel, straight away.
        Rule(Event.DELIVERED, Audience.CUSTOMER, _ALL, urgent=True),
        Rule(Event.FEEDBACK_REQUEST, Audience.CUSTOMER, (Channel.EMAIL, Channel.INAPP)),
        Rule(Event.CANCELLED, Audience.CUSTOMER, (Channel.EMAIL, Channel.SMS, Channel.INAPP), urgent=True),
        Rule(Event.ON_HOLD, Audience.CUSTOMER, (Channel.EMAIL, Channel.INAPP), urgent=True),
        Rule(Event.ON_HOLD, Audience.STAFF, _STAFF, urgent=True),
        Rule(Event.RETURNED_TO_SENDER, Audience.CUSTOMER, (Channel.EMAIL, Channel.SMS, Channel.INAPP), urgent=True),
        Rule(Event.RETURNED_TO_SENDER, Audience.STAFF, _STAFF, urgent=True),
        Rule(Event.DELIVERY_UNVERIFIED, Audience.STAFF, _STAFF, urgent=True),
        Rule(Event.NOTIFICATION_DEAD_LETTERED, Audience.STAFF, _STAFF, urgent=True),
        Rule(Event.DESTINATION_DISABLED, Audience.STAFF, _STAFF, urgent=True),
    ]
}

# Which order status (reached by a change) means which event.
EVENT_FOR_ORDER_STATUS: dict[str, str] = {
    OS.CONFIRMED: Event.ORDER_CONFIRMED,
    OS.DISPATCHED: Event.ORDER_DISPATCHED,
    OS.PARTIALLY_SHIPPED: Event.ORDER_DISPATCHED,
    OS.OUT_FOR_DELIVERY: Event.OUT_FOR_DELIVERY,
    OS.DELAYED: Event.DELAYED,
    OS.DELIVERY_FAILED: Event.DELIVERY_FAILED,
    OS.DELIVERED: Event.DELIVERED,
    OS.CANCELLED: Event.CANCELLED,
    OS.ON_HOLD: Event.ON_HOLD,
    OS.RETURNED_TO_SENDER: Event.RETURNED_TO_SENDER,
}

# A message whose moment has passed: not sent once the order has reached one of these.
SUPERSEDED_WHEN: dict[str, set[str]] = {
    Event.ORDER_CONFIRMED: {OS.CANCELLED, OS.DELIVERED, OS.COMPLETED},
    Event.ORDER_DISPATCHED: {OS.DELIVERED, OS.COMPLETED, OS.RETURNED_TO_SENDER},
    Event.OUT_FOR_DELIVERY: {OS.DELIVERED, OS.COMPLETED, OS.RETURNED_TO_SENDER, OS.DELIVERY_FAILED},
    Event.DELAYED: {OS.DELIVERED, OS.COMPLETED, OS.RETURNED_TO_SENDER},
    Event.DELIVERY_FAILED: {OS.DELIVERED, OS.COMPLETED},
    Event.ON_HOLD: {OS.CANCELLED},
}

# Events whose message stays worth sending however late (the TTL does not apply).
NO_EXPIRY = {Event.FEEDBACK_REQUEST, Event.DELIVERED, Event.CANCELLED, Event.RETURNED_TO_SENDER}


# A brand's rule rows (its own and the all-brands ones), every event: one query per brand, cached.
_rule_rows: BrandCache[dict[tuple[str, str, bool], Rule]] = BrandCache("rules", NotificationRule)


def _load_rule_rows(brand_id: int | None) -> dict[tuple[str, str, bool], Rule]:
    rows = NotificationRule.objects.filter(Q(brand_id=brand_id) | Q(brand__isnull=True)).values_list(
        "brand_id", "event", "audience", "channels", "urgent", "enabled"
    )
    return {
        (event, audience, row_brand is not None): Rule(event, audience, tuple(channels), urgent=urgent, enabled=enabled)
        for row_brand, event, audience, channels, urgent, enabled in rows
    }


def rules_for(*, brand: Brand, event: str) -> list[Rule]:
    """The active rules of one event for one brand: its own rows, else all-brands rows, else defaults."""
    brand_id = brand.pk if brand is not None else None
    rows = _rule_rows.get(brand_id, lambda: _load_rule_rows(brand_id))
    found: list[Rule] = []
    for audience in Audience.values:
        rule = rows.get((event, audience, True)) or rows.get((event, audience, False))
        rule = rule or DEFAULT_RULES.get((event, audience))
        if rule is not None and rule.enabled and rule.channels:
            found.append(rule)
    return found
