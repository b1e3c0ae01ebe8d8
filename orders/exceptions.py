from __future__ import annotations


class OrderConflict(Exception):
    """A repeat of an intake (same source, account and external id) with different content."""

    def __init__(self, order) -> None:
        super().__init__(f"order {order.number} already exists with different content")
        self.order = order


class TransitionRefused(Exception):
    """The move is not allowed now: wrong status, a failed condition, or unknown."""

    def __init__(self, transition: str, reason: str) -> None:
        super().__init__(f"{transition}: {reason}")
        self.transition = transition
        self.reason = reason
