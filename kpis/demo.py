"""Six weeks of past traffic for the demo, so every chart of the KPI dashboard has something to show.

`seed_demo` plays a few dozen orders through the real services, all of them recent and sent through
the local outbox (which reports no delivery). The dashboard needs history: delivered parcels with
ETAs and promised windows, messages through providers that send receipts, survey answers, tracking
visits. Playing weeks of traffic through the services on SQLite would take minutes, so these rows are
written directly, with a fixed random seed, and marked `source="demo-history"` (run once).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from notifications.models import Audience, Event, Notification
from orders.models import Brand, Customer, Order, Shipment, ShipmentEvent, StatusChange
from orders.statuses import OrderStatus, ShipmentStatus
from orders.tracking.models import DeliveryFeedback, TrackingVisit

SOURCE = "demo-history"
S = Notification.Status
# Per brand: carriers, routes, and the providers of each channel (one provider drops more than the others).
BRAND_SETUP = {
    "northwind": (["ups", "fedex"], ["Reno → Louisville", "Reno → Denver"], {"email": "sendgrid", "sms": "twilio"}),
    "kiln-clay": (
        ["royalmail", "dpd"],
        ["Stoke → Daventry", "Stoke → Glasgow"],
        {"email": "mailgun", "sms": "messagebird"},
    ),
    "blauer-hafen": (
        ["dhl", "dpd"],
        ["Hamburg → Leipzig", "Hamburg → München"],
        {"email": "sendgrid", "whatsapp": "whatsapp_cloud"},
    ),
}
# Chance that an accepted message is reported undelivered, by provider.
DROP = {"twilio": 0.012, "messagebird": 0.045, "sendgrid": 0.008, "mailgun": 0.02, "whatsapp_cloud": 0.015}
EXCEPTION_STATUSES = {OrderStatus.DELAYED, OrderStatus.DELIVERY_FAILED}


class _History:
    def __init__(self, *, now: datetime, seed: int) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.n = 0
        self.pending: dict[type, list] = {}

    def add(self, obj):
        self.pending.setdefault(type(obj), []).append(obj)
        return obj

    def flush(self) -> None:
        """Write the day: each model in one bulk insert, parents first (they get their ids back)."""
        for model in (Order, Shipment, ShipmentEvent, StatusChange, Notification, DeliveryFeedback, TrackingVisit):
            rows = self.pending.pop(model, [])
            if not rows:
                continue
            # auto_now_add would stamp every row with now: keep the moment each one happened.
            moments = {"Notification": "created_at", "DeliveryFeedback": "created_at", "TrackingVisit": "visited_at"}
            field = moments.get(model.__name__)
            wanted = [getattr(row, field) for row in rows] if field else None
            model.objects.bulk_create(rows, batch_size=500)
            if field:
                for row, moment in zip(rows, wanted, strict=True):
                    setattr(row, field, moment)
                model.objects.bulk_update(rows, [field], batch_size=500)

    def latency(self) -> timedelta:
        # Mostly well under a second, a long tail (a slow provider, a retry).
        ms = self.rng.lognormvariate(6.4, 0.8)
        if self.rng.random() < 0.02:
            ms += self.rng.uniform(2_000, 40_000)
        return timedelta(milliseconds=ms)

    def order(self, brand: Brand, customer: Customer, placed: datetime, carriers, routes, providers) -> None:
        self.n += 1
        rng = self.rng
        carrier = carriers[0] if rng.random() < 0.65 else carriers[1]
        route = routes[0] if rng.random() < 0.7 else routes[1]
        promised_from = (placed + timedelta(days=2)).date()
        first_eta = (placed + timedelta(days=3)).date()
        transit_days = rng.choices([2, 3, 4, 5], weights=[3, 5, 2, 1])[0]
        failed_attempt = rng.random() < 0.08
        delivered_at = placed + timedelta(days=transit_days + failed_attempt, hours=rng.uniform(-3, 3))
        delivered = delivered_at < self.now
        order = self.add(
            Order(
                number=f"{brand.order_prefix}-H{placed:%y%m%d}{self.n:04d}",
                brand=brand,
                customer=customer,
                source=SOURCE,
                external_id=f"H-{brand.slug}-{self.n}",
                intake_fingerprint=f"demo-history-{self.n}",
                ship_line1="1 Demo Street",
                ship_city="Demo City",
                ship_country="US",
                currency="USD",
                promised_from=promised_from,
                promised_to=promised_from + timedelta(days=2),
                status=OrderStatus.DELIVERED if delivered else OrderStatus.IN_TRANSIT,
                placed_at=placed,
                delivered_at=delivered_at if delivered else None,
            )
        )
        shipment = self.add(
            Shipment(
                order=order,
                carrier=carrier,
                tracking_number=f"H{self.n:010d}",
                status=ShipmentStatus.DELIVERED if delivered else ShipmentStatus.IN_TRANSIT,
                eta=first_eta,
                dispatched_at=placed + timedelta(hours=6),
                delivered_at=delivered_at if delivered else None,
            )
        )
        steps = [
            (ShipmentStatus.IN_TRANSIT, placed + timedelta(hours=8), Event.ORDER_DISPATCHED),
            (ShipmentStatus.OUT_FOR_DELIVERY, delivered_at - timedelta(hours=4), Event.OUT_FOR_DELIVERY),
        ]
        if failed_attempt:
            steps.insert(1, (ShipmentStatus.ATTEMPT_FAILED, delivered_at - timedelta(days=1), Event.DELIVERY_FAILED))
        steps.append((ShipmentStatus.DELIVERED, delivered_at, Event.DELIVERED))
        for i, (status, occurred, event) in enumerate(steps):
            if occurred >= self.now:
                break
            received = occurred + timedelta(seconds=rng.uniform(1, 90))
            row = self.add(
                ShipmentEvent(
                    shipment=shipment,
                    carrier=carrier,
                    status=status,
                    occurred_at=occurred,
                    received_at=received,
                    estimated_delivery=first_eta if i == 0 else None,
                    dedupe_key=f"history-{self.n}-{i}",
                    applied=True,
                )
            )
            change = self.add(
                StatusChange(
                    order=order,
                    shipment=shipment,
                    from_status="",
                    to_status=status,
                    transition=f"mark_{status}",
                    source="carrier",
                    shipment_event=row,
                    occurred_at=occurred,
                )
            )
            for channel, provider in providers.items():
                self.message(order, shipment, change, event, channel, provider, received)
            if rng.random() < 0.5:
                visit_status = OrderStatus.DELIVERY_FAILED if status == ShipmentStatus.ATTEMPT_FAILED else status
                self.visit(order, received + timedelta(hours=rng.uniform(0.2, 3)), visit_status)
        if delivered and delivered_at + timedelta(days=1) < self.now:
            self.survey(order, shipment, delivered_at + timedelta(days=1), carrier, route, route == routes[1])

    def message(self, order, shipment, change, event, channel, provider, received: datetime) -> None:
        rng = self.rng
        sent_at = received + self.latency()
        if sent_at >= self.now:
            return
        roll = rng.random()
        status, delivered_at = S.DELIVERED, sent_at + timedelta(seconds=rng.uniform(2, 20))
        if roll < 0.006:
            status, sent_at, delivered_at = S.FAILED, None, None
        elif roll < 0.006 + DROP[provider]:
            status, delivered_at = S.UNDELIVERED, None
        elif delivered_at >= self.now or roll > 0.995:
            status, delivered_at = S.SENT, None
        self.create(order, shipment, change, event, channel, provider, received, status, sent_at, delivered_at)

    def create(
        self, order, shipment, change, event, channel, provider, created, status, sent_at, delivered_at, **extra
    ):
        self.add(
            Notification(
                idempotency_key=f"demo-history-{order.number}-{event}-{channel}",
                order=order,
                shipment=shipment,
                customer=order.customer,
                status_change=change,
                event=event,
                audience=Audience.CUSTOMER,
                channel=channel,
                provider=provider,
                recipient=order.customer.email if channel == "email" else order.customer.phone,
                status=status,
                sent_at=sent_at,
                delivered_at=delivered_at,
                attempts=1,
                created_at=created,
                **extra,
            )
        )

    def survey(self, order, shipment, asked: datetime, carrier: str, route: str, rough_route: bool) -> None:
        rng = self.rng
        provider = BRAND_SETUP[order.brand.slug][2]["email"]
        self.create(
            order, shipment, None, Event.FEEDBACK_REQUEST, "email", provider, asked - timedelta(days=1), S.DELIVERED,
            asked, asked + timedelta(seconds=5), due_at=asked,
        )  # fmt: skip
        answered = asked + timedelta(hours=rng.uniform(0.5, 20))
        if rng.random() > 0.45 or answered >= self.now:
            return
        weights = [3, 4, 8, 20, 25] if rough_route else [1, 1, 3, 15, 40]
        score = rng.choices([1, 2, 3, 4, 5], weights=weights)[0]
        self.add(DeliveryFeedback(
            order=order, shipment=shipment, received=score > 1 or rng.random() < 0.5, score=score,
            carrier=carrier, route=route, created_at=answered,
        ))  # fmt: skip

    def visit(self, order, at: datetime, status: str) -> None:
        if at >= self.now:
            return
        exception = status in EXCEPTION_STATUSES
        self.add(TrackingVisit(order=order, order_status=status, exception=exception, visited_at=at))


def kpis_demo_history(*, now: datetime | None = None, days: int = 42, orders_per_day: int = 3, seed: int = 8) -> int:
    """Write `days` of history for the demo brands; returns the orders made (0 when already there)."""
    if Order.objects.filter(source=SOURCE).exists():
        return 0
    now = now or timezone.now()
    history = _History(now=now, seed=seed)
    brands = [b for b in Brand.objects.filter(slug__in=BRAND_SETUP) if b.customers.exists()]
    for back in range(days, 0, -1):
        # One short transaction per day: SQLite lets one writer in at a time.
        with transaction.atomic():
            for brand in brands:
                carriers, routes, providers = BRAND_SETUP[brand.slug]
                customers = list(brand.customers.all()[:5])
                for k in range(orders_per_day):
                    placed = now - timedelta(days=back, hours=history.rng.uniform(0, 20))
                    history.order(brand, customers[k % len(customers)], placed, carriers, routes, providers)
            history.flush()
    _reconciliation_runs(now)
    return history.n


def _reconciliation_runs(now: datetime) -> None:
    """A week of nightly reconciliation runs, unless the carriers' own demo made some."""
    try:
        Run = apps.get_model("carriers", "ReconciliationRun")
    except LookupError:
        return
    if Run.objects.exists():
        return
    rng = random.Random(5)
    in_flight = max(Shipment.objects.exclude(status=ShipmentStatus.DELIVERED).count(), 12)
    for back in range(7, 0, -1):
        started = (now - timedelta(days=back)).replace(hour=2, minute=0, second=0, microsecond=0)
        mismatched = rng.choice([0, 0, 1, 2])
        Run.objects.create(
            started_at=started, finished_at=started + timedelta(minutes=3), trigger="schedule", checked=in_flight,
            mismatched=mismatched, unreachable=rng.choice([0, 0, 1]), running=False, note="demo",
        )  # fmt: skip
