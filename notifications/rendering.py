"""Render one notification's content: per event × locale template, brand overrides, Babel formats.

Each template (templates/notifications/<lang>/<event>.txt) holds one block per part: subject,
email, sms, push_title, push_body. A brand's TemplateOverride replaces one part. Email HTML is the
plain-text body laid into the brand's layout, so both always say the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.template import Context, Template, TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.template.loader_tags import BlockNode
from django.utils import html, timezone, translation
from django.utils.safestring import mark_safe

from notifications import sms as sms_text
from notifications.models import Audience, BrandNotificationSettings, Channel, Notification, TemplateOverride
from notifications.preferences import customer_zone, preferences_for
from orders.models import Order, Shipment

LANGUAGES = ("en", "es", "fr")
PARTS = ("subject", "email", "sms", "push_title", "push_body")


@dataclass
class Rendered:
    subject: str = ""
    text: str = ""
    html: str = ""
    sms_segments: int | None = None
    sms_encoding: str = ""
    data: dict = field(default_factory=dict)


def language_of(locale: str) -> str:
    lang = (locale or "en").replace("_", "-").split("-")[0].lower()
    return lang if lang in LANGUAGES else "en"


def babel_locale_of(locale: str) -> str:
    return (locale or "en").replace("-", "_")


_brand_cache: dict[int, tuple[float, BrandNotificationSettings, dict]] = {}


def _brand_entry(brand) -> tuple[BrandNotificationSettings, dict]:
    """A brand's settings and template overrides, cached briefly per process (a hot path under load)."""
    now = time.monotonic()
    cached = _brand_cache.get(brand.pk)
    if cached and cached[0] > now:
        return cached[1], cached[2]
    found = BrandNotificationSettings.objects.filter(brand=brand).first() or BrandNotificationSettings(brand=brand)
    overrides: dict = {}
    for o in TemplateOverride.objects.filter(brand=brand):
        overrides.setdefault((o.event, o.locale), {})[o.part] = o.content
    ttl = settings.NOTIFY_BRAND_CACHE_SECONDS
    if ttl > 0:
        _brand_cache[brand.pk] = (now + ttl, found, overrides)
    return found, overrides


def brand_settings(brand) -> BrandNotificationSettings:
    return _brand_entry(brand)[0]


def build_context(notification: Notification) -> dict:
    order: Order = notification.order
    customer = order.customer
    prefs = preferences_for(customer)
    shipment: Shipment | None = notification.shipment
    brand = order.brand
    # Only the split-shipment notice counts parcels: one query fewer for every other message.
    live_parcels = order.shipments.exclude(status="cancelled").count() if notification.event == "split_shipment" else 0
    base = settings.SITE_URL
    voice = brand_settings(brand)
    return {
        "brand": brand,
        "brand_logo_url": f"{base}{brand.logo.url}" if brand.logo else "",
        "tone": voice.tone,
        "email_footer": voice.email_footer,
        "customer": customer,
        "first_name": customer.first_name,
        "repeat_buyer": customer.is_repeat_buyer,
        "attributes": prefs.attributes or {},
        "order": order,
        "shipment": shipment,
        "parcels": live_parcels,
        "eta": (shipment.eta if shipment else None) or order.promised_to,
        "tracking_url": order.tracking_url,
        "feedback_url": f"{order.tracking_url}feedback/",
        "preferences_url": f"{base}/preferences/{prefs.token}/",
        "variant": notification.variant,
        "proof": notification.proof,
        "reason": (notification.data or {}).get("reason", "") or (shipment.status_reason if shipment else ""),
        "staff": notification.audience == Audience.STAFF,
    }


_block_maps: dict[str, tuple[Template, dict[str, BlockNode]]] = {}


def _blocks(template_name: str) -> tuple[Template, dict[str, BlockNode]]:
    tpl = get_template(template_name).template
    # Walking the node tree for the blocks took as long as rendering them. The map is kept while
    # the loader hands back the same compiled template (cached loader); a reloaded one is walked again.
    cached = _block_maps.get(template_name)
    if cached is not None and cached[0] is tpl:
        return cached
    found = (tpl, {node.name: node for node in tpl.nodelist.get_nodes_by_type(BlockNode)})
    _block_maps[template_name] = found
    return found


def _tidy(text: str) -> str:
    # Conditional blocks leave blank lines and trailing spaces behind: at most one empty line in a row.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


# The parts each channel's message is made of (every message keeps a subject for the log).
_CHANNEL_PARTS = {
    Channel.EMAIL: ("subject", "email"),
    Channel.SMS: ("subject", "sms"),
    Channel.WHATSAPP: ("subject", "sms"),
}
_FEED_PARTS = ("subject", "push_title", "push_body", "sms")  # push and the in-app feed


def _render_parts(notification: Notification, context: dict, lang: str) -> dict[str, str]:
    """The parts of the template this channel uses (the others stay empty: rendering all five
    cost an SMS two and a half times what it needs)."""
    try:
        tpl, blocks = _blocks(f"notifications/{lang}/{notification.event}.txt")
    except TemplateDoesNotExist:
        tpl, blocks = _blocks(f"notifications/en/{notification.event}.txt")
    overrides = _brand_entry(notification.order.brand)[1].get((notification.event, lang), {})
    ctx = Context(context, autoescape=False)
    parts = dict.fromkeys(PARTS, "")
    with ctx.bind_template(tpl):
        for part in _CHANNEL_PARTS.get(notification.channel, _FEED_PARTS):
            if part in overrides:
                source = "{% load notify_format %}" + overrides[part]
                parts[part] = _tidy(Template(source).render(ctx))
            elif part in blocks:
                parts[part] = _tidy(blocks[part].nodelist.render(ctx))
    return parts


def render_notification(notification: Notification) -> Rendered:
    """Render in the customer's language and time zone (staff messages in the default language)."""
    customer = notification.order.customer
    locale = notification.locale or "en"
    lang = language_of(locale)
    zone = customer_zone(customer)
    context = build_context(notification)
    context.update({"babel_locale": babel_locale_of(locale), "tz": zone, "lang": lang})
    with translation.override(lang), timezone.override(zone):
        parts = _render_parts(notification, context, lang)
        out = Rendered(subject=" ".join(parts["subject"].split()))
        if notification.channel == Channel.EMAIL:
            out.text = parts["email"]
            out.html = render_to_string(
                "notifications/email/layout.html",
                # The text holds carrier and shop text (a delay reason, a name): escape it for the HTML
                # part (urlize does, and marks its output safe so linebreaks does not escape twice).
                {
                    **context,
                    "subject": out.subject,
                    "body_html": mark_safe(html.linebreaks(html.urlize(out.text, autoescape=True))),
                },
            )
        elif notification.channel in (Channel.SMS, Channel.WHATSAPP):
            out.text = sms_text.normalise_gsm(parts["sms"])
            if notification.channel == Channel.SMS:
                out.sms_segments, out.sms_encoding = sms_text.segments(out.text)
            else:
                out.data = {
                    "content_variables": {
                        "1": context["first_name"],
                        "2": notification.order.number,
                        "3": context["tracking_url"],
                    }
                }
        else:  # push and in-app feed
            out.subject = parts["push_title"] or out.subject
            out.text = parts["push_body"] or parts["sms"]
            out.data = {"order": notification.order.number, "url": context["tracking_url"], "event": notification.event}
    return out


def warm_up() -> int:
    """Compile every message template (and map its blocks), load each language's Babel data and
    build the URL map per language; returns the templates compiled. A worker calls this at start:
    otherwise its first messages pay for it, every thread at once."""
    from babel import Locale
    from django.urls import reverse

    root = Path(settings.BASE_DIR) / "templates"
    names = sorted(str(p.relative_to(root)) for p in (root / "notifications").glob("*/*.txt"))
    for name in names:
        _blocks(name)
    get_template("notifications/email/layout.html")
    for lang in LANGUAGES:
        Locale.parse(lang)
        with translation.override(lang):
            reverse("notifications:twilio-status")
    return len(names)
