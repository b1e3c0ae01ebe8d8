"""`manage.py seed_demo`: a believable demo world, built through orders.services like real traffic.

Every order, shipment and carrier scan goes through the same services that the API and the carrier
webhooks call, so the audit log, the domain events and the timelines are the real thing. Each
story runs in its own short transaction (SQLite allows one writer at a time) and is skipped when
its order already exists, which makes the command idempotent and safe to re-run after a crash.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from orders import services
from orders.groups import INTEGRATIONS, SUPERVISORS, SUPPORT, ensure_groups
from orders.management.commands._demo_data import (
    BRANDS,
    CURRENCY,
    CUSTOMERS,
    PRODUCTS,
    ROUTES,
    ROUTES_CARRIER,
    SCAN_TEXT,
    SOURCE_ACCOUNT,
    STORIES,
    TRACKING_FORMATS,
    Story,
)
from orders.models import Brand, Customer, Order, Shipment, ShipmentEvent
from orders.services import LineIn
from orders.statuses import OrderStatus
from orders.tracking import TrackingEvent


class _Tale:
    """One order's story: each step is a service call at a given hour after the order was placed."""

    def __init__(self, story: Story, *, now: datetime, staff: dict) -> None:
        self.story = story
        self.now = now
        self.staff = staff
        self.n = int(story.ref.rsplit("-", 1)[1])
        self.placed = now - timedelta(hours=story.hours_ago)
        self.parcels: list[Shipment] = []
        self.scans = 0
        name, email, phone, locale, tz, address = CUSTOMERS[story.customer]
        line1, city, region, postcode, country, lat, lon = address
        self.dest = (city, region, country, Decimal(lat), Decimal(lon))
        self.order, _ = services.order_create(
            source=story.source,
            source_account=SOURCE_ACCOUNT.get(story.source, ""),
            external_id=story.ref,
            source_number=f"#{self.n}" if story.source == "shopify" else "",
            brand=Brand.objects.get(slug=story.brand),
            customer={"name": name, "email": email, "phone": phone, "locale": locale, "time_zone": tz},
            shipping_address={
                "line1": line1,
                "city": city,
                "region": region,
                "postcode": postcode,
                "country": country,
                "latitude": Decimal(lat),
                "longitude": Decimal(lon),
            },
            lines=[LineIn(sku=s, name=PRODUCTS[s][0], quantity=q, unit_price=PRODUCTS[s][1]) for s, q in story.lines],
            currency=CURRENCY[story.brand],
            placed_at=self.placed,
        )

    def at(self, hours: float) -> datetime:
        when = self.placed + timedelta(hours=hours)
        if when >= self.now:
            raise CommandError(f"{self.story.ref}: step at +{hours} h would be in the future")
        return when

    # --- steps ------------------------------------------------------------------------------
    def move(self, transition: str, hours: float, *, reason: str = "", source: str = "api", actor=None) -> None:
        services.order_transition(
            order=self.order,
            transition=transition,
            source=source,
            actor=actor,
            reason=reason,
            occurred_at=self.at(hours),
        )

    def prepare(self, *, confirm: float = 0.1, process: float | None = None) -> None:
        """The channel confirms automatically; the warehouse system starts picking and allocates."""
        self.move("confirm", confirm, source=self.story.source)
        if process is not None:
            self.move("start_processing", process, actor=self.staff["api"])
            services.order_set_flags(order=self.order, source="api", actor=self.staff["api"], inventory_allocated=True)

    def ship(self, carrier: str, hours: float, lines=None, service: str = "Ground", eta_days: int = 3) -> Shipment:
        k = len(self.parcels) + 1
        parcel = services.shipment_create(
            order=self.order,
            carrier=carrier,
            tracking_number=TRACKING_FORMATS[carrier].format(n=self.n, k=k),
            source="api",
            actor=self.staff["api"],
            service_level=service,
            lines=lines,
            eta=(self.at(hours) + timedelta(days=eta_days)).date(),
            occurred_at=self.at(hours),
        )
        self.parcels.append(parcel)
        return parcel

    def dispatch(self, hours: float) -> None:
        self.move("dispatch", hours, actor=self.staff["api"], reason="Handed to the carrier at the dock")

    def scan(
        self, parcel: Shipment, hours: float, status: str, where: str = "hub", late_by: float = 0, **extra
    ) -> None:
        """A carrier event at `where` (origin, hub or dest); `late_by` hours of delay before it reaches us."""
        city, region, country = {"origin": ROUTES[self.story.brand][0], "hub": ROUTES[self.story.brand][1]}.get(
            where, self.dest[:3]
        )
        code, text = SCAN_TEXT[status]
        occurred = self.at(hours)
        self.scans += 1
        services.shipment_apply_event(
            shipment=parcel,
            event=TrackingEvent(
                carrier=parcel.carrier,
                tracking_number=parcel.tracking_number,
                status=status,
                occurred_at=occurred,
                carrier_code=code,
                description=extra.pop("description", text),
                city=city,
                region=region,
                country=country,
                event_id=f"{parcel.tracking_number}-{self.scans}",
                **extra,
            ),
            received_at=min(occurred + timedelta(minutes=2, hours=late_by), self.now),
        )

    def deliver(self, parcel: Shipment, hours: float, signed_by: str = "") -> None:
        # Proof of delivery: the carrier's photo and the GPS fix of the driver, near the address.
        self.scan(
            parcel,
            hours,
            "delivered",
            "dest",
            description="Delivered: left at front door" if not signed_by else "Delivered: signed for",
            signed_by=signed_by,
            photo_ref=f"pod/{parcel.carrier}/{parcel.tracking_number}.jpg",
            signature_ref=f"pod/{parcel.carrier}/{parcel.tracking_number}-signature.png" if signed_by else "",
            latitude=self.dest[3] + Decimal("0.000140"),
            longitude=self.dest[4] - Decimal("0.000090"),
        )

    def journey(self, parcel: Shipment, start: float, *, to: str) -> float:
        """Label, pickup and line haul up to (and including) `to`; returns the hour of the last scan."""
        self.scan(parcel, start - 0.5, "info_received", "origin")
        self.scan(parcel, start + 1, "in_transit", "origin", description="Picked up")
        self.scan(parcel, start + 9, "in_transit", "hub", description="Arrived at hub")
        if to == "in_transit":
            return start + 9
        self.scan(parcel, start + 20, "out_for_delivery", "dest", description="Out for delivery")
        return start + 20

    # --- plots: one per order status (and a few variations) --------------------------------
    def pending(self) -> None:
        pass

    def confirmed(self) -> None:
        self.prepare()

    def processing(self) -> None:
        self.prepare(process=2)

    def held_and_released(self) -> None:
        # A hold parks the order; clearing it (a false match) resumes exactly where it was: processing.
        self.prepare(process=1)
        sup = self.staff["support"]
        reason = "Export screening: name match on a restricted-party list"
        flags = {"order": self.order, "source": "admin", "actor": sup}
        services.order_set_flags(**flags, regulatory_hold=True, regulatory_hold_reason=reason)
        services.order_set_flags(**flags, regulatory_hold=False)

    def on_hold(self) -> None:
        self.prepare(process=3)
        services.order_set_flags(
            order=self.order,
            source="admin",
            actor=self.staff["support"],
            regulatory_hold=True,
            regulatory_hold_reason="Lithium batteries to Canada: dangerous-goods declaration missing",
        )

    def cancelled_by_customer(self) -> None:
        self.move("cancel", 1, source="shopify", reason="Customer cancelled from their account")

    def cancelled_after_label(self) -> None:
        # The label is voided with the order: its shipment is cancelled too.
        self.prepare(process=2)
        self.ship("dhl", 4)
        self.move("cancel", 6, source="admin", actor=self.staff["support"], reason="Customer ordered the wrong grind")

    def partial(self) -> None:
        # The vase is back-ordered: the rest leaves now and the order says so.
        self.prepare(process=3)
        p = self.ship("royalmail", 20, lines=[("KC-BOWLS-4", 1), ("KC-PLATE", 2)], service="Tracked 48")
        self.dispatch(22)
        self.scan(p, 23, "in_transit", "origin", description="Collected from sender")
        self.scan(p, 35, "in_transit", "hub", description="At Midlands Super Hub")

    def dispatched(self) -> None:
        self.prepare(process=2)
        p = self.ship("dhl", 18, service="Paket")
        self.scan(p, 18.2, "info_received", "origin", description="Elektronische Ankündigung erhalten")
        self.dispatch(20)

    def in_transit(self) -> None:
        self.prepare(process=4)
        p = self.ship("ups", 20)
        self.dispatch(21)
        self.journey(p, 22, to="in_transit")
        # Some vendor codes map to nothing: they join the timeline and move nothing.
        self.scan(p, 40, "unknown", "hub", description="Package data processed at sort line")

    def carrier_dispatches(self) -> None:
        # Nobody pressed dispatch: the carrier's first scan does it, because our rules allow it.
        self.prepare(process=3)
        p = self.ship("fedex", 20, service="International Priority", eta_days=5)
        self.scan(p, 26, "in_transit", "origin", description="Picked up")
        self.scan(p, 40, "in_transit", "hub", description="International shipment release - Export")

    def split_in_transit(self) -> None:
        self.prepare(process=3)
        a = self.ship("royalmail", 20, lines=[("KC-BOWLS-4", 1)], service="Tracked 24")
        b = self.ship("dhl", 21, lines=[("KC-VASE", 1)], service="Parcel UK (fragile)")
        self.dispatch(22)
        # Applied roughly in the order they happened, as a carrier would send them.
        self.journey(b, 24, to="in_transit")
        self.journey(a, 23, to="out_for_delivery")
        self.deliver(a, 46)

    def out_for_delivery(self) -> None:
        self.prepare(process=2)
        p = self.ship("usps", 18, service="Priority Mail")
        self.dispatch(19)
        self.journey(p, 20, to="in_transit")
        self.scan(p, 64, "in_transit", "dest", description="Arrived at post office")
        self.scan(p, 67, "out_for_delivery", "dest", estimated_delivery=self.at(67).date())

    def pickup(self) -> None:
        self.prepare(process=2)
        p = self.ship("easypost", 18, service="DHL Paket via EasyPost")
        self.dispatch(19)
        self.journey(p, 20, to="in_transit")
        self.scan(p, 50, "available_for_pickup", "dest", description="Ready for collection at Packstation 104")

    def delayed(self) -> None:
        self.prepare(process=3)
        p = self.ship("fedex", 20)
        self.dispatch(21)
        last = self.journey(p, 22, to="in_transit")
        new_eta = self.at(last + 8).date() + timedelta(days=2)
        self.scan(
            p,
            last + 8,
            "delayed",
            "hub",
            reason="Severe weather at the hub",
            description="Severe weather: delay at hub",
            estimated_delivery=new_eta,
        )

    def customs(self) -> None:
        self.prepare(process=4)
        p = self.ship("dhl", 24, service="Express Worldwide", eta_days=4)
        self.dispatch(25)
        last = self.journey(p, 26, to="in_transit")
        self.scan(p, last + 30, "in_transit", "dest", description="Arrived at Sydney gateway")
        self.scan(p, last + 34, "exception", "dest", reason="Held by customs: import duties unpaid")

    def attempt_failed(self) -> None:
        self.prepare(process=2)
        p = self.ship("dhl", 18, service="Paket")
        self.dispatch(19)
        last = self.journey(p, 20, to="out_for_delivery")
        self.scan(
            p,
            last + 6,
            "attempt_failed",
            "dest",
            reason="Recipient not at home",
            description="Empfänger nicht angetroffen: neuer Versuch morgen",
            estimated_delivery=self.at(last + 6).date() + timedelta(days=1),
        )

    def delivered(self) -> None:
        self.prepare(process=2)
        p = self.ship("ups", 18)
        self.dispatch(19)
        last = self.journey(p, 20, to="out_for_delivery")
        self.deliver(p, last + 5, signed_by="S. MARTINEZ")
        # A scan that reaches us a day late joins the history and never moves the order back.
        self.scan(p, last - 3, "in_transit", "dest", late_by=24, description="Arrived at delivery station")

    def split_delivered(self) -> None:
        self.prepare(process=3)
        a = self.ship("dhl", 20, lines=[("KC-VASE", 1)], service="Express Worldwide")
        b = self.ship("easypost", 21, lines=[("KC-PLATE", 6)], service="Colissimo via EasyPost")
        self.dispatch(22)
        self.deliver(a, self.journey(a, 23, to="out_for_delivery") + 3, signed_by="C. DUBOIS")
        self.deliver(b, self.journey(b, 30, to="out_for_delivery") + 4)

    def collected_at_depot(self) -> None:
        # The parcel was collected at the depot but the carrier never scanned it: a supervisor says so.
        self.prepare(process=2)
        p = self.ship("usps", 18, service="Ground Advantage")
        self.dispatch(19)
        last = self.journey(p, 20, to="out_for_delivery")
        self.scan(p, last + 5, "attempt_failed", "dest", reason="No access to the address")
        services.order_override_status(
            order=self.order,
            status=OrderStatus.DELIVERED,
            reason="Customer collected the parcel at the post office (ID checked); carrier never scanned it",
            notify=True,
            actor=self.staff["supervisor"],
        )

    def completed(self) -> None:
        self.prepare(process=2)
        p = self.ship(ROUTES_CARRIER[self.story.brand], 18)
        self.dispatch(19)
        last = self.journey(p, 20, to="out_for_delivery")
        self.deliver(p, last + 4)
        self.move(
            "complete",
            last + 4 + 24 * settings.ORDER_COMPLETE_AFTER_DAYS,
            source="system",
            reason=f"{settings.ORDER_COMPLETE_AFTER_DAYS} days after delivery",
        )

    def returned(self) -> None:
        self.prepare(process=3)
        p = self.ship("royalmail", 20, service="Tracked 48")
        self.dispatch(21)
        last = self.journey(p, 22, to="out_for_delivery")
        self.scan(p, last + 5, "attempt_failed", "dest", description="We called but nobody was in: card left")
        self.scan(p, last + 29, "out_for_delivery", "dest")
        self.scan(p, last + 34, "attempt_failed", "dest", description="Second attempt: nobody in")
        self.scan(p, last + 130, "returned_to_sender", "origin", description="Not collected in 7 days: returned")


class Command(BaseCommand):
    help = "Load demo brands, customers, orders in every status, staff logins and an API token (idempotent)."

    def add_arguments(self, parser) -> None:
        for role in ("admin", "support", "supervisor"):
            parser.add_argument(
                f"--{role}-password",
                default=os.environ.get(f"DEMO_{role.upper()}_PASSWORD", ""),
                help=f"Password for the {role} login (default: $DEMO_{role.upper()}_PASSWORD, else generated).",
            )
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give existing demo logins new generated passwords (otherwise they keep theirs).",
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (it creates logins and prints passwords)."
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates staff logins and prints their passwords: it runs with DJANGO_DEBUG=true "
                "(or pass --force)."
            )
        started = timezone.now()
        # Every move, message and task logs a line (and the override a warning); what a newcomer needs
        # to read is the summary. -v 2 shows them all.
        if options["verbosity"] < 2:
            logging.disable(logging.WARNING)
        try:
            with transaction.atomic():
                self._brands()
                logins = self._staff(options)
            staff = {name: user for name, (user, _) in logins.items()}
            created = 0
            now = timezone.now().replace(second=0, microsecond=0)
            for story in STORIES:
                created += self._play(story, now=now, staff=staff)
        finally:
            logging.disable(logging.NOTSET)
        self._report(created, logins, elapsed=(timezone.now() - started).total_seconds())

    def _brands(self) -> None:
        # The migrations make the default brand and the groups; a flushed database has neither.
        ensure_groups()
        default = {"name": "Default", "order_prefix": "ORD"}
        Brand.objects.get_or_create(slug=settings.DEFAULT_BRAND_SLUG, defaults=default)
        now = timezone.now()
        for slug, fields in BRANDS.items():
            extra = {"banner_starts_at": now - timedelta(days=2)} if fields.get("banner_text") else {}
            Brand.objects.get_or_create(slug=slug, defaults={**fields, **extra})

    def _staff(self, options) -> dict:
        """Demo logins: (user, password shown) per role; a kept password is shown as None."""
        User = get_user_model()
        logins = {}
        roles = [
            ("admin", None, {"is_staff": True, "is_superuser": True}),
            ("support", SUPPORT, {"is_staff": True}),
            ("supervisor", SUPERVISORS, {"is_staff": True}),
            ("api", INTEGRATIONS, {}),
        ]
        for username, group, flags in roles:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.example", **flags}
            )
            wanted = options.get(f"{username}_password", "")
            password = None
            if username == "api":
                if created:
                    user.set_unusable_password()  # a machine user: token only
                    user.save()
            elif created or wanted or options["reset_passwords"]:
                password = wanted or secrets.token_urlsafe(12)
                user.set_password(password)
                user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
            logins[username] = (user, password)
        return logins

    def _play(self, story: Story, *, now: datetime, staff: dict) -> int:
        key = {"source": story.source, "source_account": SOURCE_ACCOUNT.get(story.source, ""), "external_id": story.ref}
        if Order.objects.filter(**key).exists():
            return 0
        # One short transaction per order: a crash leaves whole stories, and SQLite is never locked long.
        with transaction.atomic():
            tale = _Tale(story, now=now, staff=staff)
            getattr(tale, story.plot)()
        return 1

    def _report(self, created: int, logins: dict, *, elapsed: float) -> None:
        by_status = Counter(Order.objects.values_list("status", flat=True))
        out = self.stdout
        out.write(
            f"Demo data ready in {elapsed:.1f} s: {Brand.objects.count()} brands, "
            f"{Customer.objects.count()} customers, "
            f"{Order.objects.count()} orders ({created} new), {Shipment.objects.count()} shipments, "
            f"{ShipmentEvent.objects.count()} carrier events."
        )
        out.write("Orders by status: " + ", ".join(f"{s} {by_status.get(s, 0)}" for s in OrderStatus.values))
        site = settings.SITE_URL
        out.write(f"\nStaff logins at {site}/admin/")
        for label, username, what in (
            ("Admin", "admin", "superuser"),
            ("Support", "support", "group Support: moves orders through their lifecycle"),
            ("Supervisor", "supervisor", "group Supervisors: may also override a status"),
        ):
            password = logins[username][1] or "(unchanged; run with --reset-passwords for a new one)"
            out.write(f"  {label} login: {username} / {password}   [{what}]")
        token, _ = Token.objects.get_or_create(user=logins["api"][0])
        out.write(f"\nAPI token (user api, group {INTEGRATIONS}): {token.key}")
        out.write(f'  curl -H "Authorization: Token {token.key}" {site}/api/v1/orders/')
        out.write(f"  API docs: {site}/api/docs/")
        out.write(f"\nMessages a customer would get (staff login): {site}/outbox/")
        out.write(f"Tracking pages, one per status (order lookup at {site}/track/):")
        for status in OrderStatus.values:
            order = Order.objects.filter(status=status).order_by("-id").first()
            if order:
                out.write(f"  {status:<20} {order.tracking_url}")
