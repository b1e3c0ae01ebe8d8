"""The adapter registry: source name (the URL segment) -> adapter instance."""

from __future__ import annotations

from orders.sources.base import Adapter
from orders.sources.generic import GenericAdapter
from orders.sources.shopify import ShopifyAdapter
from orders.sources.woocommerce import WooCommerceAdapter

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (ShopifyAdapter(), WooCommerceAdapter(), GenericAdapter())}


def get_adapter(name: str) -> Adapter | None:
    return ADAPTERS.get(name)
