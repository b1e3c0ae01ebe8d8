"""Correlation ids: one id follows an event from the request into every task it causes."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEADER = "X-Request-ID"


def get_correlation_id() -> str:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> None:
    _correlation_id.set(value or "")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    """Within the block the id is `value` (or stays as it is); afterwards the caller's id is back.

    Work that belongs to an earlier event (a retry picked up by the sweeper) adopts that event's id
    inside the block without leaking it to whatever the process does next (an eager caller).
    """
    token = _correlation_id.set(value or _correlation_id.get())
    try:
        yield _correlation_id.get()
    finally:
        _correlation_id.reset(token)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get()
        return True


class CorrelationIdMiddleware:
    """Takes a caller's X-Request-ID when it looks sane, else makes one; echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        cid = incoming if _VALID.match(incoming) else new_correlation_id()
        token = _correlation_id.set(cid)
        try:
            request.correlation_id = cid
            response = self.get_response(request)
        finally:
            _correlation_id.reset(token)
        response[HEADER] = cid
        return response
