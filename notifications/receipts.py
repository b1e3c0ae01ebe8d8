"""Provider receipts (Twilio status callbacks, SendGrid events) and inbound STOP/START keywords.

A receipt moves a notification forward only: delivered never goes back to sent. A receipt that
arrives before we recorded the provider's message id is kept and applied when the id lands.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Channel, CustomerPreferences, Notification, ProviderReceipt
from orders.models import Customer

logger = logging.getLogger(__name__)
S = Notification.Status

TWILIO_STATUS = {"delivered": S.DELIVERED, "read": S.DELIVERED, "undelivered": S.UNDELIVERED, "failed": S.FAILED}
SENDGRID_STATUS = {"delivered": S.DELIVERED, "bounce": S.BOUNCED, "dropped": S.FAILED}
SENDGRID_OPT_OUT = {"unsubscribe", "group_unsubscribe", "spamreport"}
# Where a receipt may move a notification from (never backwards from a final receipt).
_MOVABLE = (S.SENDING, S.SENT)
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT", "BAJA", "PARAR"}
START_WORDS = {"START", "YES", "UNSTOP"}


def _store(provider: str, event_id: str, message_id: str, kind: str, payload: dict) -> ProviderReceipt | None:
    try:
        with transaction.atomic():
            return ProviderReceipt.objects.create(
                provider=provider, event_id=event_id[:200], message_id=message_id[:200], kind=kind[:64], payload=payload
            )
    except IntegrityError:
        return None  # seen before


def _apply(receipt: ProviderReceipt, target: str | None, reason: str = "") -> None:
    n = Notification.objects.filter(provider=receipt.provider, provider_message_id=receipt.message_id).first()
    if n is None:
        return  # applied later by receipts_apply_pending, when our "sent" record lands
    receipt.notification = n
    receipt.applied = True
    receipt.save(update_fields=["notification", "applied"])
    if target is None:
        return
    fields = {"status": target, "updated_at": timezone.now()}
    if target == S.DELIVERED:
        fields["delivered_at"] = timezone.now()
    else:
        fields["status_reason"] = reason[:200] or f"provider reported {receipt.kind}"
        fields["error_message"] = reason[:500]
    with transaction.atomic():
        if Notification.objects.filter(pk=n.pk, status__in=_MOVABLE).update(**fields):
            from notifications.outbound import notification_outcome  # same transaction as the change

            notification_outcome(notification_id=n.pk, status=target)


def receipts_apply_pending(*, provider: str, message_id: str) -> None:
    for receipt in ProviderReceipt.objects.filter(provider=provider, message_id=message_id, applied=False):
        target, reason = _target_of(receipt)
        _apply(receipt, target, reason)


def receipts_apply_unmatched(*, limit: int = 500, max_age_hours: int = 24) -> int:
    """Sweeper: receipts that beat our "sent" record are applied once the provider id is stored."""
    since = timezone.now() - timedelta(hours=max_age_hours)
    applied = 0
    for receipt in ProviderReceipt.objects.filter(applied=False, received_at__gte=since).exclude(message_id="")[:limit]:
        target, reason = _target_of(receipt)
        _apply(receipt, target, reason)
        applied += receipt.applied
    return applied


def _target_of(receipt: ProviderReceipt) -> tuple[str | None, str]:
    from notifications import provider_receipts  # issue 6: WhatsApp Cloud API, Mailgun, MessageBird

    if receipt.provider in provider_receipts.PROVIDERS:
        return provider_receipts.target_of(receipt)
    if receipt.provider == "twilio":
        code = receipt.payload.get("ErrorCode", "")
        return TWILIO_STATUS.get(receipt.kind), f"Twilio error {code}" if code else ""
    reason = str(receipt.payload.get("reason", ""))
    if receipt.kind == "dropped" and "bounce" in reason.lower():
        return S.BOUNCED, reason  # SendGrid will not try an address that bounced before
    if receipt.kind == "dropped" and "unsubscribe" in reason.lower():
        return S.SUPPRESSED, reason
    return SENDGRID_STATUS.get(receipt.kind), reason


def receipt_twilio_status(*, params: dict[str, str]) -> str:
    """One Twilio status callback (already verified). Returns what happened."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or not status:
        return "ignored"
    receipt = _store("twilio", f"{sid}:{status}", sid, status, params)
    if receipt is None:
        return "duplicate"
    target, reason = _target_of(receipt)
    _apply(receipt, target, reason)
    if params.get("ErrorCode") == "21610":
        _opt_out_phone(params.get("To", ""), opted_out=True)
    return "applied"


def receipt_sendgrid_events(*, events: list[dict]) -> dict[str, int]:
    """A batch of SendGrid events (already verified), deduplicated on sg_event_id."""
    counts = {"applied": 0, "duplicate": 0, "ignored": 0}
    for item in events:
        if not isinstance(item, dict) or not item.get("sg_event_id"):
            counts["ignored"] += 1
            continue
        # sg_message_id is the X-Message-Id we stored, plus a ".filter..." suffix.
        message_id = str(item.get("sg_message_id", "")).split(".", 1)[0]
        kind = str(item.get("event", ""))
        receipt = _store("sendgrid", str(item["sg_event_id"]), message_id, kind, item)
        if receipt is None:
            counts["duplicate"] += 1
            continue
        target, reason = _target_of(receipt)
        _apply(receipt, target, reason)
        if kind in SENDGRID_OPT_OUT:
            _opt_out_email(str(item.get("email", "")))
        counts["applied"] += 1
    return counts


def _opt_out_email(email: str) -> None:
    for customer in Customer.objects.filter(email=email.strip().lower()):
        prefs, _ = CustomerPreferences.objects.get_or_create(customer=customer)
        prefs.email_opted_out = True
        prefs.save()
    logger.info("email opt-out from provider", extra={"customers": email.count("@")})


def _opt_out_phone(sender: str, *, opted_out: bool) -> int:
    channel = Channel.WHATSAPP if sender.startswith("whatsapp:") else Channel.SMS
    phone = sender.removeprefix("whatsapp:")
    changed = 0
    for customer in Customer.objects.filter(phone=phone):
        prefs, _ = CustomerPreferences.objects.get_or_create(customer=customer)
        setattr(prefs, f"{channel}_opted_out", opted_out)
        if not opted_out:
            # START is consent given again, on the channel the customer wrote from.
            Customer.objects.filter(pk=customer.pk).update(
                **{f"consent_{channel}": True, "consent_updated_at": timezone.now()}
            )
        prefs.save()
        changed += 1
    return changed


def inbound_message(*, sender: str, body: str) -> str:
    """A customer wrote to our number: STOP opts them out of that channel, START back in."""
    word = (body or "").strip().split(" ", 1)[0].upper()
    if word in STOP_WORDS:
        return "stopped" if _opt_out_phone(sender, opted_out=True) else "unknown_sender"
    if word in START_WORDS:
        return "started" if _opt_out_phone(sender, opted_out=False) else "unknown_sender"
    return "ignored"
