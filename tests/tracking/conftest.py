from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import make_order as _make_order


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()  # the lookup rate limit lives in the cache
    yield
    cache.clear()


@pytest.fixture
def make_order():
    return _make_order


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's chromium through Playwright (select with -m browser)")
