"""The adapter registry: carrier name (the URL segment) -> adapter instance."""

from __future__ import annotations

from carriers.adapters.aftership import AfterShipAdapter
from carriers.adapters.base import Adapter, ParseError, VerificationError
from carriers.adapters.easypost import EasyPostAdapter
from carriers.adapters.fedex import FedExAdapter
from carriers.adapters.generic import GenericAdapter
from carriers.adapters.shippo import ShippoAdapter
from carriers.adapters.ups import UPSAdapter

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        EasyPostAdapter(),
        ShippoAdapter(),
        AfterShipAdapter(),
        UPSAdapter(),
        FedExAdapter(),
        GenericAdapter(),
    )
}


def get_adapter(name: str) -> Adapter | None:
    return ADAPTERS.get(name)


__all__ = ["ADAPTERS", "Adapter", "ParseError", "VerificationError", "get_adapter"]
