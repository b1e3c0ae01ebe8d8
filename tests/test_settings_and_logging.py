"""Configuration refuses unsafe production starts; logs are JSON lines with a correlation id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oms_notify.logging import CorrelationIdFilter, set_correlation_id

ROOT = Path(__file__).resolve().parents[1]


def run_django(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "oms_notify.settings", "DJANGO_READ_DOT_ENV_FILE": "false", **env_overrides})
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_a_secret_key():
    result = run_django({"DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_the_demo_default_is_sqlite_and_starts_without_a_secret_key():
    result = run_django({"DJANGO_DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_a_database_url_selects_postgresql():
    result = run_django({"DJANGO_SECRET_KEY": "k", "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"})
    assert result.stdout.strip() == "django.db.backends.postgresql", result.stderr


@pytest.mark.django_db
def test_each_response_carries_a_correlation_id(client):
    first = client.get("/admin/login/")
    second = client.get("/admin/login/")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.django_db
def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    assert client.get("/admin/login/", HTTP_X_REQUEST_ID="lb-7f3a.1")["X-Request-ID"] == "lb-7f3a.1"
    hostile = client.get("/admin/login/", HTTP_X_REQUEST_ID='x"\n{"level":"ERROR"}')["X-Request-ID"]
    assert "\n" not in hostile and len(hostile) == 32


def test_log_lines_are_json_with_the_current_correlation_id():
    handler = next(h for h in logging.getLogger().handlers if h.formatter.__class__.__name__ == "JsonFormatter")
    record = logging.LogRecord("orders.services", logging.INFO, __file__, 1, "order moved", None, None)
    record.order = "ORD-000001"
    set_correlation_id("abc123")
    try:
        CorrelationIdFilter().filter(record)
    finally:
        set_correlation_id(None)
    line = json.loads(handler.formatter.format(record))
    assert line["message"] == "order moved" and line["correlation_id"] == "abc123"
    assert line["level"] == "INFO" and line["logger"] == "orders.services" and line["order"] == "ORD-000001"
