"""Outbound requests to user-supplied URLs, guarded against server-side request forgery.

A destination (an outbound webhook endpoint, a chat webhook) is resolved once, every address it
resolves to must be public, and the connection is made to the address that was checked (the Host
header and TLS SNI keep the name), so a DNS answer that changes between check and connect cannot
redirect us to an internal service. Redirects are followed only when asked, and each hop is
checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings

MAX_RESPONSE_BYTES = 64 * 1024
_REDIRECTS = {307, 308}  # a POST that stays a POST; 301/302/303 would silently turn into a GET


class UnsafeDestination(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckedURL:
    url: str
    scheme: str
    host: str
    port: int
    ip: str
    target: str  # path and query

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class NetResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def _check_ip(text: str) -> None:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        if not settings.NETGUARD_ALLOW_LOOPBACK:
            raise UnsafeDestination("loopback_address", str(ip))
        return
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local:
        raise UnsafeDestination("private_address", str(ip))


def check_url(url: str) -> CheckedURL:
    """Resolve and vet a destination; raise UnsafeDestination with a machine-readable reason."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeDestination("scheme_not_allowed", scheme or "none")
    if scheme == "http" and not settings.NETGUARD_ALLOW_HTTP:
        raise UnsafeDestination("https_required")
    if parts.username or parts.password:
        raise UnsafeDestination("credentials_in_url")
    host = parts.hostname
    if not host:
        raise UnsafeDestination("no_host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeDestination("bad_port") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination("unresolvable", host) from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnsafeDestination("unresolvable", host)
    # Every address must pass: a name with one public and one private record is refused.
    for address in addresses:
        _check_ip(address)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CheckedURL(url=url, scheme=scheme, host=host, port=port, ip=addresses[0], target=target)


def _pool(checked: CheckedURL, timeout: tuple[float, float]) -> urllib3.HTTPConnectionPool:
    limits = urllib3.Timeout(connect=timeout[0], read=timeout[1])
    if checked.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            checked.ip,
            checked.port,
            timeout=limits,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=checked.host,
            assert_hostname=checked.host,
        )
    return urllib3.HTTPConnectionPool(checked.ip, checked.port, timeout=limits, retries=False, maxsize=1)


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: tuple[float, float],
    max_redirects: int = 0,
) -> NetResponse:
    """POST to a vetted destination, connecting to the checked address. Network errors propagate
    as urllib3 exceptions (transient for the caller); unsafe destinations as UnsafeDestination."""
    current = url
    for hop in range(max_redirects + 1):
        checked = check_url(current)
        pool = _pool(checked, timeout)
        try:
            response = pool.urlopen(
                "POST",
                checked.target,
                body=body,
                headers={**headers, "Host": checked.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                data = response.read(MAX_RESPONSE_BYTES)
            finally:
                response.release_conn()
        finally:
            pool.close()
        location = response.headers.get("Location")
        if response.status in _REDIRECTS and location and hop < max_redirects:
            current = urljoin(current, location)
            continue
        return NetResponse(status=response.status, headers=dict(response.headers), body=data)
    raise UnsafeDestination("too_many_redirects")  # unreachable: the last hop returns above
