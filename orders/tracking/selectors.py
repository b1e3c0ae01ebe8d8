"""What the tracking page shows, read in a fixed number of queries whatever the order's size.

Everything a customer reads is prepared here once (times already in their zone and language) so
the HTML page and its JSON endpoint say the same thing.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote

from django.conf import settings
from django.db.models import Prefetch
from django.utils import formats, timezone, translation

from orders.models import Order, Shipment, ShipmentEvent, StatusChange
from orders.statuses import EXCEPTION_ORDER_STATUSES, SHIPMENT_EXCEPTIONS, OrderStatus, ShipmentStatus
from orders.tracking.i18n import Words, words
from orders.tracking.models import DEFAULT_SAFE_PLACES, TrackingSettings

MILESTONES = ("confirmed", "dispatched", "in_transit", "out_for_delivery", "delivered")
# Once a parcel is this far along, the customer can no longer change how it is delivered.
LAST_LEG = {
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.AVAILABLE_FOR_PICKUP,
    ShipmentStatus.DELIVERED,
    ShipmentStatus.RETURNED_TO_SENDER,
}
SELF_SERVICE_ORDER_STATUSES = {
    OrderStatus.PENDING,
    OrderStatus.CONFIRMED,
    OrderStatus.PROCESSING,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.DISPATCHED,
    OrderStatus.IN_TRANSIT,
    OrderStatus.DELAYED,
}
DELIVERED_ORDER_STATUSES = {OrderStatus.DELIVERED, OrderStatus.COMPLETED}

# The carrier's own public tracking page; {n} is the URL-quoted tracking number.
CARRIER_LINKS = {
    "ups": "https://www.ups.com/track?tracknum={n}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={n}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={n}",
    "royalmail": "https://www.royalmail.com/track-your-item#/tracking-results/{n}",
    "canadapost": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{n}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{n}",
    "laposte": "https://www.laposte.fr/outils/suivre-vos-envois?code={n}",
    "correos": "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number={n}",
}
CARRIER_NAMES = {
    "ups": "UPS",
    "fedex": "FedEx",
    "usps": "USPS",
    "dhl": "DHL",
    "royalmail": "Royal Mail",
    "canadapost": "Canada Post",
    "dpd": "DPD",
    "laposte": "La Poste",
    "correos": "Correos",
    "generic": "Local courier",
}


def servable_ref(ref: str) -> bool:
    """A proof image we can show: stored by a carrier adapter, or hosted by the carrier over https."""
    return ref.startswith(("carriers/pod/", "https://")) and ".." not in ref


def carrier_link(carrier: str, tracking_number: str) -> str:
    template = CARRIER_LINKS.get(carrier.lower())
    return template.format(n=quote(tracking_number, safe="")) if template else ""


# --- colours: the brand's, adjusted where they would fail WCAG AA ------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


DARK_TEXT = "#111827"
LIGHT_TEXT = "#ffffff"
PAGE_BACKGROUND = "#ffffff"


def brand_palette(primary: str, accent: str) -> dict[str, str]:
    """Header colours and a link/button colour that keep 4.5:1 on their backgrounds."""
    on_primary = max((LIGHT_TEXT, DARK_TEXT), key=lambda c: contrast_ratio(c, primary))
    action = next(
        (c for c in (accent, primary) if contrast_ratio(c, PAGE_BACKGROUND) >= 4.5),
        DARK_TEXT,
    )
    on_action = max((LIGHT_TEXT, DARK_TEXT), key=lambda c: contrast_ratio(c, action))
    return {"primary": primary, "on_primary": on_primary, "action": action, "on_action": on_action}


# --- the snapshot ---------------------------------------------------------------------------


def order_for_token(token: str) -> Order | None:
    """One query: the order with everything one-to-one the page needs."""
    if not token or len(token) > 64:
        return None
    return (
        Order.objects.select_related(
            "brand",
            "brand__tracking_settings",
            "customer",
            "customer__notification_preferences",
            "delivery_preference",
            "delivery_feedback",
        )
        .filter(tracking_token=token)
        .first()
    )


def _one_to_one(obj, name: str):
    try:
        return getattr(obj, name)
    except Exception:  # RelatedObjectDoesNotExist subclasses differ per relation
        return None


def token_expired(order: Order, *, now: datetime | None = None) -> bool:
    """A link lives until TRACKING_TOKEN_DAYS_AFTER_DELIVERY days after delivery (or closing)."""
    now = now or timezone.now()
    ended = order.delivered_at
    if ended is None and order.status in (OrderStatus.CANCELLED, OrderStatus.RETURNED_TO_SENDER):
        ended = order.status_changed_at
    if ended is None:
        return False
    return (now - ended).total_seconds() > settings.TRACKING_TOKEN_DAYS_AFTER_DELIVERY * 86400


def settings_for(order: Order) -> TrackingSettings:
    return _one_to_one(order.brand, "tracking_settings") or TrackingSettings(brand=order.brand)


def customer_zone(order: Order) -> zoneinfo.ZoneInfo:
    for name in (order.customer.time_zone, order.brand.default_time_zone):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


@dataclass
class Moment:
    iso: str
    text: str


def _moment(value: datetime | None, zone: zoneinfo.ZoneInfo) -> Moment | None:
    if value is None:
        return None
    local = timezone.localtime(value, zone)
    return Moment(iso=local.isoformat(), text=formats.date_format(local, "DATETIME_FORMAT"))


def _day(value: date | None) -> str:
    # A date-only ETA is a calendar day: formatted as such, never shifted through UTC midnight.
    return formats.date_format(value, "DATE_FORMAT") if value else ""


@dataclass
class EventView:
    id: int
    status: str
    label: str
    description: str
    place: str
    when: Moment
    exception: bool


@dataclass
class MilestoneView:
    key: str
    label: str
    state: str  # done | current | upcoming
    state_label: str
    when: Moment | None


@dataclass
class ProofView:
    signed_by: str
    photo_url: str
    signature_url: str
    check: str  # a words key, or ""
    check_text: str


@dataclass
class ShipmentView:
    tracking_id: str
    carrier: str
    carrier_name: str
    service: str
    tracking_number: str
    link: str
    status: str
    exception: bool
    eta: str
    milestones: list[MilestoneView]
    events: list[EventView]
    proof: ProofView | None
    route: str
    delivered_event_id: int | None
    title: str = ""


@dataclass
class Snapshot:
    order: Order
    language: str
    words: Words
    zone: str
    headline: str
    exception: bool
    first_name: str
    city: str
    promised: str
    revised_eta: str
    delayed: bool
    delay_notice: str
    shipments: list[ShipmentView]
    pre_shipment_milestones: list[MilestoneView]
    version: str
    banner: dict | None
    palette: dict[str, str]
    self_service_open: bool
    delivered: bool
    safe_place_choices: list[tuple[str, str]] = field(default_factory=list)
    preference: object = None
    feedback: object = None
    preferences_url: str = ""
    hello: str = ""
    safe_place_label: str = ""


def _milestones(
    reached: dict[str, datetime | None], w: Words, zone: zoneinfo.ZoneInfo, *, highest: int
) -> list[MilestoneView]:
    out = []
    for index, key in enumerate(MILESTONES):
        state = "done" if index < highest else "current" if index == highest else "upcoming"
        out.append(
            MilestoneView(
                key=key,
                label=w[f"m_{key}"],
                state=state,
                state_label=w["done" if state == "done" else state],
                when=_moment(reached.get(key), zone) if index <= highest else None,
            )
        )
    return out


def _place(event: ShipmentEvent) -> str:
    return ", ".join(p for p in (event.city, event.region, event.country) if p)


def _shipment_view(shipment: Shipment, *, confirmed_at, order: Order, w: Words, zone, token: str) -> ShipmentView:
    events = list(shipment.events.all())  # prefetched, oldest first
    first_of: dict[str, datetime] = {}
    for e in events:
        first_of.setdefault(e.status, e.occurred_at)
    reached = {
        "confirmed": confirmed_at,
        "dispatched": shipment.dispatched_at,
        "in_transit": first_of.get(ShipmentStatus.IN_TRANSIT),
        "out_for_delivery": first_of.get(ShipmentStatus.OUT_FOR_DELIVERY)
        or first_of.get(ShipmentStatus.AVAILABLE_FOR_PICKUP),
        "delivered": shipment.delivered_at or first_of.get(ShipmentStatus.DELIVERED),
    }
    status = shipment.status
    progress = shipment.last_progress_status if status in SHIPMENT_EXCEPTIONS else status
    by_status = {
        ShipmentStatus.INFO_RECEIVED: 0,
        ShipmentStatus.IN_TRANSIT: 2,
        ShipmentStatus.OUT_FOR_DELIVERY: 3,
        ShipmentStatus.AVAILABLE_FOR_PICKUP: 3,
        ShipmentStatus.DELIVERED: 4,
        ShipmentStatus.RETURNED_TO_SENDER: 2,
    }
    highest = by_status.get(progress, 2 if shipment.dispatched_at else 0)
    if highest < 1 and shipment.dispatched_at:
        highest = 1
    if highest == 4:
        highest = len(MILESTONES)  # everything done, nothing current
    views = [
        EventView(
            id=e.pk,
            status=e.status,
            label=w[f"ev_{e.status}"] if f"ev_{e.status}" in w else w["ev_unknown"],
            description=e.description or e.reason,
            place=_place(e),
            when=_moment(e.occurred_at, zone),
            exception=e.status in SHIPMENT_EXCEPTIONS,
        )
        for e in reversed(events)
    ]
    delivered_event = next((e for e in reversed(events) if e.status == ShipmentStatus.DELIVERED), None)
    proof = None
    if status == ShipmentStatus.DELIVERED:
        verification = _one_to_one(shipment, "delivery_verification")
        check = ""
        if verification is not None:
            check = {"accepted": "check_accepted", "rejected": "check_rejected"}.get(
                verification.decision, f"check_{verification.result}"
            )
        photo = shipment.pod_photo_ref or (delivered_event.photo_ref if delivered_event else "")
        signature = shipment.pod_signature_ref or (delivered_event.signature_ref if delivered_event else "")
        photo, signature = (ref if servable_ref(ref) else "" for ref in (photo, signature))
        base = f"/t/{token}/proof/{shipment.tracking_id}/"
        proof = ProofView(
            signed_by=shipment.pod_signed_by or (delivered_event.signed_by if delivered_event else ""),
            photo_url=f"{base}photo/" if photo else "",
            signature_url=f"{base}signature/" if signature else "",
            check=check,
            check_text=w[check] if check else "",
        )
        if not (proof.signed_by or proof.photo_url or proof.signature_url or proof.check):
            proof = None  # nothing to show: no empty "Proof of delivery" heading
    origin = next((e.city for e in events if e.city), "")
    return ShipmentView(
        tracking_id=shipment.tracking_id,
        carrier=shipment.carrier,
        carrier_name=CARRIER_NAMES.get(shipment.carrier, shipment.carrier.upper()),
        service=shipment.service_level,
        tracking_number=shipment.tracking_number,
        link=carrier_link(shipment.carrier, shipment.tracking_number),
        status=status,
        exception=status in SHIPMENT_EXCEPTIONS,
        eta=_day(shipment.eta) if status != ShipmentStatus.DELIVERED else "",
        milestones=_milestones(reached, w, zone, highest=highest),
        events=views,
        proof=proof,
        route=f"{origin} → {order.ship_city}" if origin else "",
        delivered_event_id=delivered_event.pk if delivered_event else None,
    )


def _banner(order: Order, now: datetime) -> dict | None:
    brand = order.brand
    if not brand.banner_text:
        return None
    if brand.banner_starts_at and now < brand.banner_starts_at:
        return None
    if brand.banner_ends_at and now >= brand.banner_ends_at:
        return None
    return {"text": brand.banner_text, "url": brand.banner_url}


def snapshot(order: Order, *, language: str, now: datetime | None = None) -> Snapshot:
    """Read the order's shipments, events and proof (three queries after `order_for_token`)."""
    now = now or timezone.now()
    zone = customer_zone(order)
    w = words(language)
    shipments = list(
        Shipment.objects.filter(order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .select_related("delivery_verification")
        .prefetch_related(Prefetch("events", queryset=ShipmentEvent.objects.order_by("occurred_at", "id")))
        .order_by("id")
    )
    confirmed_at = (
        StatusChange.objects.filter(order=order, shipment__isnull=True, to_status=OrderStatus.CONFIRMED)
        .values_list("occurred_at", flat=True)
        .first()
    )
    if confirmed_at is None and order.status not in (OrderStatus.PENDING, OrderStatus.CANCELLED):
        confirmed_at = order.placed_at
    with translation.override(language), timezone.override(zone):
        views = [
            _shipment_view(s, confirmed_at=confirmed_at, order=order, w=w, zone=zone, token=order.tracking_token)
            for s in shipments
        ]
        pre = []
        if not views:
            highest = 0 if order.status == OrderStatus.PENDING else 1
            pre = _milestones({"confirmed": confirmed_at}, w, zone, highest=highest)
            if highest == 1:
                pre[0].state, pre[0].state_label = "done", w["done"]
        promised_to = order.promised_to or order.promised_from
        open_etas = [s.eta for s in shipments if s.eta and s.status != ShipmentStatus.DELIVERED]
        revised = max(open_etas) if open_etas else None
        delivered = order.status in DELIVERED_ORDER_STATUSES
        promised = ""
        if promised_to is None and revised is not None:
            promised_to = revised  # no promise of our own: the carrier's ETA is the expectation
        if order.promised_from and order.promised_to and order.promised_from != order.promised_to:
            promised = f"{_day(order.promised_from)} – {_day(order.promised_to)}"
        elif promised_to:
            promised = _day(promised_to)
        late = bool(revised and promised_to and revised > promised_to)
        delayed = not delivered and (late or order.status == OrderStatus.DELAYED)
        delay_notice = ""
        if late and not delivered:
            delay_notice = w["delay_notice"].format(promised=_day(promised_to), revised=_day(revised))
        # A delivered order (staff may confirm one the carrier never scanned) is not an exception any more.
        exception = not delivered and (order.status in EXCEPTION_ORDER_STATUSES or any(v.exception for v in views))
        if delivered:
            for view in views:
                view.eta = ""

        latest_event = max((e.id for v in views for e in v.events), default=0)
        tracking = settings_for(order)
        prefs = _one_to_one(order.customer, "notification_preferences")
        for n, view in enumerate(views, start=1):
            view.title = w["parcel"].format(n=n, total=len(views)) if len(views) > 1 else w["milestones"]
        preference = _one_to_one(order, "delivery_preference")
        safe_place = getattr(preference, "safe_place", "")
        return Snapshot(
            order=order,
            language=language,
            words=w,
            zone=str(zone),
            headline=w[f"status_{order.status}"],
            exception=exception,
            first_name=order.customer.first_name,
            city=order.ship_city,
            promised=promised,
            revised_eta=_day(revised) if revised and revised != promised_to and not delivered else "",
            delayed=delayed,
            delay_notice=delay_notice,
            shipments=views,
            pre_shipment_milestones=pre,
            version=f"{order.status}:{latest_event}:{sum(1 for s in shipments)}",
            banner=_banner(order, now),
            palette=brand_palette(order.brand.primary_colour, order.brand.accent_colour),
            self_service_open=self_service_open(order, shipments, tracking),
            delivered=delivered,
            safe_place_choices=[(p, w[f"safe_{p}"]) for p in tracking.allowed_safe_places if p in DEFAULT_SAFE_PLACES],
            preference=preference,
            feedback=_one_to_one(order, "delivery_feedback"),
            preferences_url=f"/preferences/{prefs.token}/" if prefs else "",
            hello=w["hello"].format(name=order.customer.first_name),
            safe_place_label=w[f"safe_{safe_place}"] if safe_place else "",
        )


def self_service_open(order: Order, shipments: list[Shipment], tracking: TrackingSettings) -> bool:
    """Delivery wishes can change until a parcel is on its last leg (out for delivery or later)."""
    if not tracking.self_service_enabled or order.status not in SELF_SERVICE_ORDER_STATUSES:
        return False
    return not any(s.status in LAST_LEG for s in shipments)
