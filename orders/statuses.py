"""The two vocabularies: order statuses and shipment (carrier) statuses, and how they relate."""

from __future__ import annotations

from django.db import models


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    PROCESSING = "processing", "Processing"
    ON_HOLD = "on_hold", "On hold"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    DISPATCHED = "dispatched", "Dispatched"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELAYED = "delayed", "Delayed"
    DELIVERY_FAILED = "delivery_failed", "Delivery attempt failed"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"


class ShipmentStatus(models.TextChoices):
    """The canonical carrier vocabulary (minus `unknown`, which never moves a shipment)."""

    INFO_RECEIVED = "info_received", "Info received"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
    ATTEMPT_FAILED = "attempt_failed", "Delivery attempt failed"
    DELAYED = "delayed", "Delayed"
    EXCEPTION = "exception", "Exception"
    DELIVERED = "delivered", "Delivered"
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"
    CANCELLED = "cancelled", "Cancelled"


UNKNOWN_EVENT_STATUS = "unknown"
EVENT_STATUSES = [*ShipmentStatus.values, UNKNOWN_EVENT_STATUS]

OS = OrderStatus
SS = ShipmentStatus

# Our rules govern before dispatch.
PRE_DISPATCH = [OS.PENDING, OS.CONFIRMED, OS.PROCESSING]
HOLDABLE = PRE_DISPATCH
# After dispatch the order follows what carriers report about its shipments.
POST_DISPATCH = [
    OS.PARTIALLY_SHIPPED,
    OS.DISPATCHED,
    OS.IN_TRANSIT,
    OS.OUT_FOR_DELIVERY,
    OS.DELAYED,
    OS.DELIVERY_FAILED,
    OS.DELIVERED,
    OS.RETURNED_TO_SENDER,
]
EXCEPTION_ORDER_STATUSES = [OS.ON_HOLD, OS.DELAYED, OS.DELIVERY_FAILED, OS.CANCELLED, OS.RETURNED_TO_SENDER]
FINAL_ORDER_STATUSES = [OS.COMPLETED, OS.CANCELLED]

# A parcel the carrier still has.
IN_FLIGHT = [
    SS.INFO_RECEIVED,
    SS.IN_TRANSIT,
    SS.OUT_FOR_DELIVERY,
    SS.AVAILABLE_FOR_PICKUP,
    SS.ATTEMPT_FAILED,
    SS.DELAYED,
    SS.EXCEPTION,
]
# Statuses that say "something is wrong"; the shipment remembers its last place to return to.
SHIPMENT_EXCEPTIONS = [SS.ATTEMPT_FAILED, SS.DELAYED, SS.EXCEPTION]
FINAL_SHIPMENT_STATUSES = [SS.DELIVERED, SS.RETURNED_TO_SENDER, SS.CANCELLED]


def order_status_for_shipments(statuses: list[str], *, all_lines_shipped: bool) -> str:
    """The order status that a set of handed-over shipments implies.

    Exceptions win over progress so that nobody misses them; the first parcel's progress never
    hides lines that have not shipped yet.
    """
    if not statuses:
        return OS.DISPATCHED
    if not all_lines_shipped:
        return OS.PARTIALLY_SHIPPED
    present = set(statuses)
    if present == {SS.DELIVERED}:
        return OS.DELIVERED
    if present <= {SS.DELIVERED, SS.RETURNED_TO_SENDER}:
        return OS.RETURNED_TO_SENDER
    if SS.ATTEMPT_FAILED in present:
        return OS.DELIVERY_FAILED
    if present & {SS.DELAYED, SS.EXCEPTION}:
        return OS.DELAYED
    if present & {SS.OUT_FOR_DELIVERY, SS.AVAILABLE_FOR_PICKUP}:
        return OS.OUT_FOR_DELIVERY
    if present & {SS.IN_TRANSIT, SS.DELIVERED, SS.RETURNED_TO_SENDER}:
        return OS.IN_TRANSIT
    return OS.DISPATCHED
