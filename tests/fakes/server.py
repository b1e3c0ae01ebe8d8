"""A loopback HTTP server in a thread, for standing in for a provider's API in tests and benchmarks.

Subclasses implement `respond(request)`; the base records every request and can be told to fail
the next calls (status + headers + body), to answer slowly (timeouts), or to take a fixed time.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self):
        return json.loads(self.body or b"null")

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def field(self, name: str) -> str:
        values = self.form.get(name) or [""]
        return values[0]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload, headers: dict | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a burst of new connections (a worker's greenlets all
    # connecting at once) would be refused by the fake where a provider's servers accept them.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout test) breaks the pipe under the answer: not the fake's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._failures: list[Reply | float] = []
        self.latency = 0.0  # seconds every answer takes (benchmarks: a provider answering in 50 ms)
        self.on_request = None  # callback(Recorded), e.g. to time arrivals
        self._lock = threading.Lock()
        self._random_failures: tuple[float, float, float, random.Random] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query), headers, body)
                reply = fake._handle(recorded)
                if reply is None:  # a timeout: answer nothing until the client has given up
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- failure knobs --------------------------------------------------------------------
    def fail_next(self, status: int = 500, *, times: int = 1, headers: dict | None = None, payload=None) -> None:
        for _ in range(times):
            body = payload if payload is not None else {"error": "fake failure"}
            self._failures.append(Reply.json(status, body, headers))

    def hang_next(self, seconds: float, *, times: int = 1) -> None:
        """The next calls get no answer for `seconds` (longer than the client's read timeout)."""
        self._failures.extend([seconds] * times)

    def fail_randomly(
        self, *, error_rate: float, timeout_rate: float = 0.0, hang_seconds: float = 2.0, seed: int | None = None
    ) -> None:
        """From now on a share of calls gets a 500 and another share no answer (the chaos harness).

        `hang_seconds` must exceed the client's read timeout; error_rate=0 and timeout_rate=0 turn it off.
        """
        on = error_rate > 0 or timeout_rate > 0
        self._random_failures = (error_rate, timeout_rate, hang_seconds, random.Random(seed)) if on else None

    def _random_failure(self) -> Reply | float | None:
        if self._random_failures is None:
            return None
        error_rate, timeout_rate, hang_seconds, rng = self._random_failures
        roll = rng.random()
        if roll < error_rate:
            return Reply.json(500, {"error": "fake random failure"})
        if roll < error_rate + timeout_rate:
            return hang_seconds
        return None

    def _handle(self, recorded: Recorded) -> Reply | None:
        with self._lock:
            self.requests.append(recorded)
            failure = self._failures.pop(0) if self._failures else self._random_failure()
        if self.on_request is not None:
            self.on_request(recorded)
        if isinstance(failure, float | int):
            time.sleep(failure)
            return None
        if self.latency:
            time.sleep(self.latency)
        if failure is not None:
            return failure
        return self.respond(recorded)

    def respond(self, request: Recorded) -> Reply:  # pragma: no cover - interface
        raise NotImplementedError
