"""A last line of defence for the logs: anything shaped like an e-mail or phone number is masked.

Log calls pass ids, not people (see docs/privacy.md); this filter catches what slips through,
such as a provider's error text quoting the number it refused.
"""

from __future__ import annotations

import logging

from privacy.scrub import EMAIL_RE, PHONE_RE

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
MASK = "[redacted]"


def redact(value: str) -> str:
    if "@" not in value and "+" not in value:
        return value  # the common case costs two scans of a short string
    return PHONE_RE.sub(MASK, EMAIL_RE.sub(MASK, value))


def _clean(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(v) for v in value)
    return value


class RedactPersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = _clean(value)
        if record.exc_info:
            # The traceback's message can quote a value (a ValidationError naming the address);
            # formatters print exc_text when exc_info is gone.
            record.exc_text = redact(record.exc_text or logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
