"""Receipts of the issue-6 providers: WhatsApp Cloud API statuses, Mailgun events, MessageBird status reports.

Each is verified before anything is stored (see notifications/channel_views.py) and then follows
notifications.receipts: stored once per provider event id, moving a notification forward only,
kept for later when it beats our own "sent" record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications import receipts
from notifications.models import Notification, ProviderReceipt, ReceiptToken

S = Notification.Status
PROVIDERS = {"whatsapp_cloud", "mailgun", "messagebird"}
WHATSAPP_STATUS = {"delivered": S.DELIVERED, "read": S.DELIVERED, "failed": S.FAILED}
MESSAGEBIRD_STATUS = {"delivered": S.DELIVERED, "delivery_failed": S.UNDELIVERED, "expired": S.UNDELIVERED}


def target_of(receipt: ProviderReceipt) -> tuple[str | None, str]:
    """Where a receipt moves its notification (None: nowhere), and why."""
    p = receipt.payload or {}
    if receipt.provider == "whatsapp_cloud":
        errors = p.get("errors") or []
        reason = "; ".join(f"{e.get('code')} {e.get('title', '')}".strip() for e in errors if isinstance(e, dict))
        return WHATSAPP_STATUS.get(receipt.kind), reason
    if receipt.provider == "mailgun":
        status = p.get("delivery-status") or {}
        reason = str(status.get("description") or status.get("message") or p.get("reason") or "")[:300]
        if receipt.kind == "delivered":
            return S.DELIVERED, ""
        if receipt.kind == "failed" and p.get("severity") == "permanent":
            return (S.BOUNCED if p.get("reason") in ("bounce", "suppress-bounce") else S.FAILED), reason
        return None, reason  # temporary failures: Mailgun retries by itself
    if receipt.provider == "messagebird":
        reason = " ".join(str(p.get(k, "")) for k in ("statusReason", "statusErrorCode") if p.get(k))
        return MESSAGEBIRD_STATUS.get(receipt.kind), reason
    return None, ""


def _store_and_apply(provider: str, event_id: str, message_id: str, kind: str, payload: dict) -> bool:
    receipt = receipts._store(provider, event_id, message_id, kind, payload)
    if receipt is None:
        return False
    target, reason = target_of(receipt)
    receipts._apply(receipt, target, reason)
    return True


# --- WhatsApp Cloud API ----------------------------------------------------------------------


def whatsapp_signature_valid(body: bytes, header: str) -> bool:
    """X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body with the app secret."""
    secret = settings.WHATSAPP_APP_SECRET
    if not secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def receipt_whatsapp(*, payload: dict) -> dict[str, int]:
    counts = {"applied": 0, "duplicate": 0}
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            for status in ((change or {}).get("value") or {}).get("statuses") or []:
                wamid, kind = str(status.get("id", "")), str(status.get("status", ""))
                if not wamid or not kind:
                    continue
                fresh = _store_and_apply("whatsapp_cloud", f"{wamid}:{kind}", wamid, kind, status)
                counts["applied" if fresh else "duplicate"] += 1
    return counts


# --- Mailgun ---------------------------------------------------------------------------------


def mailgun_signature_check(signature: dict) -> str:
    """ "" when valid and fresh; else why not. The token is remembered: a replay is refused."""
    key = settings.MAILGUN_WEBHOOK_SIGNING_KEY
    timestamp, token, sig = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    if not (key and timestamp and token and sig):
        return "missing"
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sig):
        return "invalid"
    max_age = settings.MAILGUN_WEBHOOK_MAX_AGE
    if max_age and (not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age):
        return "stale"
    # Tokens only need remembering while their timestamp is acceptable.
    ReceiptToken.objects.filter(
        provider="mailgun", received_at__lt=timezone.now() - timedelta(seconds=2 * max(max_age, 60))
    ).delete()
    try:
        with transaction.atomic():
            ReceiptToken.objects.create(provider="mailgun", token=token[:200])
    except IntegrityError:
        return "replayed"
    return ""


def receipt_mailgun(*, event: dict) -> str:
    message_id = str(((event.get("message") or {}).get("headers") or {}).get("message-id", "")).strip("<>")
    kind = str(event.get("event", ""))
    event_id = str(event.get("id", ""))
    if not (event_id and kind):
        return "ignored"
    fresh = _store_and_apply("mailgun", event_id, message_id, kind, event)
    if fresh and kind in ("unsubscribed", "complained"):
        receipts._opt_out_email(str(event.get("recipient", "")))
    return "applied" if fresh else "duplicate"


# --- MessageBird -----------------------------------------------------------------------------


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_JWT_ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def messagebird_signature_check(token: str, url: str, body: bytes) -> str:
    """MessageBird-Signature-JWT: an HS256/384/512 JWT signed with the signing key, issuer "MessageBird",
    nbf/exp (1 s leeway), url_hash = sha256(full URL) and payload_hash = sha256(body) when there is one."""
    key = settings.MESSAGEBIRD_SIGNING_KEY
    if not (key and token):
        return "missing"
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(_b64decode(head_b64))
        claims = json.loads(_b64decode(claims_b64))
        digest = _JWT_ALGORITHMS[header.get("alg", "")]
        signature = _b64decode(sig_b64)
    except (ValueError, KeyError, TypeError):
        return "invalid"
    expected = hmac.new(key.encode(), f"{head_b64}.{claims_b64}".encode(), digest).digest()
    if not hmac.compare_digest(expected, signature):
        return "invalid"
    now = time.time()
    if claims.get("iss") != "MessageBird" or not {"nbf", "exp", "url_hash"} <= claims.keys():
        return "invalid"
    if not (float(claims["nbf"]) - 1 <= now <= float(claims["exp"]) + 1):
        return "stale"
    if not hmac.compare_digest(hashlib.sha256(url.encode()).hexdigest(), str(claims["url_hash"])):
        return "invalid"
    payload_hash = claims.get("payload_hash")
    if bool(body) != bool(payload_hash):
        return "invalid"
    if body and not hmac.compare_digest(hashlib.sha256(body).hexdigest(), str(payload_hash)):
        return "invalid"
    return ""


def receipt_messagebird(*, params: dict[str, str]) -> str:
    message_id, recipient, kind = params.get("id", ""), params.get("recipient", ""), params.get("status", "")
    if not (message_id and kind):
        return "ignored"
    # One report per message, recipient and status (a status may be reported again: it is the same event).
    fresh = _store_and_apply("messagebird", f"{message_id}:{recipient}:{kind}", message_id, kind, params)
    return "applied" if fresh else "duplicate"
