"""HTTP edges of notifications: provider receipts, inbound SMS, preferences, the outbox page, the API.

Views stay thin: they authenticate and parse, then call notifications.services / receipts.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from sendgrid import EventWebhook
from twilio.request_validator import RequestValidator

from notifications import receipts
from notifications.forms import PreferencesForm
from notifications.models import CustomerPreferences, Notification

security = logging.getLogger("oms_notify.security")
MAX_WEBHOOK_BYTES = 1_000_000


def _too_big(request: HttpRequest) -> bool:
    return int(request.META.get("CONTENT_LENGTH") or 0) > MAX_WEBHOOK_BYTES


def _twilio_valid(request: HttpRequest) -> bool:
    if not settings.TWILIO_AUTH_TOKEN:
        return False
    # Twilio signs the public URL it called: behind a proxy that is SITE_URL, not what Django sees.
    url = f"{settings.SITE_URL}{request.get_full_path()}"
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        url, request.POST, request.headers.get("X-Twilio-Signature", "")
    )


def _unauthorised(provider: str, request: HttpRequest, reason: str = "invalid_signature") -> HttpResponse:
    security.warning(
        "provider webhook rejected",
        extra={"provider": provider, "reason": reason, "remote": request.META.get("REMOTE_ADDR", "")},
    )
    detail = "The signature is too old." if reason == "stale_signature" else "The signature does not match."
    return JsonResponse({"error": reason, "detail": detail}, status=401)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if _too_big(request):
        return JsonResponse({"error": "too_large"}, status=413)
    if not _twilio_valid(request):
        return _unauthorised("twilio", request)
    outcome = receipts.receipt_twilio_status(params=request.POST.dict())
    return JsonResponse({"result": outcome})


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if _too_big(request):
        return JsonResponse({"error": "too_large"}, status=413)
    if not _twilio_valid(request):
        return _unauthorised("twilio", request)
    receipts.inbound_message(sender=request.POST.get("From", ""), body=request.POST.get("Body", ""))
    # Twilio's own Advanced Opt-Out answers STOP/START; we reply with nothing.
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', content_type="text/xml")


@csrf_exempt
@require_POST
def sendgrid_events(request: HttpRequest) -> HttpResponse:
    if _too_big(request):
        return JsonResponse({"error": "too_large"}, status=413)
    body = request.body  # the exact signed bytes, before anything parses them
    signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    key = settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY
    if not (key and signature and timestamp):
        return _unauthorised("sendgrid", request)
    try:
        hook = EventWebhook()
        valid = hook.verify_signature(body.decode("utf-8"), signature, timestamp, hook.convert_public_key_to_ecdsa(key))
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        return _unauthorised("sendgrid", request)
    max_age = settings.SENDGRID_EVENT_WEBHOOK_MAX_AGE
    if max_age and (not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age):
        return _unauthorised("sendgrid", request, "stale_signature")
    try:
        events = json.loads(body)
    except ValueError:
        return JsonResponse({"error": "invalid", "detail": "The body is not JSON."}, status=400)
    if not isinstance(events, list):
        return JsonResponse({"error": "invalid", "detail": "Expected a JSON array of events."}, status=400)
    return JsonResponse(receipts.receipt_sendgrid_events(events=events))


# --- preferences ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    prefs = get_object_or_404(CustomerPreferences.objects.select_related("customer__brand"), token=token)
    saved = False
    if request.method == "POST":
        form = PreferencesForm(request.POST, prefs=prefs)
        if form.is_valid():
            form.save()
            saved = True
    else:
        form = PreferencesForm(prefs=prefs)
    return render(
        request,
        "notifications/preferences.html",
        {"form": form, "prefs": prefs, "brand": prefs.customer.brand, "saved": saved},
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click"; a person clicking lands on the page."""
    prefs = get_object_or_404(CustomerPreferences, token=token)
    url = reverse("notifications:preferences", args=[token])
    if request.method == "GET":
        return HttpResponseRedirect(url)
    channel = request.GET.get("channel", "email")
    if channel not in ("email", "sms", "whatsapp", "push"):
        return JsonResponse({"error": "invalid", "detail": "Unknown channel."}, status=400)
    with transaction.atomic():
        setattr(prefs, f"{channel}_opted_out", True)
        prefs.save()
    return HttpResponse("You are unsubscribed.", content_type="text/plain; charset=utf-8")


# --- the local outbox -------------------------------------------------------------------------


@staff_member_required
def outbox(request: HttpRequest) -> HttpResponse:
    # What a customer (or staff) would have received: rows with content, sent or not (the status says).
    rows = Notification.objects.select_related("order").filter(provider__in=["outbox", "inapp"]).exclude(body_text="")
    number = request.GET.get("order", "").strip()
    if number:
        rows = rows.filter(order__number=number)
    page = Paginator(rows.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(request, "notifications/outbox.html", {"page": page, "order_number": number, "now": timezone.now()})
