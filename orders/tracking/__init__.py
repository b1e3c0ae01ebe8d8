"""Tracking: the one event shape carriers report in (`TrackingEvent`) and the customer's tracking page."""

from orders.tracking.event import TrackingEvent

__all__ = ["TrackingEvent"]
