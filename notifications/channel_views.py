"""Receipt webhooks of the issue-6 providers: verify first, store, then apply (notifications.provider_receipts).

A forged or stale request gets 401 (bad or missing signature) or 403 (stale, replayed, wrong verify
token) and changes nothing; every rejection is logged to the security log.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from notifications import provider_receipts
from notifications.views import _too_big

security = logging.getLogger("oms_notify.security")


def _refused(provider: str, request: HttpRequest, why: str) -> HttpResponse:
    security.warning(
        "provider webhook rejected",
        extra={"provider": provider, "reason": why, "remote": request.META.get("REMOTE_ADDR", "")},
    )
    status = 401 if why in ("missing", "invalid") else 403
    return JsonResponse({"error": f"{why}_signature" if status == 401 else why}, status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        # The subscription handshake: echo hub.challenge when the verify token is ours.
        token = request.GET.get("hub.verify_token", "")
        ok = settings.WHATSAPP_VERIFY_TOKEN and constant_time_compare(token, settings.WHATSAPP_VERIFY_TOKEN)
        if request.GET.get("hub.mode") != "subscribe" or not ok:
            return _refused("whatsapp_cloud", request, "verify_token")
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    if _too_big(request):
        return JsonResponse({"error": "too_large"}, status=413)
    body = request.body  # the exact signed bytes
    if not provider_receipts.whatsapp_signature_valid(body, request.headers.get("X-Hub-Signature-256", "")):
        return _refused("whatsapp_cloud", request, "invalid")
    try:
        payload = json.loads(body)
    except ValueError:
        return JsonResponse({"error": "invalid", "detail": "The body is not JSON."}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "invalid", "detail": "Expected a JSON object."}, status=400)
    return JsonResponse(provider_receipts.receipt_whatsapp(payload=payload))


@csrf_exempt
@require_POST
def mailgun_events(request: HttpRequest) -> HttpResponse:
    if _too_big(request):
        return JsonResponse({"error": "too_large"}, status=413)
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("signature"), dict):
        return _refused("mailgun", request, "missing")
    why = provider_receipts.mailgun_signature_check(payload["signature"])
    if why:
        return _refused("mailgun", request, why)
    event = payload.get("event-data")
    if not isinstance(event, dict):
        return JsonResponse({"error": "invalid", "detail": "No event-data."}, status=400)
    return JsonResponse({"result": provider_receipts.receipt_mailgun(event=event)})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def messagebird_status(request: HttpRequest) -> HttpResponse:
    if _too_big(request):
        return JsonResponse({"error": "too_large"}, status=413)
    # MessageBird signs the public URL it called (behind a proxy: SITE_URL, not what Django sees).
    url = f"{settings.SITE_URL}{request.get_full_path()}"
    why = provider_receipts.messagebird_signature_check(
        request.headers.get("MessageBird-Signature-JWT", ""), url, request.body
    )
    if why:
        return _refused("messagebird", request, why)
    params = request.GET.dict() if request.method == "GET" else {**request.GET.dict(), **request.POST.dict()}
    return JsonResponse({"result": provider_receipts.receipt_messagebird(params=params)})
