from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError


def validate_e164(value: str) -> None:
    """A phone number in E.164 (+ and up to 15 digits) that is a possible, valid number."""
    if not value:
        return
    if not value.startswith("+") or not value[1:].isdigit():
        raise ValidationError("Use E.164: + country code and number, digits only.", code="e164")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"Not a phone number: {exc}", code="e164") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError("Not a valid phone number for its country.", code="e164")
