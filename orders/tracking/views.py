"""The customer's tracking page, its JSON endpoint, proof images, self-service, feedback and lookup.

Thin: resolve the token, choose the language, call selectors/services, render. Every response
carries no-store and a same-origin referrer policy: the token is the key and must not leak to carriers' sites.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders.models import Order, Shipment
from orders.tracking import selectors, services
from orders.tracking.forms import FeedbackForm, InstructionsForm, LookupForm, RescheduleForm
from orders.tracking.i18n import LANGUAGES, choose_language, words
from orders.tracking.models import TrackingVisit


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    # same-origin: our own forms keep Origin/Referer for the CSRF check; carriers and banners get nothing.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _language(request: HttpRequest, order: Order | None) -> str:
    customer_locale = order.customer.locale if order else ""
    # Intake copies the brand's default into a customer who named no language: that copy is not a
    # preference, so the browser still gets its say.
    if order and customer_locale == order.brand.default_locale:
        customer_locale = ""
    return choose_language(
        url_param=request.GET.get("lang"),
        customer_locale=customer_locale,
        accept_language=request.headers.get("Accept-Language", ""),
        brand_default=order.brand.default_locale if order else "",
    )


def _lang_query(request: HttpRequest) -> str:
    lang = request.GET.get("lang", "")
    return "?" + urlencode({"lang": lang}) if lang in LANGUAGES else ""


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "")


def _order_or_page(request: HttpRequest, token: str) -> tuple[Order | None, HttpResponse | None]:
    order = selectors.order_for_token(token)
    if order is None:
        w = words(_language(request, None))
        return None, _private(
            render(request, "tracking/message.html", {"w": w, "message": w["lookup_failed"]}, status=404)
        )
    if selectors.token_expired(order):
        lang = _language(request, order)
        w = words(lang)
        context = {"w": w, "message": w["expired"], "brand": order.brand, "lang": lang}
        context["palette"] = selectors.brand_palette(order.brand.primary_colour, order.brand.accent_colour)
        return None, _private(render(request, "tracking/message.html", context, status=410))
    return order, None


def _page_context(request: HttpRequest, order: Order, lang: str, **extra) -> dict:
    snap = selectors.snapshot(order, language=lang)
    w = snap.words
    tracking = selectors.settings_for(order)
    zone = selectors.customer_zone(order)
    with translation.override(lang):
        days = services.reschedule_options(tracking=tracking, today=timezone.localtime(timezone.now(), zone).date())
        preference = snap.preference
        instructions_form = extra.pop("instructions_form", None) or InstructionsForm(
            words=w,
            places=snap.safe_place_choices,
            initial={
                "safe_place": getattr(preference, "safe_place", ""),
                "instructions": getattr(preference, "instructions", ""),
            },
        )
        reschedule_form = extra.pop("reschedule_form", None) or RescheduleForm(
            words=w, days=days, windows=tracking.allowed_windows
        )
    feedback = snap.feedback
    return {
        "s": snap,
        "w": w,
        "brand": order.brand,
        "palette": snap.palette,
        "lang": lang,
        "lang_query": _lang_query(request),
        "languages": LANGUAGES,
        "token": order.tracking_token,
        "poll_seconds": settings.TRACKING_POLL_SECONDS,
        "instructions_form": instructions_form,
        "reschedule_form": reschedule_form,
        "feedback_open": services.feedback_open(order=order, feedback=feedback),
        "saved": request.GET.get("saved") == "1",
        **extra,
    }


@require_GET
def tracking_page(request: HttpRequest, token: str) -> HttpResponse:
    order, refusal = _order_or_page(request, token)
    if refusal:
        return refusal
    lang = _language(request, order)
    via = TrackingVisit.Via.LOOKUP if request.GET.get("via") == "lookup" else TrackingVisit.Via.LINK
    context = _page_context(request, order, lang)
    services.tracking_visit_record(order=order, exception=context["s"].exception, via=via, language=lang)
    with translation.override(lang), timezone.override(selectors.customer_zone(order)):
        return _private(render(request, "tracking/page.html", context))


@require_GET
def tracking_json(request: HttpRequest, token: str) -> HttpResponse:
    """Small and cheap: polled by the page; not counted as a visit."""
    order, refusal = _order_or_page(request, token)
    if refusal:
        return _private(JsonResponse({"error": "not_found"}, status=refusal.status_code))
    snap = selectors.snapshot(order, language=_language(request, order))
    data = {
        "version": snap.version,
        "status": order.status,
        "headline": snap.headline,
        "exception": snap.exception,
        "delay_notice": snap.delay_notice,
        "shipments": [
            {
                "id": s.tracking_id,
                "status": s.status,
                "events": [
                    {
                        "id": e.id,
                        "status": e.status,
                        "label": e.label,
                        "description": e.description,
                        "place": e.place,
                        "at": e.when.iso,
                        "when": e.when.text,
                        "exception": e.exception,
                    }
                    for e in s.events
                ],
            }
            for s in snap.shipments
        ],
    }
    return _private(JsonResponse(data))


@require_GET
def proof_file(request: HttpRequest, token: str, tracking_id: str, kind: str) -> HttpResponse:
    order, refusal = _order_or_page(request, token)
    if refusal:
        raise Http404
    shipment = (
        Shipment.objects.filter(order=order, tracking_id=tracking_id, status="delivered")
        .prefetch_related("events")
        .first()
    )
    if shipment is None or kind not in ("photo", "signature"):
        raise Http404
    ref = getattr(shipment, f"pod_{kind}_ref") or next(
        (getattr(e, f"{kind}_ref") for e in reversed(list(shipment.events.all())) if getattr(e, f"{kind}_ref")), ""
    )
    if ref.startswith("https://"):
        return _private(HttpResponseRedirect(ref))  # the carrier hosts it; same-origin policy keeps the token private
    # Only files the carrier adapters stored; never a path the data could point elsewhere with.
    if not selectors.servable_ref(ref) or not default_storage.exists(ref):
        raise Http404
    content_type = mimetypes.guess_type(ref)[0] or "application/octet-stream"
    if not content_type.startswith("image/"):
        raise Http404
    response = FileResponse(default_storage.open(ref, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return _private(response)


@require_POST
def delivery_change(request: HttpRequest, token: str) -> HttpResponse:
    order, refusal = _order_or_page(request, token)
    if refusal:
        return refusal
    lang = _language(request, order)
    w = words(lang)
    tracking = selectors.settings_for(order)
    zone = selectors.customer_zone(order)
    today = timezone.localtime(timezone.now(), zone).date()
    kind = request.POST.get("kind")
    extra: dict = {}
    try:
        if kind == "instructions":
            form = InstructionsForm(
                request.POST,
                words=w,
                places=[(p, w[f"safe_{p}"]) for p in tracking.allowed_safe_places],
            )
            extra["instructions_form"] = form
            if form.is_valid():
                services.delivery_instructions_set(
                    order=order,
                    safe_place=form.cleaned_data["safe_place"],
                    instructions=form.cleaned_data["instructions"],
                    client_ip=_client_ip(request),
                )
                return _back(request, order, "delivery")
        elif kind == "reschedule":
            days = services.reschedule_options(tracking=tracking, today=today)
            form = RescheduleForm(request.POST, words=w, days=days, windows=tracking.allowed_windows)
            extra["reschedule_form"] = form
            if form.is_valid():
                services.delivery_reschedule(
                    order=order,
                    day=form.cleaned_data["day"],
                    window=form.cleaned_data["window"],
                    today=today,
                    client_ip=_client_ip(request),
                )
                return _back(request, order, "delivery")
        else:
            return _private(HttpResponse(status=400))
    except services.SelfServiceClosed:
        extra["self_service_error"] = w["self_service_closed"]
    except ValidationError:
        extra["self_service_error"] = w["invalid"]
    context = _page_context(request, order, lang, **extra)
    with translation.override(lang), timezone.override(zone):
        return _private(render(request, "tracking/page.html", context, status=400))


def _back(request: HttpRequest, order: Order, anchor: str) -> HttpResponse:
    query = {"saved": "1"}
    if request.GET.get("lang") in LANGUAGES:
        query["lang"] = request.GET["lang"]
    return _private(HttpResponseRedirect(f"/t/{order.tracking_token}/?{urlencode(query)}#{anchor}"))


@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest, token: str) -> HttpResponse:
    order, refusal = _order_or_page(request, token)
    if refusal:
        return refusal
    lang = _language(request, order)
    w = words(lang)
    zone = selectors.customer_zone(order)
    existing = services.DeliveryFeedback.objects.filter(order=order).first()
    is_open = services.feedback_open(order=order, feedback=existing)
    status = 200
    thanks = request.GET.get("saved") == "1"
    if request.method == "POST" and is_open:
        form = FeedbackForm(request.POST, words=w)
        if form.is_valid():
            try:
                services.feedback_submit(
                    order=order,
                    received=form.cleaned_data["received"],
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                    language=lang,
                )
            except services.FeedbackLocked:
                is_open = False
            else:
                query = {
                    "saved": "1",
                    **({"lang": request.GET["lang"]} if request.GET.get("lang") in LANGUAGES else {}),
                }
                return _private(HttpResponseRedirect(f"/t/{order.tracking_token}/feedback/?{urlencode(query)}"))
        status = 400
    elif request.method == "POST":
        status = 409
        form = FeedbackForm(words=w)
    else:
        initial = {}
        if existing:
            initial = {
                "received": "yes" if existing.received else "no",
                "score": str(existing.score or ""),
                "comment": existing.comment,
            }
        form = FeedbackForm(words=w, initial=initial)
    edit_until = ""
    if existing and is_open:
        with translation.override(lang):
            from django.utils import formats

            until = timezone.localtime(services.feedback_edit_until(existing), zone)
            edit_until = w["feedback_edit"].format(until=formats.date_format(until, "DATE_FORMAT"))
    context = {
        "w": w,
        "brand": order.brand,
        "palette": selectors.brand_palette(order.brand.primary_colour, order.brand.accent_colour),
        "lang": lang,
        "lang_query": _lang_query(request),
        "token": order.tracking_token,
        "order": order,
        "form": form,
        "is_open": is_open,
        "delivered": order.status in selectors.DELIVERED_ORDER_STATUSES,
        "existing": existing,
        "thanks": thanks,
        "edit_until": edit_until,
    }
    with translation.override(lang):
        return _private(render(request, "tracking/feedback.html", context, status=status))


@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    lang = _language(request, None)
    w = words(lang)
    error = ""
    status = 200
    if request.method == "POST":
        form = LookupForm(request.POST, words=w)
        if not services.lookup_allowed(client=_client_ip(request)):
            error, status = w["rate_limited"], 429
        elif form.is_valid():
            order = services.order_lookup(
                number=form.cleaned_data["number"], email_or_postcode=form.cleaned_data["secret"]
            )
            if order is not None:
                query = {
                    "via": "lookup",
                    **({"lang": request.GET["lang"]} if request.GET.get("lang") in LANGUAGES else {}),
                }
                return _private(HttpResponseRedirect(f"/t/{order.tracking_token}/?{urlencode(query)}"))
            error, status = w["lookup_failed"], 404
        else:
            error, status = w["lookup_failed"], 400
    else:
        form = LookupForm(words=w)
    context = {"w": w, "form": form, "error": error, "lang": lang, "lang_query": _lang_query(request)}
    with translation.override(lang):
        return _private(render(request, "tracking/lookup.html", context, status=status))
