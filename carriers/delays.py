"""Stalled and late shipments: delays the carrier never reported.

`stalled`: a handed-over parcel with no carrier scan for CARRIER_STALLED_AFTER_HOURS.
`late`: the carrier's ETA (or today, once the promise has passed) is after the order's promised
window. Each silence and each ETA is flagged once (DelayFlag), so a parcel that keeps moving while
late does not re-notify on every scan; a flag we set clears when its cause is gone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from carriers.models import DelayFlag
from orders import services as order_services
from orders.models import Shipment
from orders.statuses import ShipmentStatus as SS

logger = logging.getLogger(__name__)

STALLED, LATE = "stalled", "late"
WATCHED = [SS.INFO_RECEIVED, SS.IN_TRANSIT, SS.OUT_FOR_DELIVERY]


def _late_basis(shipment: Shipment, today: date) -> str | None:
    promised = shipment.order.promised_to
    if promised is None:
        return None
    if shipment.eta and shipment.eta > promised:
        return f"eta:{shipment.eta.isoformat()}"
    if today > promised and (shipment.eta is None or shipment.eta < today):
        return f"passed:{promised.isoformat()}"
    return None


def _flag(shipment: Shipment, kind: str, basis: str, reason: str) -> bool:
    try:
        with transaction.atomic():
            DelayFlag.objects.create(shipment=shipment, kind=kind, basis=basis)
    except IntegrityError:
        return False  # this silence / this ETA was flagged already
    return order_services.shipment_mark_delayed(shipment=shipment, reason=reason)


def shipments_check_delays(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    cutoff = now - timedelta(hours=settings.CARRIER_STALLED_AFTER_HOURS)
    counts = {"stalled": 0, "late": 0, "cleared": 0}

    watched = Shipment.objects.filter(status__in=WATCHED, dispatched_at__isnull=False).select_related("order")
    stalled = watched.filter(Q(last_event_at__lte=cutoff) | Q(last_event_at__isnull=True, dispatched_at__lte=cutoff))
    for shipment in stalled.iterator():
        last = shipment.last_event_at or shipment.dispatched_at
        hours = settings.CARRIER_STALLED_AFTER_HOURS
        if _flag(shipment, STALLED, last.isoformat(), f"stalled: no carrier scan for {hours} h"):
            counts["stalled"] += 1

    for shipment in watched.filter(order__promised_to__isnull=False).iterator():
        basis = _late_basis(shipment, today)
        if basis and _flag(shipment, LATE, basis, f"late: expected after the promised {shipment.order.promised_to}"):
            counts["late"] += 1

    # Clear the delays we set whose cause is gone (a carrier scan usually clears them itself).
    ours = Shipment.objects.filter(status=SS.DELAYED).filter(
        Q(status_reason__startswith=STALLED) | Q(status_reason__startswith=LATE)
    )
    for shipment in ours.select_related("order").iterator():
        if shipment.status_reason.startswith(STALLED):
            cleared = shipment.last_event_at is not None and shipment.last_event_at > cutoff
        else:
            cleared = _late_basis(shipment, today) is None
        if cleared and order_services.shipment_clear_delay(shipment=shipment, reason="carrier moving again"):
            DelayFlag.objects.filter(shipment=shipment, cleared_at__isnull=True).update(cleared_at=now)
            counts["cleared"] += 1
    if any(counts.values()):
        logger.info("delay check", extra=counts)
    return counts
