"""Settings for oms_notify: every knob comes from the environment (see .env.example).

Unset, the project runs as the zero-setup demo: SQLite, tasks in-process, local outbox.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True) and (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production refuses to start without it "
            "(set DJANGO_DEBUG=true for a local demo)."
        )
    SECRET_KEY = "insecure-demo-key-only-for-DJANGO_DEBUG"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "orders",
    "carriers",
    "notifications",
    "privacy",
    "kpis",
    "operations",
]

MIDDLEWARE = [
    "oms_notify.logging.CorrelationIdMiddleware",
    "operations.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "oms_notify.urls"
WSGI_APPLICATION = "oms_notify.wsgi.application"
ASGI_APPLICATION = "oms_notify.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded demo default is a SQLite file; production and the tests use PostgreSQL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # webhook views store raw bodies even on a 400
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# A kept connection is checked once per request or task before use: one that a database restart
# broke is replaced instead of failing the work.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The hot statements of oms_notify/fastsql.py are prepared once per PostgreSQL connection (PREPARE /
# EXECUTE): planning them cost the server more CPU than running them. Turn it off behind a pooler
# that moves sessions between server connections (PgBouncer in transaction or statement mode).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Short writes and a generous lock wait keep in-process demo tasks clear of "database is locked";
    # WAL lets readers work during a write, IMMEDIATE takes the write lock up front (no failed
    # read-to-write upgrade), and synchronous=NORMAL makes each commit cheap (demo data: ~4x faster).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="6000/min")},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orders.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "oms_notify API",
    "DESCRIPTION": "Orders, shipments and their lifecycle; carrier and source webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the sidecar package: no page loads anything from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI's bundle defaults to validating the schema at validator.swagger.io: stay offline.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Orders and shipments both have a `status`: name their enums instead of a hashed collision name.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.statuses.OrderStatus",
        "ShipmentStatusEnum": "orders.statuses.ShipmentStatus",
    },
}

# Throttle counters live here: use Redis (CACHE_URL=redis://...) when several processes serve.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Unset broker: tasks run in-process, for the zero-setup demo only.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = env.bool("CELERY_TASK_EAGER_PROPAGATES", default=False)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
elif CELERY_BROKER_URL.split("://", 1)[0] in ("redis", "rediss"):
    # kombu's Redis transport with one client per channel, not one per command (oms_notify/broker.py).
    CELERY_BROKER_TRANSPORT = "oms_notify.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
# Reliability: ack after the work is done, requeue when a worker dies, one message at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this is
# set: a new PostgreSQL connection (a server process forked) per message. Workers keep connections
# for CONN_MAX_AGE like web requests do instead (oms_notify/celery.py); this only stops the fixup.
CELERY_DB_REUSE_MAX = 10**9
# Worker commits wait for the WAL flush only if true (oms_notify/celery.py says why false is safe).
WORKER_SYNCHRONOUS_COMMIT = env.bool("WORKER_SYNCHRONOUS_COMMIT", default=True)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep Django's LOGGING (JSON lines with correlation ids) in workers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# About an hour: long enough for any countdown we use (minutes), short enough that a killed
# worker's tasks come back soon. Anything due later lives in a database column + beat sweeper.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("critical"), Queue("default"), Queue("bulk"))
CELERY_TASK_ROUTES = {
    "orders.tasks.complete_delivered_orders": {"queue": "bulk"},
}
CELERY_BEAT_SCHEDULE = {
    "complete-delivered-orders": {
        "task": "orders.tasks.complete_delivered_orders",
        "schedule": crontab(minute=17),
    },
}
MAX_COUNTDOWN = timedelta(minutes=15)

# --- Domain knobs ---------------------------------------------------------------------------
ORDER_COMPLETE_AFTER_DAYS = env.int("ORDER_COMPLETE_AFTER_DAYS", default=14)
DEFAULT_BRAND_SLUG = "default"

# --- Logging: JSON lines with the correlation id of the request or task that caused them ----
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "oms_notify.logging.CorrelationIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["correlation"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "oms_notify.security": {"level": "INFO"},
    },
}

# --- Carriers -------------------------------------------------------------------------------
CARRIER_NAMES = ["easypost", "shippo", "aftership", "ups", "fedex", "generic"]
# CARRIER_<NAME>_WEBHOOK_SECRET; per-brand secrets live encrypted in CarrierAccount rows.
CARRIER_WEBHOOK_SECRETS = {
    name: env.str(f"CARRIER_{name.upper()}_WEBHOOK_SECRET", default="") for name in CARRIER_NAMES
}
# Fernet key(s), comma-separated (first encrypts); unset: derived from DJANGO_SECRET_KEY (demo).
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
CARRIER_WEBHOOK_MAX_BYTES = env.int("CARRIER_WEBHOOK_MAX_BYTES", default=1024 * 1024)
CARRIER_SIGNATURE_TOLERANCE_SECONDS = env.int("CARRIER_SIGNATURE_TOLERANCE_SECONDS", default=300)
CARRIER_SECRET_CACHE_SECONDS = env.int("CARRIER_SECRET_CACHE_SECONDS", default=30)
# Apply inside the request (demo, no broker) or acknowledge 202 and apply on the critical queue.
CARRIER_PROCESS_INLINE = env.bool("CARRIER_PROCESS_INLINE", default=CELERY_TASK_ALWAYS_EAGER)
CARRIER_DEDUPE_RETENTION_DAYS = env.int("CARRIER_DEDUPE_RETENTION_DAYS", default=30)  # never below 7
CARRIER_PENDING_RETENTION_DAYS = env.int("CARRIER_PENDING_RETENTION_DAYS", default=30)
CARRIER_SWEEP_AFTER_SECONDS = env.int("CARRIER_SWEEP_AFTER_SECONDS", default=120)
CARRIER_SWEEP_BATCH = env.int("CARRIER_SWEEP_BATCH", default=500)
CARRIER_DEFAULT_LOCAL_TIME_ZONE = env.str("CARRIER_DEFAULT_LOCAL_TIME_ZONE", default="UTC")
# Polling: carrier -> client for shipments that get no push, e.g. "usps=easypost,dhl=easypost".
CARRIER_POLL_CARRIERS = env.dict("CARRIER_POLL_CARRIERS", default={})
CARRIER_POLL_DEFAULT_INTERVAL_MINUTES = env.int("CARRIER_POLL_DEFAULT_INTERVAL_MINUTES", default=60)
CARRIER_POLL_INTERVAL_MINUTES = env.dict("CARRIER_POLL_INTERVAL_MINUTES", cast={"value": int}, default={})
CARRIER_POLL_BATCH = env.int("CARRIER_POLL_BATCH", default=100)
CARRIER_POLL_MAX_DAYS = env.int("CARRIER_POLL_MAX_DAYS", default=90)
CARRIER_EASYPOST_API_BASE = env.str("CARRIER_EASYPOST_API_BASE", default="https://api.easypost.com")
CARRIER_EASYPOST_API_KEY = env.str("CARRIER_EASYPOST_API_KEY", default="")
CARRIER_STALLED_AFTER_HOURS = env.int("CARRIER_STALLED_AFTER_HOURS", default=48)
CARRIER_SHIPPO_API_BASE = env.str("CARRIER_SHIPPO_API_BASE", default="https://api.goshippo.com")
CARRIER_SHIPPO_API_KEY = env.str("CARRIER_SHIPPO_API_KEY", default="")
# Reconciliation (data sync accuracy): the polling client that checks a carrier's shipments when
# they are not polled anyway, e.g. "fedex=shippo,ups=shippo,*=easypost"; without one: not checkable.
CARRIER_RECONCILE_CLIENTS = env.dict("CARRIER_RECONCILE_CLIENTS", default={})
CARRIER_RECONCILE_BATCH = env.int("CARRIER_RECONCILE_BATCH", default=100)
# Per polling client: parallel requests and requests per second, e.g. "easypost=4,shippo=2".
CARRIER_RECONCILE_CONCURRENCY = env.dict("CARRIER_RECONCILE_CONCURRENCY", cast={"value": int}, default={})
CARRIER_RECONCILE_DEFAULT_CONCURRENCY = env.int("CARRIER_RECONCILE_DEFAULT_CONCURRENCY", default=2)
CARRIER_RECONCILE_RATE = env.dict("CARRIER_RECONCILE_RATE", cast={"value": float}, default={})
CARRIER_RECONCILE_DEFAULT_RATE = env.float("CARRIER_RECONCILE_DEFAULT_RATE", default=5.0)
# Carrier scans newer than this may still be on their way to us as webhooks: not compared yet.
CARRIER_RECONCILE_GRACE_MINUTES = env.int("CARRIER_RECONCILE_GRACE_MINUTES", default=30)
# One task works this long, then queues the rest of the run (keeps under CELERY_TASK_SOFT_TIME_LIMIT).
CARRIER_RECONCILE_TASK_SECONDS = env.int("CARRIER_RECONCILE_TASK_SECONDS", default=150)
CARRIER_RECONCILE_HOUR_UTC = env.int("CARRIER_RECONCILE_HOUR_UTC", default=3)

CELERY_TASK_ROUTES.update(
    {
        "carriers.tasks.process_raw_webhook": {"queue": "critical"},
        "carriers.tasks.apply_pending_events": {"queue": "critical"},
        "carriers.tasks.sweep_carrier_webhooks": {"queue": "default"},
        "carriers.tasks.poll_trackers": {"queue": "default"},
        "carriers.tasks.check_shipment_delays": {"queue": "default"},
        "carriers.tasks.reconcile_shipments": {"queue": "bulk"},
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "carriers-sweep": {"task": "carriers.tasks.sweep_carrier_webhooks", "schedule": timedelta(minutes=2)},
        "carriers-poll": {"task": "carriers.tasks.poll_trackers", "schedule": timedelta(minutes=5)},
        "carriers-delays": {"task": "carriers.tasks.check_shipment_delays", "schedule": crontab(minute="*/30")},
        "carriers-reconcile": {
            "task": "carriers.tasks.reconcile_shipments",
            "schedule": crontab(hour=CARRIER_RECONCILE_HOUR_UTC, minute=25),
        },
    }
)
# Rejections go to "oms_notify.security" (configured above): carrier, source address, size, reason.

# --- Notifications ---
# Providers: each is used only when its credentials are set; otherwise that channel's messages go
# to the local outbox (shown at /outbox/ to staff), which is what the zero-setup demo does.
SENDGRID_API_KEY = env.str("SENDGRID_API_KEY", default="")
SENDGRID_API_HOST = env.str("SENDGRID_API_HOST", default="https://api.sendgrid.com")
SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = env.str("SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY", default="")
# 0 = no age limit on signed event batches (replays are still deduplicated on sg_event_id).
SENDGRID_EVENT_WEBHOOK_MAX_AGE = env.int("SENDGRID_EVENT_WEBHOOK_MAX_AGE", default=0)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_WHATSAPP_FROM = env.str("TWILIO_WHATSAPP_FROM", default="")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com")
# Approved WhatsApp content templates per event, e.g. {"delivered": "HX..."} (JSON).
TWILIO_WHATSAPP_CONTENT_SIDS = env.json("TWILIO_WHATSAPP_CONTENT_SIDS", default={})
FCM_PROJECT_ID = env.str("FCM_PROJECT_ID", default="")
FCM_CREDENTIALS_FILE = env.str("FCM_CREDENTIALS_FILE", default="")
FCM_API_BASE_URL = env.str("FCM_API_BASE_URL", default="https://fcm.googleapis.com")
ONESIGNAL_APP_ID = env.str("ONESIGNAL_APP_ID", default="")
ONESIGNAL_API_KEY = env.str("ONESIGNAL_API_KEY", default="")
ONESIGNAL_API_BASE_URL = env.str("ONESIGNAL_API_BASE_URL", default="https://api.onesignal.com")
NOTIFY_FROM_EMAIL = env.str("NOTIFY_FROM_EMAIL", default="notifications@oms.example")
NOTIFY_STAFF_EMAIL = env.str("NOTIFY_STAFF_EMAIL", default="")
# Every provider call: (connect, read) seconds. The SDKs set none by default.
NOTIFY_CONNECT_TIMEOUT = env.float("NOTIFY_CONNECT_TIMEOUT", default=3.05)
NOTIFY_READ_TIMEOUT = env.float("NOTIFY_READ_TIMEOUT", default=10.0)
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=8)
NOTIFY_RETRY_BASE_SECONDS = env.int("NOTIFY_RETRY_BASE_SECONDS", default=15)
NOTIFY_RETRY_MAX_SECONDS = env.int("NOTIFY_RETRY_MAX_SECONDS", default=6 * 3600)
# A message claimed by a worker that died is picked up again after this long (at most one duplicate).
NOTIFY_SENDING_STALE_SECONDS = env.int("NOTIFY_SENDING_STALE_SECONDS", default=300)
# The sweeper hands a row to the broker again only this long after the last time (no pile-up).
NOTIFY_REQUEUE_SECONDS = env.int("NOTIFY_REQUEUE_SECONDS", default=300)
# How long the delivery confirmation waits for the proof-of-delivery verdict before the brand's
# "unverified" policy applies.
NOTIFY_POD_WAIT_SECONDS = env.int("NOTIFY_POD_WAIT_SECONDS", default=900)
NOTIFY_FEEDBACK_DELAY_HOURS = env.int("NOTIFY_FEEDBACK_DELAY_HOURS", default=24)
# Non-urgent messages older than this are not sent any more (expired).
NOTIFY_MESSAGE_TTL_HOURS = env.int("NOTIFY_MESSAGE_TTL_HOURS", default=72)
# Brand voice and template overrides are cached this long per process (0: no cache).
NOTIFY_BRAND_CACHE_SECONDS = env.int("NOTIFY_BRAND_CACHE_SECONDS", default=30)
CELERY_TASK_ROUTES.update(
    {
        "notifications.tasks.sweep_notifications": {"queue": "critical"},
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "sweep-notifications": {"task": "notifications.tasks.sweep_notifications", "schedule": 30.0},
    }
)

# --- Outbound network guard (SSRF) ----------------------------------------------------------
# Outbound webhooks and chat destinations are user-supplied URLs: https only and public addresses
# only, unless these allow http and loopback (tests and the demo talk to fakes on 127.0.0.1).
NETGUARD_ALLOW_HTTP = env.bool("NETGUARD_ALLOW_HTTP", default=DEBUG)
NETGUARD_ALLOW_LOOPBACK = env.bool("NETGUARD_ALLOW_LOOPBACK", default=DEBUG)

# --- Tracking page ---
# A tracking link stops working this many days after delivery (or after the order closed).
TRACKING_TOKEN_DAYS_AFTER_DELIVERY = env.int("TRACKING_TOKEN_DAYS_AFTER_DELIVERY", default=90)
# Order lookups (/track/) allowed per client IP per window; then 429 until the window ends.
TRACKING_LOOKUP_LIMIT = env.int("TRACKING_LOOKUP_LIMIT", default=10)
TRACKING_LOOKUP_WINDOW_SECONDS = env.int("TRACKING_LOOKUP_WINDOW_SECONDS", default=600)
# How often the page's script asks the JSON endpoint for news.
TRACKING_POLL_SECONDS = env.int("TRACKING_POLL_SECONDS", default=30)
# A feedback response can be changed for this many days after it was first given.
TRACKING_FEEDBACK_EDIT_DAYS = env.int("TRACKING_FEEDBACK_EDIT_DAYS", default=7)

# --- Channels and failover ---
# Slack chat.postMessage (bot token; a destination may carry its own) and incoming webhooks.
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_API_BASE_URL = env.str("SLACK_API_BASE_URL", default="https://slack.com/api/")
# WhatsApp Cloud API (Meta): approved templates per event, JSON {"delayed": {"name": "...", "language": "en_US"}}.
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_APP_SECRET = env.str("WHATSAPP_APP_SECRET", default="")
WHATSAPP_API_BASE_URL = env.str("WHATSAPP_API_BASE_URL", default="https://graph.facebook.com/v21.0")
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default="")
WHATSAPP_TEMPLATES = env.json("WHATSAPP_TEMPLATES", default={})
# Mailgun (EU accounts: https://api.eu.mailgun.net).
MAILGUN_API_KEY = env.str("MAILGUN_API_KEY", default="")
MAILGUN_DOMAIN = env.str("MAILGUN_DOMAIN", default="")
MAILGUN_API_BASE_URL = env.str("MAILGUN_API_BASE_URL", default="https://api.mailgun.net")
MAILGUN_WEBHOOK_SIGNING_KEY = env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default="")
MAILGUN_WEBHOOK_MAX_AGE = env.int("MAILGUN_WEBHOOK_MAX_AGE", default=900)
# MessageBird SMS; status reports are signed (MessageBird-Signature-JWT) with the signing key.
MESSAGEBIRD_ACCESS_KEY = env.str("MESSAGEBIRD_ACCESS_KEY", default="")
MESSAGEBIRD_API_BASE_URL = env.str("MESSAGEBIRD_API_BASE_URL", default="https://rest.messagebird.com")
MESSAGEBIRD_ORIGINATOR = env.str("MESSAGEBIRD_ORIGINATOR", default="")
MESSAGEBIRD_SIGNING_KEY = env.str("MESSAGEBIRD_SIGNING_KEY", default="")
# MessageBird WhatsApp (Conversations API, POST /v1/send): the WhatsApp channel id, the account's
# template namespace and the approved templates per event (same JSON shape as WHATSAPP_TEMPLATES,
# which is used when this is empty).
MESSAGEBIRD_CONVERSATIONS_BASE_URL = env.str(
    "MESSAGEBIRD_CONVERSATIONS_BASE_URL", default="https://conversations.messagebird.com"
)
MESSAGEBIRD_WHATSAPP_CHANNEL_ID = env.str("MESSAGEBIRD_WHATSAPP_CHANNEL_ID", default="")
MESSAGEBIRD_WHATSAPP_NAMESPACE = env.str("MESSAGEBIRD_WHATSAPP_NAMESPACE", default="")
MESSAGEBIRD_WHATSAPP_TEMPLATES = env.json("MESSAGEBIRD_WHATSAPP_TEMPLATES", default={})
# Failover: providers per channel in order (JSON), e.g. {"email": ["sendgrid", "mailgun"]}; brands
# override it in the admin (Provider routes). Unconfigured providers are skipped.
NOTIFY_PROVIDER_ORDER = env.json("NOTIFY_PROVIDER_ORDER", default={})
# A message moves to the next provider after this many transient failures with one provider.
NOTIFY_FAILOVER_AFTER_ATTEMPTS = env.int("NOTIFY_FAILOVER_AFTER_ATTEMPTS", default=2)
# A provider's circuit opens after this many failures in a row, for this many seconds.
NOTIFY_CIRCUIT_FAILURES = env.int("NOTIFY_CIRCUIT_FAILURES", default=5)
NOTIFY_CIRCUIT_OPEN_SECONDS = env.int("NOTIFY_CIRCUIT_OPEN_SECONDS", default=60)
# A worker trusts a clean circuit it read for this long (a query per message otherwise); 0 reads every time.
NOTIFY_CIRCUIT_CACHE_SECONDS = env.float("NOTIFY_CIRCUIT_CACHE_SECONDS", default=1.0)
# A customer message waits at most this long for the staff alert of the same event to go first.
NOTIFY_STAFF_FIRST_WAIT_SECONDS = env.int("NOTIFY_STAFF_FIRST_WAIT_SECONDS", default=30)

# --- Sources and outbound webhooks ---
# Order sources (orders/sources): bootstrap secrets per source; per-shop secrets live encrypted in
# SourceAccount rows (admin), two valid at a time while rotating.
SOURCE_WEBHOOK_SECRETS = {
    "shopify": env.str("SOURCE_SHOPIFY_WEBHOOK_SECRET", default=""),
    "woocommerce": env.str("SOURCE_WOOCOMMERCE_WEBHOOK_SECRET", default=""),
    "generic": env.str("SOURCE_GENERIC_WEBHOOK_SECRET", default=""),
}
SOURCE_WEBHOOK_MAX_BYTES = env.int("SOURCE_WEBHOOK_MAX_BYTES", default=2 * 1024 * 1024)
SOURCE_SIGNATURE_TOLERANCE_SECONDS = env.int("SOURCE_SIGNATURE_TOLERANCE_SECONDS", default=300)
SOURCE_SWEEP_AFTER_SECONDS = env.int("SOURCE_SWEEP_AFTER_SECONDS", default=120)
SOURCE_SWEEP_BATCH = env.int("SOURCE_SWEEP_BATCH", default=500)
# A fulfillment or status change that beat its order is retried by the sweeper this many times.
SOURCE_WAITING_MAX_ATTEMPTS = env.int("SOURCE_WAITING_MAX_ATTEMPTS", default=30)
# Dead letters worth a staff alert: order value at least this, or a customer with this many orders.
SOURCE_HIGH_IMPACT_VALUE = Decimal(env.str("SOURCE_HIGH_IMPACT_VALUE", default="500"))
SOURCE_VIP_ORDER_COUNT = env.int("SOURCE_VIP_ORDER_COUNT", default=5)
# Outbound webhooks (notifications/outbound.py): Standard Webhooks, retried from a due_at column.
# Seconds after the first try for each retry (Svix's schedule: 8 attempts over about 27 hours).
OUTBOUND_WEBHOOK_SCHEDULE = env.list(
    "OUTBOUND_WEBHOOK_SCHEDULE", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
OUTBOUND_WEBHOOK_JITTER = env.float("OUTBOUND_WEBHOOK_JITTER", default=0.2)
OUTBOUND_WEBHOOK_DISABLE_AFTER_DAYS = env.int("OUTBOUND_WEBHOOK_DISABLE_AFTER_DAYS", default=5)
OUTBOUND_WEBHOOK_CONNECT_TIMEOUT = env.float("OUTBOUND_WEBHOOK_CONNECT_TIMEOUT", default=3.05)
OUTBOUND_WEBHOOK_READ_TIMEOUT = env.float("OUTBOUND_WEBHOOK_READ_TIMEOUT", default=10.0)
OUTBOUND_WEBHOOK_MAX_REDIRECTS = env.int("OUTBOUND_WEBHOOK_MAX_REDIRECTS", default=3)
CELERY_TASK_ROUTES.update(
    {
        "orders.sources.tasks.process_intake": {"queue": "default"},
        "orders.sources.tasks.sweep_intakes": {"queue": "default"},
        "notifications.outbound_tasks.deliver_webhook": {"queue": "default"},
        "notifications.outbound_tasks.sweep_webhooks": {"queue": "default"},
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "sources-sweep": {"task": "orders.sources.tasks.sweep_intakes", "schedule": timedelta(minutes=2)},
        "outbound-webhooks-sweep": {"task": "notifications.outbound_tasks.sweep_webhooks", "schedule": 30.0},
    }
)

# --- KPI dashboard (docs/kpis.md) -------------------------------------------------------------
# Beat refreshes the rollups this often; each run recomputes only the days whose records changed.
KPI_REFRESH_SECONDS = env.int("KPI_REFRESH_SECONDS", default=300)
# Rows changed this long before the last refresh are looked at again (commits land after their timestamps).
KPI_REFRESH_OVERLAP_SECONDS = env.int("KPI_REFRESH_OVERLAP_SECONDS", default=300)
CELERY_TASK_ROUTES.update({"kpis.tasks.refresh_kpis": {"queue": "bulk"}})
CELERY_BEAT_SCHEDULE.update(
    {"kpis-refresh": {"task": "kpis.tasks.refresh_kpis", "schedule": float(KPI_REFRESH_SECONDS)}}
)

# --- Operations: health, readiness, metrics (docs/operations.md) -------------------------------
# /metrics answers "Authorization: Bearer <METRICS_TOKEN>" or a client in METRICS_ALLOWED_NETWORKS
# (CIDRs, matched against REMOTE_ADDR); with neither set it answers nobody (the demo: loopback).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"] if DEBUG else [])
# Series read from the database count the rows of this recent window: an index range per scrape.
METRICS_WINDOW_SECONDS = env.int("METRICS_WINDOW_SECONDS", default=3600)
# Workers write a heartbeat to the broker's Redis this often; readiness wants one younger than STALE.
OPS_HEARTBEAT_SECONDS = env.int("OPS_HEARTBEAT_SECONDS", default=15)
OPS_HEARTBEAT_STALE_SECONDS = env.int("OPS_HEARTBEAT_STALE_SECONDS", default=60)
# Queues that each need a live worker for /readyz to answer 200.
OPS_REQUIRED_QUEUES = env.list("OPS_REQUIRED_QUEUES", default=["critical", "default", "bulk"])
# Each readiness probe (database, Redis) gives up after this many seconds.
OPS_CHECK_TIMEOUT_SECONDS = env.float("OPS_CHECK_TIMEOUT_SECONDS", default=2.0)

# --- Privacy and retention (docs/privacy.md) ---------------------------------------------------
# Message bodies and raw payloads older than this lose their personal data (rows are kept).
RETENTION_DAYS = env.int("RETENTION_DAYS", default=30)
# Rows per transaction of the purge: short transactions, bounded memory.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=500)
CELERY_TASK_ROUTES.update({"privacy.tasks.purge_expired": {"queue": "bulk"}})
CELERY_BEAT_SCHEDULE.update(
    {"privacy-purge-expired": {"task": "privacy.tasks.purge_expired", "schedule": crontab(hour=3, minute=23)}}
)
# Every log handler masks anything shaped like an e-mail or phone number that slips into a log line.
LOGGING["filters"]["redact_personal"] = {"()": "privacy.logging.RedactPersonalDataFilter"}
for _handler in LOGGING["handlers"].values():
    _handler.setdefault("filters", []).append("redact_personal")
