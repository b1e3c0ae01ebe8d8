"""Who may read /metrics: a bearer token, or a client inside an allowed network."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def metrics_access(*, authorization: str, remote_addr: str) -> tuple[int, str]:
    """(0, "") when allowed, else (status, reason): 401 for a missing/wrong token, 403 for a network."""
    token = settings.METRICS_TOKEN
    scheme, _, presented = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return 0, ""
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        address = None
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wrote.
    if address is not None and any(address in net for net in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))):
        return 0, ""
    if authorization:
        return 401, "invalid_token"
    if token:
        return 401, "token_required"
    return 403, "network_not_allowed"
