"""Settings for closedlost, read from the environment.

Works out of the box on SQLite with Celery's filesystem transport under var/;
DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis. DJANGO_PRODUCTION=1
turns on the production hardening that `manage.py check --deploy` looks for.
"""

import logging
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF

from closedlost.settings_parts.env import PRODUCTION, envbool, envint, envlist

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CLOSEDLOST_VAR_DIR", BASE_DIR / "var"))

DEBUG = envbool("DJANGO_DEBUG", default=not PRODUCTION)

if PRODUCTION:
    SECRET_KEY = os.environ["SECRET_KEY"]  # no default: production must set one
else:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me-for-production-use")

# Old keys still verify sessions and signed links, and still decrypt CRM secrets, after a rotation.
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS")

# How many reverse proxies in front of the app append to X-Forwarded-For (0: none, trust the socket).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",  # triggers declared in a model's Meta.triggers (PostgreSQL only)
    "teams",
    "reasons",
    "deals",
    # apps: taxonomy (issue 4) lives in reasons; follow-ups, insights, crm add themselves below
    "outbox",
    "followups",
    "insights",
    "crm",
    "surveys",
    "reviews",
    "people",
    "alerts",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "signin",
    "closedlost.apps.ClosedlostConfig",  # the project's own system checks
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "signin.middleware.ScimBearerMiddleware",  # /scim/v2/: the bearer token or 401
    "signin.middleware.SecondFactorMiddleware",  # a password sign-in with a device: its code first
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "closedlost.urls"
WSGI_APPLICATION = "closedlost.wsgi.application"
AUTH_USER_MODEL = "teams.User"

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
                "closedlost.nav.nav",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A process keeps its connection for a minute (checked before reuse): a fresh one costs a few
    # milliseconds, and the dashboards' triggers plan their statements once per connection.
    DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web app, the worker and beat share the file: wait for the lock instead of failing,
    # take it when a transaction starts, and let readers read while one writes (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # The dashboards' rollup (and its NULLS NOT DISTINCT key) is PostgreSQL's only: on SQLite the
    # figures come from the deals, so the missing constraint does not matter; nor do the covering
    # columns (INCLUDE) of an index, which SQLite leaves out.
    SILENCED_SYSTEM_CHECKS = ["models.W047", "models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sign-in: passwords, lockout, single sign-on, SCIM and the second factor.
from closedlost.settings_parts.signin import *  # noqa: E402,F403

# CRM API hosts trusted as they are (on-premise CRMs on internal addresses or plain http).
CRM_ALLOWED_HOSTS = envlist("CRM_ALLOWED_HOSTS")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# The organisation's currency: dashboards convert deal amounts into it.
ORG_CURRENCY = os.environ.get("ORG_CURRENCY", "USD")
# Findings (insights/findings.py): the false discovery rate across one request, and the fewest
# deals a cell needs in each period to be tested.
FINDINGS_FDR = float(os.environ.get("FINDINGS_FDR", "0.05"))
FINDINGS_MIN_COUNT = envint("FINDINGS_MIN_COUNT", 10)
# Disqualified losses (a reason flagged disqualifying) are counted apart and left out of the win
# rates; set this to count them in the rates as losses.
WIN_RATE_INCLUDES_DISQUALIFIED = envbool("WIN_RATE_INCLUDES_DISQUALIFIED", False)
DEAL_LIST_PAGE_SIZE = envint("DEAL_LIST_PAGE_SIZE", 25)

# The JSON API: token or session auth, per-object scoping in each view (selectors), a
# cursor on every list, and a rate limit per user.
REST_FRAMEWORK = {
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # the API's rate limits count the same client address
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "teams.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["closedlost.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("API_RATE_LIMIT", "6000/hour")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "closedlost.api_errors.exception_handler",
}
# API tokens (django-rest-knox): only a hash of each is stored, and each expires. A person may
# hold a few at once (one per script); issuing one more revokes their oldest.
# A refused form answers with the product's page (buyer-friendly on survey and opt-out links).
CSRF_FAILURE_VIEW = "closedlost.csrf.csrf_failure"
API_TOKEN_TTL_DAYS = envint("API_TOKEN_TTL_DAYS", 90)
API_TOKENS_PER_USER = envint("API_TOKENS_PER_USER", 10)
# Beat deletes tokens this many days after they expired (until then they answer "expired on ...").
API_TOKEN_EXPIRED_KEEP_DAYS = envint("API_TOKEN_EXPIRED_KEEP_DAYS", 7)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS),
    "TOKEN_PREFIX": "cl_",  # tells a leaked closedlost token apart in a log or a secret scanner
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "closedlost API",
    "DESCRIPTION": "Deals, closures with standard reasons, the reason taxonomy, follow-ups and loss figures.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema needs a signed-in user or a token, like every other API answer.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind": name the reason's one in the schema.
    "ENUM_NAME_OVERRIDES": {"ReasonKindEnum": "reasons.models.ReasonKind"},
}

# Content-Security-Policy: only our own files; no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Celery: Redis when REDIS_URL is set (production, tests); otherwise the
# filesystem transport under var/ so `make run` needs no other server.
REDIS_URL = os.environ.get("REDIS_URL", "")
if (
    REDIS_URL
    and os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw")
    and "REDIS_URL_FOR_XDIST" not in os.environ
):
    # `pytest -n N`: each test process flushes and uses a Redis database of its own; the
    # workers and servers it starts inherit the same address.
    _base, _, _db = REDIS_URL.rpartition("/")
    _worker = int(os.environ["PYTEST_XDIST_WORKER"][2:])
    REDIS_URL = f"{_base}/{(int(_db or 0) - _worker) % 16}" if _db.isdigit() else REDIS_URL
    os.environ["REDIS_URL"] = os.environ["REDIS_URL_FOR_XDIST"] = REDIS_URL
CELERY_DATA_DIR = VAR_DIR / "celery"

# The API's rate-limit counts: in Redis when there is one, so every web worker counts together.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "closedlost-throttle",
            "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
    ),
}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A message a worker took but never acknowledged (the worker was killed) comes back after
    # this many seconds; the outbox usually re-publishes it sooner (OUTBOX_CLAIM_LEASE).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 120),
        "socket_connect_timeout": envint("CELERY_BROKER_CONNECT_TIMEOUT", 2),
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "data_folder_processed": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
# Publishing is bounded: a broker that does not answer fails the publish in seconds (the
# outbox keeps the row and publishes it again) instead of holding a web request.
CELERY_BROKER_CONNECTION_TIMEOUT = envint("CELERY_BROKER_CONNECT_TIMEOUT", 2)
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    # Follow-ups: claim the due ones every minute; a tick that waited too long is dropped.
    "followups-dispatch": {
        "task": "followups.dispatch_due",
        "schedule": float(envint("FOLLOWUPS_DISPATCH_EVERY", 60)),  # seconds
        "options": {"expires": 55},
    },
    # The outbox: publish again every hand-off left unpublished or unfinished.
    "outbox-sweep": {
        "task": "outbox.sweep",
        "schedule": float(envint("OUTBOX_SWEEP_EVERY", 10)),  # seconds (OUTBOX_SWEEP_EVERY below)
        "options": {"expires": 9},
    },
    "followups-digest": {"task": "followups.send_digests", "schedule": crontab(hour=7, minute=0)},
    # API tokens: every user's expired ones go (API_TOKEN_EXPIRED_KEEP_DAYS after they expired).
    "teams-delete-expired-tokens": {
        "task": "teams.delete_expired_tokens",
        "schedule": crontab(hour=4, minute=10),
    },
    # Dashboards: fold the summary rows the triggers append; check it against the deals nightly.
    "insights-compact-rollup": {
        "task": "insights.compact_rollup",
        "schedule": float(envint("ROLLUP_COMPACT_EVERY", 300)),  # seconds
        "options": {"expires": 240},
    },
    "insights-check-rollup": {"task": "insights.check_rollup", "schedule": crontab(hour=3, minute=30)},
    # Alerts: each rule checked for its last full week or month; fires once per rule and period.
    "alerts-check": {
        "task": "alerts.check",
        "schedule": float(envint("ALERTS_CHECK_EVERY", 3600)),  # seconds
        "options": {"expires": 1800},
    },
    # Buyer surveys: create the automatic ones that are due, re-publish any not delivered yet.
    "surveys-dispatch": {
        "task": "surveys.dispatch_due",
        "schedule": float(envint("SURVEYS_DISPATCH_EVERY", 60)),  # seconds
        "options": {"expires": 55},
    },
    # Win/loss reviews: make those whose week or month has ended (hourly; REVIEWS_EVERY in tests).
    "reviews-create-due": {
        "task": "reviews.create_due",
        "schedule": float(envint("REVIEWS_EVERY", 3600)),  # seconds
        "options": {"expires": 1800},
    },
    # CRMs: apply what the webhooks missed and report the deals that still differ.
    "crm-reconcile": {
        "task": "crm.tasks.reconcile_all",
        "schedule": float(envint("CRM_RECONCILE_EVERY", 3600)),  # seconds
        "options": {"expires": 1800},
    },
}

# Dashboards: the nightly repair rests this long between slices of deals, so closes keep a core.
ROLLUP_REBUILD_PAUSE_MS = envint("ROLLUP_REBUILD_PAUSE_MS", 20)
# Deals an import put off refreshing (insights.rollup.defer_refresh): the compaction refreshes
# those still waiting after this many seconds (their import's worker died; one running refreshes
# its own at its end).
ROLLUP_PENDING_AFTER = envint("ROLLUP_PENDING_AFTER", 3600)

# Follow-ups: links in emails, retries with backoff, and when a handed-out row is handed out again.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
# Our company's name as buyers read it ({{ org.name }} in their e-mails).
ORG_NAME = os.environ.get("ORG_NAME", "Our sales team")
FOLLOWUPS_MAX_ATTEMPTS = envint("FOLLOWUPS_MAX_ATTEMPTS", 5)
FOLLOWUPS_RETRY_BACKOFF = envint("FOLLOWUPS_RETRY_BACKOFF", 30)  # seconds, doubling, at most 300
FOLLOWUPS_CLAIM_LEASE = envint("FOLLOWUPS_CLAIM_LEASE", 300)  # seconds; a backstop behind the outbox
FOLLOWUPS_PER_MESSAGE = envint("FOLLOWUPS_PER_MESSAGE", 50)  # follow-ups one worker task sends

# The outbox (every hand-off to the worker): a message not finished this many seconds after it
# was written or last published is published again by the sweep (every OUTBOX_SWEEP_EVERY s);
# a worker holds a message for OUTBOX_CLAIM_LEASE seconds (renewed while it works), so one
# killed mid-batch is taken over within lease + sweep (under a minute by default).
OUTBOX_REPUBLISH_AFTER = envint("OUTBOX_REPUBLISH_AFTER", 20)
# Hot paths (webhooks) publish from a background thread that gathers this many seconds first.
OUTBOX_PUBLISH_WINDOW = float(os.environ.get("OUTBOX_PUBLISH_WINDOW", "0.05"))
OUTBOX_CLAIM_LEASE = envint("OUTBOX_CLAIM_LEASE", 45)
# An item whose handler raises is tried OUTBOX_MAX_ATTEMPTS times in all (a kind may say otherwise),
# waiting OUTBOX_RETRY_BACKOFF seconds doubling up to OUTBOX_RETRY_BACKOFF_MAX (with jitter), then
# it fails for good: shown on /outbox/, and e-mailed to the admins at most once per kind every
# OUTBOX_ALERT_EVERY seconds.
OUTBOX_MAX_ATTEMPTS = envint("OUTBOX_MAX_ATTEMPTS", 5)
OUTBOX_RETRY_BACKOFF = envint("OUTBOX_RETRY_BACKOFF", 30)
OUTBOX_RETRY_BACKOFF_MAX = envint("OUTBOX_RETRY_BACKOFF_MAX", 3600)
OUTBOX_ALERT_EVERY = envint("OUTBOX_ALERT_EVERY", 3600)
# /health/ answers 503 when the sweep (beat) has not run for this many seconds.
OUTBOX_SWEEP_EVERY = envint("OUTBOX_SWEEP_EVERY", 10)
OUTBOX_SWEEP_STALE_AFTER = envint("OUTBOX_SWEEP_STALE_AFTER", max(120, 6 * OUTBOX_SWEEP_EVERY))

# Buyer surveys: how long a link works, how long a handed-out e-mail waits before it is handed out
# again, and how many survey pages one address may load or post a minute.
SURVEYS_LINK_MAX_AGE_DAYS = envint("SURVEYS_LINK_MAX_AGE_DAYS", 60)
SURVEYS_CLAIM_LEASE = envint("SURVEYS_CLAIM_LEASE", 900)  # seconds
SURVEYS_MAX_ATTEMPTS = envint("SURVEYS_MAX_ATTEMPTS", 5)
SURVEYS_RATE_LIMIT = os.environ.get("SURVEYS_RATE_LIMIT", "30/min")

# CRM integration: attempts before a webhook event goes to the dead-letter list (or a
# write-back is marked failed), the first retry delay, and the public address the CRMs call
# (HubSpot signs the full URI; set it when a proxy rewrites host or scheme).
CRM_MAX_ATTEMPTS = envint("CRM_MAX_ATTEMPTS", 5)
# Webhook receivers keep a connection this many seconds per process (0: read it every time).
CRM_CONNECTION_CACHE_SECONDS = float(os.environ.get("CRM_CONNECTION_CACHE_SECONDS", "5"))
CRM_RETRY_BASE_SECONDS = float(os.environ.get("CRM_RETRY_BASE_SECONDS", "2"))
CRM_WEBHOOK_BASE_URL = os.environ.get("CRM_WEBHOOK_BASE_URL", "")
# A webhook is answered once its events are on disk (the CRM will not send them again). "0" lets
# the answer skip waiting for PostgreSQL's flush: a database crash could then lose the last
# instant of deliveries, which only the next reconciliation repairs. Measured: no faster here.
CRM_WEBHOOK_SYNCHRONOUS_COMMIT = os.environ.get("CRM_WEBHOOK_SYNCHRONOUS_COMMIT", "1") == "1"
# The receivers' statement is prepared once per database connection; "0" behind a pooler that
# gives one client several server connections (PgBouncer in transaction mode).
CRM_WEBHOOK_PREPARED = os.environ.get("CRM_WEBHOOK_PREPARED", "1") == "1"
# CRM secrets are encrypted at rest (django-fernet-encrypted-fields) with keys derived from
# SECRET_KEY (and its fallbacks) and these salts: the first encrypts, every one decrypts.
SALT_KEY = envlist("CRM_SECRETS_SALTS", "closedlost-crm-secrets")
# Alert webhooks (Slack, Teams): hosts trusted as they are (else https and public only), the
# POST's timeout, and the tries of a delivery before it fails for good (alerts/).
ALERTS_WEBHOOK_ALLOWED_HOSTS = envlist("ALERTS_WEBHOOK_ALLOWED_HOSTS")
ALERTS_WEBHOOK_TIMEOUT = float(os.environ.get("ALERTS_WEBHOOK_TIMEOUT", "10"))
ALERTS_MAX_ATTEMPTS = envint("ALERTS_MAX_ATTEMPTS", 6)

# Development prints e-mails to the console; production sends by SMTP and must say where
# (`manage.py check --deploy` fails without EMAIL_HOST: contacts' e-mails never go to a log).
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST_GIVEN = bool(os.environ.get("EMAIL_HOST"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "closedlost <noreply@closedlost.invalid>")

# Structured logs: one JSON object a line in production, readable text in development.
# The worker logs through these handlers too (Celery keeps its hands off the root logger), and
# Python warnings become log lines like the rest.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "closedlost.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"one_line_refusals": {"()": "closedlost.logging.OneLineRefusals"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain"),
            "filters": ["one_line_refusals"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django_scim": {"level": "WARNING"},  # its DEBUG lines carry request bodies (passwords)
    },
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
