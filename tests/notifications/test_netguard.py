"""The SSRF guard: only public destinations, connected to the address that was checked."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import netguard
from notifications.netguard import UnsafeDestination

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: names map to the addresses a test chooses, as an attacker's DNS would."""
    records: dict[str, list[str]] = {}

    def resolve(host, port, *args, **kwargs):
        if host in records:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in records[host]
            ]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(netguard.socket, "getaddrinfo", resolve)
    return records


@pytest.fixture
def strict(settings):
    settings.NETGUARD_ALLOW_HTTP = False
    settings.NETGUARD_ALLOW_LOOPBACK = False


@pytest.fixture
def receiver():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers["Host"], body))
            if self.path == "/hop":
                self.send_response(307)
                self.send_header("Location", "http://10.0.0.7/internal")
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "https_required"),
        ("https://127.0.0.1/x", "loopback_address"),
        ("https://[::1]/x", "loopback_address"),
        ("https://10.1.2.3/x", "private_address"),
        ("https://192.168.0.10/x", "private_address"),
        ("https://169.254.169.254/latest/meta-data/", "private_address"),
        ("https://0.0.0.0/x", "private_address"),
        ("https://[::ffff:10.0.0.1]/x", "private_address"),
        ("https://user:pw@hooks.example.com/x", "credentials_in_url"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://hooks.example.com/", "scheme_not_allowed"),
    ],
)
def test_it_refuses_destinations_that_are_not_public_https(strict, url, reason):
    with pytest.raises(UnsafeDestination) as refused:
        netguard.check_url(url)
    assert refused.value.reason == reason


def test_a_public_name_that_resolves_to_a_private_address_is_refused(strict, dns):
    dns["hooks.example.com"] = ["93.184.216.34", "10.0.0.5"]
    with pytest.raises(UnsafeDestination) as refused:
        netguard.check_url("https://hooks.example.com/x")
    assert refused.value.reason == "private_address"


def test_a_public_name_with_public_addresses_passes(strict, dns):
    dns["hooks.example.com"] = ["93.184.216.34"]
    checked = netguard.check_url("https://hooks.example.com:8443/in?x=1")
    assert (checked.ip, checked.port, checked.target, checked.host_header) == (
        "93.184.216.34",
        8443,
        "/in?x=1",
        "hooks.example.com:8443",
    )


def test_it_connects_to_the_checked_address_and_keeps_the_name_in_the_host_header(dns, receiver):
    port, seen = receiver
    dns["receiver.example"] = ["127.0.0.1"]
    response = netguard.post(
        f"http://receiver.example:{port}/in",
        body=b'{"a":1}',
        headers={"Content-Type": "application/json"},
        timeout=(2, 2),
    )
    assert response.status == 204
    assert seen == [("/in", f"receiver.example:{port}", b'{"a":1}')]


def test_a_redirect_to_a_private_address_is_refused(receiver):
    port, seen = receiver
    with pytest.raises(UnsafeDestination) as refused:
        netguard.post(f"http://127.0.0.1:{port}/hop", body=b"{}", headers={}, timeout=(2, 2), max_redirects=2)
    assert refused.value.reason == "private_address"
    assert len(seen) == 1


def test_redirects_are_not_followed_unless_asked(receiver):
    port, _ = receiver
    response = netguard.post(f"http://127.0.0.1:{port}/hop", body=b"{}", headers={}, timeout=(2, 2))
    assert response.status == 307
