"""Probes and the Prometheus scrape. No session, no CSRF, no DRF: a probe must stay cheap."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from operations.access import metrics_access
from operations.checks import OK, readiness_check
from operations.metrics import exposition

_DETAILS = {
    "invalid_token": "The bearer token is not the one in METRICS_TOKEN.",
    "token_required": "Send Authorization: Bearer <METRICS_TOKEN>.",
    "network_not_allowed": "This address is not in METRICS_ALLOWED_NETWORKS and no METRICS_TOKEN is set.",
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is touched (a database outage must not restart the web)."""
    return JsonResponse({"status": OK})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    summary = readiness_check()
    return JsonResponse(summary, status=200 if summary["status"] == OK else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    status, reason = metrics_access(
        authorization=request.headers.get("Authorization", ""), remote_addr=request.META.get("REMOTE_ADDR", "")
    )
    if status:
        response = JsonResponse({"error": reason, "detail": _DETAILS[reason], "fields": {}}, status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
