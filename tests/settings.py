"""Test settings: the production settings module with test defaults for the environment.

The suite runs against the real PostgreSQL and Redis (see `make test`); these defaults let a
bare `pytest` work on a machine where both run locally.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oms_notify")
os.environ.setdefault("SITE_URL", "https://track.example.test")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("DJANGO_READ_DOT_ENV_FILE", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# A real Redis broker, one database per parallel test worker; tasks still run in-process unless a
# test (tests/e2e) starts a real worker and switches eager mode off.
# Always per worker (tests with a real worker flush their database): TEST_REDIS_DB_BASE moves the range.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_redis_db = int(os.environ.get("TEST_REDIS_DB_BASE", "10")) + int(_xdist_worker[2:] or 0)
# TEST_REDIS_URL points the suite at another Redis server (e.g. one per concurrent checkout).
_redis_server = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
os.environ["CELERY_BROKER_URL"] = f"{_redis_server}/{_redis_db}"
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# Fake providers and subscriber endpoints listen on 127.0.0.1; SSRF tests switch these off.
os.environ.setdefault("NETGUARD_ALLOW_HTTP", "true")
os.environ.setdefault("NETGUARD_ALLOW_LOOPBACK", "true")
# Tests open and close circuits with the ORM between two sends: read the circuit every time
# (tests/notifications/channels/test_failover.py covers the cache itself).
os.environ.setdefault("NOTIFY_CIRCUIT_CACHE_SECONDS", "0")

from oms_notify.settings import *  # noqa: E402,F403
from oms_notify.settings import STORAGES  # noqa: E402

# The manifest storage needs collectstatic; tests render admin pages without it.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Serve static files from the apps' folders: tests run without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
