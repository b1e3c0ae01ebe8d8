"""TrackingEvent: the one shape every carrier adapter and poller produces."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from orders.statuses import EVENT_STATUSES


@dataclass(frozen=True)
class TrackingEvent:
    carrier: str
    tracking_number: str
    status: str  # one of orders.statuses.EVENT_STATUSES
    occurred_at: datetime  # time-zone aware
    carrier_code: str = ""
    reason: str = ""
    description: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    estimated_delivery: date | None = None
    signed_by: str = ""
    signature_ref: str = ""
    photo_ref: str = ""
    event_id: str = ""  # the vendor's own id, when it has one
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.status not in EVENT_STATUSES:
            raise ValueError(f"unknown canonical status {self.status!r}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be time-zone aware")

    @property
    def dedupe_key(self) -> str:
        """The vendor's event id where one exists, otherwise a hash of the normalised event."""
        if self.event_id:
            return f"id:{self.event_id}"[:128]
        core = asdict(self)
        core.pop("extra")
        core.pop("event_id")
        core["occurred_at"] = self.occurred_at.astimezone(UTC).isoformat()
        digest = hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()
        return f"h:{digest}"
