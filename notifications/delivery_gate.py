"""The proof-of-delivery gate: the customer's delivery confirmation waits for the carrier check's verdict.

`carriers.pod` publishes "shipment.delivery_verified" in the transaction of the delivered scan
(and again when staff decide). Verified: the confirmation goes, carrying the proof. Unverified:
per brand, it goes with "we are checking" wording or waits for staff; staff hear about it either way.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from notifications.models import Audience, Event, Notification
from notifications.rendering import brand_settings
from notifications.services import enqueue_on_commit, notifications_create
from orders.models import Order, Shipment

S = Notification.Status


def delivery_verdict_apply(*, order: Order, shipment: Shipment | None, payload: dict, domain_event=None) -> int:
    """A proof-of-delivery verdict (or a staff decision) releases, rewords or holds the confirmation."""
    held = Notification.objects.select_for_update().filter(
        order=order, event=Event.DELIVERED, audience=Audience.CUSTOMER, status=S.HELD
    )
    if shipment is not None:
        held = held.filter(Q(shipment=shipment) | Q(shipment__isnull=True))
    rows = list(held)
    if not rows:
        return 0
    verified = bool(payload.get("verified"))
    decision = payload.get("staff_decision", "")
    proof = _proof_of(shipment)
    release: list[int] = []
    for row in rows:
        row.proof = {**proof, "verified": verified, "failed_checks": list(payload.get("failed_checks") or [])}
        if verified:
            row.status, row.status_reason, row.variant = S.PENDING, "pod_verified", ""
            release.append(row.pk)
        elif decision:  # staff rejected the delivery: the customer is not told it arrived
            row.status, row.status_reason = S.SUPPRESSED, "pod_rejected"
        elif brand_settings(order.brand).unverified_delivery == "hold":
            row.status_reason = "pod_unverified"
        else:
            row.status, row.status_reason, row.variant = S.PENDING, "pod_unverified", "checking"
            release.append(row.pk)
        row.due_at = None
        row.save(update_fields=["proof", "status", "status_reason", "variant", "due_at", "updated_at"])
    if not verified and not decision:
        notifications_create(
            order=order,
            event=Event.DELIVERY_UNVERIFIED,
            key_source=f"pod{shipment.pk if shipment else order.pk}",
            shipment=shipment,
            domain_event=domain_event,
            audiences=(Audience.STAFF,),
            data={"reason": ", ".join(payload.get("failed_checks") or []) or "no verdict"},
        )
    enqueue_on_commit(release)
    return len(rows)


def _proof_of(shipment: Shipment | None) -> dict:
    if shipment is None:
        return {}
    shipment = Shipment.objects.get(pk=shipment.pk)  # the caller's copy may predate the delivered scan
    return {
        "shipment": shipment.tracking_id,
        "signed_by": shipment.pod_signed_by,
        "signature_ref": shipment.pod_signature_ref,
        "photo_ref": shipment.pod_photo_ref,
        "delivered_at": shipment.delivered_at.isoformat() if shipment.delivered_at else "",
    }


def delivery_wait_end(*, notification_id: int, now: datetime) -> bool:
    """A delivery confirmation still waiting for its verdict after the wait: the unverified policy applies."""
    held = Notification.objects.filter(
        pk=notification_id, status=S.HELD, status_reason="awaiting_pod", due_at__lte=now
    ).first()
    if held is None:
        return False
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=held.order_id)
        shipment = Shipment.objects.filter(pk=held.shipment_id).first() if held.shipment_id else None
        return bool(
            delivery_verdict_apply(
                order=order, shipment=shipment, payload={"verified": False, "failed_checks": ["no_verdict"]}
            )
        )
