"""Request latency for every response, and webhook refusals (a refused request stores no row)."""

from __future__ import annotations

import contextlib
import time

from django.conf import settings

from operations.metrics import REQUEST_LATENCY, WEBHOOKS_REJECTED

# URL namespaces of the inbound webhook views, and the kind of sender each serves.
_WEBHOOK_NAMESPACES = {"carriers": "carrier", "sources": "source"}
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        with contextlib.suppress(Exception):  # a metric must never cost a client its response
            self._observe(request, response.status_code, elapsed)
        return response

    @staticmethod
    def _observe(request, status: int, elapsed: float) -> None:
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(method, route, f"{status // 100}xx").observe(elapsed)
        if match is None or not 400 <= status < 500:
            return
        kind = _WEBHOOK_NAMESPACES.get(match.namespace)
        if kind is None or match.url_name == "health":
            return
        if kind == "carrier":
            # The slug comes from the URL: anything not configured is one label, not a new series.
            name = match.kwargs.get("carrier", "")
            name = name if name in settings.CARRIER_NAMES else "unknown"
        else:
            name = match.url_name or "unknown"
        WEBHOOKS_REJECTED.labels(kind, name, str(status)).inc()
