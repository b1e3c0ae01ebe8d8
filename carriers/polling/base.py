"""The polling client interface: fetch the current tracking document of one shipment."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

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
    """An HTTP client of one carrier API: key and base URL from the settings named below."""

    name: str = ""
    api_key_setting: str = ""
    base_url_setting: str = ""

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, timeout: float = 10.0) -> None:
        self.api_key = getattr(settings, self.api_key_setting) if api_key is None else api_key
        self.base_url = (base_url or getattr(settings, self.base_url_setting)).rstrip("/")
        self.timeout = timeout

    @property
    def configured(self) -> bool:
        """False when credentials are missing: reconciliation counts its shipments as not checkable."""
        return bool(self.api_key)

    def require_key(self) -> None:
        if not self.api_key:
            raise PollError(f"{self.api_key_setting} is not set")

    def fetch(self, poll: TrackerPoll) -> PollResult:  # pragma: no cover - abstract
        raise NotImplementedError
