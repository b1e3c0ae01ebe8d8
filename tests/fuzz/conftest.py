"""Hypothesis settings for the fuzzers: reproducible in CI, longer with `make fuzz`.

Derandomized and without an example database, so every run tries the same inputs; FUZZ_EXAMPLES
sets the examples per adapter test (FUZZ_API_CASES does the same for schemathesis).
"""

from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    derandomize=True,
    database=None,
    deadline=None,
    # One database and one client serve every example of a test, on purpose: rows pile up as in life.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Crashes(logging.Handler):
    """Collects log records that carry a traceback: code that caught an exception it did not expect."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def crashes():
    """A caught-and-logged exception is a crash the response hides (a 202 that should not be)."""
    handler = _Crashes()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler.records
    root.removeHandler(handler)
