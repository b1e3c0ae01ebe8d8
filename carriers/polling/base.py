"""The polling client interface: fetch the current tracking document of one shipment."""

from __future__ import annotations

from dataclasses import dataclass

from carriers.models import TrackerPoll


class PollError(Exception):
    """A failed poll. `permanent` stops polling this shipment (e.g. the tracker does not exist)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class PollResult:
    body: bytes  # parsed by the adapter named below, exactly like a webhook body
    adapter: str
    external_id: str = ""


class PollClient:
    name: str = ""

    @property
    def configured(self) -> bool:
        """False when credentials are missing: reconciliation counts its shipments as not checkable."""
        return True

    def fetch(self, poll: TrackerPoll) -> PollResult:  # pragma: no cover - abstract
        raise NotImplementedError
