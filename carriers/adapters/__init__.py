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


# What reading a vendor dict of the wrong shape raises ("a list where an object was", "a number
# where text was"); found by tests/fuzz. The body is stored already: it must become a dead letter
# with its reason, never a 500 that leaves the row unprocessed and makes the carrier retry forever.
_WRONG_SHAPE = (AttributeError, TypeError, KeyError, IndexError, ValueError, ArithmeticError, RecursionError)


def parse_payload(adapter: Adapter, body: bytes):
    """adapter.parse(body), with any wrong-shape error turned into the ParseError it stands for."""
    try:
        return adapter.parse(body)
    except ParseError:
        raise
    except _WRONG_SHAPE as exc:
        raise ParseError(f"unexpected payload shape: {type(exc).__name__}: {exc}"[:500]) from exc


__all__ = ["ADAPTERS", "Adapter", "ParseError", "VerificationError", "get_adapter", "parse_payload"]
