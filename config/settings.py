"""Settings, all from the environment (django-environ).

With nothing set, the product runs on the embedded default: SQLite under ``var/``,
a local-memory cache and Celery tasks executed in-process after commit. With
``DATABASE_URL`` and ``CELERY_BROKER_URL`` (or ``REDIS_URL``) set it runs on
PostgreSQL, Redis and real Celery workers. Every variable is listed in
``docs/configuration.md``.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))  # first: every setting below, VAR_DIR included, may be in it

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env.bool("DEBUG", default=False)
# The embedded default (no DATABASE_URL, DEBUG not explicitly false) is one machine with
# SQLite: it may mint its own keys. Anything else may be one node of several, and a node
# that minted its own key would refuse every other node's sessions, tokens and codes.
EMBEDDED_DEFAULT = not env.str("DATABASE_URL", default="") and (
    env.str("DEBUG", default="") == "" or DEBUG
)
# Keys generated for the embedded default, written to VAR_DIR by config.apps at start-up
# (importing the settings writes nothing).
LOCAL_SECRETS_TO_WRITE: dict[str, str] = {}


def _secret(name: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not EMBEDDED_DEFAULT:
        raise ImproperlyConfigured(
            f"{name} is not set. With DATABASE_URL or DEBUG=false this may be one node of "
            f"several, and every node must use the same {name}: set it in the environment "
            "or in .env, e.g. to the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    path = VAR_DIR / name.lower()
    if path.exists():
        return path.read_text().strip()
    LOCAL_SECRETS_TO_WRITE[path.name] = secrets.token_urlsafe(50)
    return LOCAL_SECRETS_TO_WRITE[path.name]


SECRET_KEY = _secret("SECRET_KEY")
# Keys the HMAC of OTP codes and API tokens. Kept apart from SECRET_KEY so rotating
# the session key does not invalidate every issued API token.
OTP_HASH_KEY = _secret("OTP_HASH_KEY")
# Encrypts what a database dump must not reveal (message texts, gateway credentials):
# OTP_ENCRYPTION_KEYS="new,old" rotates (the first encrypts, all decrypt); a single
# OTP_ENCRYPTION_KEY otherwise. See docs/configuration.md.
OTP_ENCRYPTION_KEYS = env.list("OTP_ENCRYPTION_KEYS", default=[]) or [_secret("OTP_ENCRYPTION_KEY")]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL used in API previews and delivery-report callbacks.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config.apps.ProjectConfig",
    "streams",
    "otp",
    "gateways",
    "console",
    "compat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "console.context.console",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    # No `SELECT 1` before every request's first query (a round trip per API call): a
    # connection found dead fails that one request with 503 and is closed then (see
    # otp.api.to_otp_error); the next request opens a fresh one.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
    # Behind a pooler in transaction mode (PgBouncer, docs/operations.md): a named
    # cursor (``QuerySet.iterator()``) cannot outlive the transaction that opened it.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
else:
    # SQLite: wait for the write lock instead of failing under concurrent requests.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttles, the token lookup cache) -----------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="otp"),
            # A cache that is down or hung costs a request at most this long: the
            # request throttles then fail open (otp/api.py).
            "OPTIONS": {
                "socket_connect_timeout": env.float("CACHE_TIMEOUT_SECONDS", default=1.0),
                "socket_timeout": env.float("CACHE_TIMEOUT_SECONDS", default=1.0),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
# No broker configured: the embedded default runs tasks in-process (after commit,
# because every task is enqueued with transaction.on_commit).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=100)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this long (a worker died mid-task).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_DEFAULT_QUEUE", default="default")
CELERY_TIMEZONE = "UTC"
# Publishing gives up fast when the broker is down: the message stays queued and the
# periodic re-queue sends it later; an API request must not hang on a dead broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-messages": {
        "task": "gateways.requeue_stale_messages",
        "schedule": env.float("GATEWAY_REQUEUE_EVERY_SECONDS", default=30.0),
    },
    "expire-verifications": {"task": "otp.expire_verifications", "schedule": 60.0},
    "sweep-webhooks": {
        "task": "streams.sweep_webhooks",
        "schedule": env.float("WEBHOOK_SWEEP_EVERY_SECONDS", default=10.0),
    },
    # The timed fallback triggers (no delivered report / no check within N seconds).
    "fire-due-fallbacks": {
        "task": "otp.fire_due_fallbacks",
        "schedule": env.float("OTP_FALLBACK_EVERY_SECONDS", default=5.0),
    },
    "prune-verifications": {"task": "otp.prune_verifications", "schedule": 3600.0},
    "prune-messages": {"task": "gateways.prune_messages", "schedule": 3600.0},
    "refresh-rollups": {"task": "otp.refresh_rollups", "schedule": 60.0},
    "forget-expired-codes": {"task": "gateways.forget_expired_codes", "schedule": 60.0},
    # The routes that learn: demote and promote gateways by measured conversion.
    "learn-routes": {
        "task": "gateways.learn_routes",
        "schedule": env.float("GATEWAY_LEARN_EVERY_SECONDS", default=60.0),
    },
}

# --- Auth, i18n, static ------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["console.auth.ThrottledModelBackend"]
# Sign-in throttling (console/auth.py): failures allowed per user name and per client
# address within the window before sign-in is refused until the window ends.
LOGIN_FAILURES_PER_USER = env.int("LOGIN_FAILURES_PER_USER", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE", default="django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Serve straight from the app folders when collectstatic has not been run (development).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="OTP Streams <noreply@localhost>")

# --- Security -----------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
# The console's scripts are all static files (no inline script or handler), so scripts
# are limited to our own origin; the API docs use the split Swagger view for the same
# reason. Inline styles stay allowed: they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Addresses of reverse proxies whose X-Forwarded-For is believed; from anyone else the
# header is ignored and the socket address is the caller.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- REST API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "otp.api.exception_handler",
}
# The OTP API refuses bodies above this size (an auth request needs well under 2 KB).
# How long the stream an API token names stays cached (0: off). Saves delete it at once.
OTP_STREAM_CACHE_SECONDS = env.int("OTP_STREAM_CACHE_SECONDS", default=300)
OTP_API_MAX_BODY_BYTES = env.int("OTP_API_MAX_BODY_BYTES", default=16 * 1024)
# Request throttles ("N/s", "N/m", "N/h"; empty turns one off): per stream token and per
# caller address, so one integrator's bug cannot flood a gateway.
OTP_API_RATE_PER_TOKEN = env.str("OTP_API_RATE_PER_TOKEN", default="100/s")
OTP_API_RATE_PER_IP = env.str("OTP_API_RATE_PER_IP", default="200/s")
# VerifyNow compatibility (docs/compat.md): how long an auth token from the token call
# stays valid. Rotating the credential's secret revokes its tokens at once.
COMPAT_VERIFYNOW_TOKEN_TTL_SECONDS = env.int(
    "COMPAT_VERIFYNOW_TOKEN_TTL_SECONDS", default=7 * 24 * 3600
)
SPECTACULAR_SETTINGS = {
    "TITLE": "OTP Streams API",
    "DESCRIPTION": "Send one-time passwords and verify them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "otp.schema.add_response_headers",
    ],
}

# --- The product ----------------------------------------------------------------------
# Gateway used when an account has no route configured (the console outbox by default).
OTP_DEFAULT_GATEWAY = env.str("OTP_DEFAULT_GATEWAY", default="console")
# Serve /bench/ceiling, the benchmarks' bare JSON view (bench/); never in production.
OTP_BENCH_CEILING = env.bool("OTP_BENCH_CEILING", default=False)
# Dispatch: retries per gateway hop (exponential backoff with jitter), then failover.
GATEWAY_MAX_RETRIES = env.int("GATEWAY_MAX_RETRIES", default=3)
GATEWAY_RETRY_BASE_SECONDS = env.float("GATEWAY_RETRY_BASE_SECONDS", default=2.0)
GATEWAY_RETRY_MAX_SECONDS = env.float("GATEWAY_RETRY_MAX_SECONDS", default=300.0)
GATEWAY_HTTP_TIMEOUT = env.float("GATEWAY_HTTP_TIMEOUT", default=10.0)
# Dispatch in batches: messages claimed by one task, and gateway calls in flight per
# worker process (a thread pool: the calls wait on the network).
GATEWAY_BATCH_SIZE = env.int("GATEWAY_BATCH_SIZE", default=100)
GATEWAY_BATCH_CONCURRENCY = env.int("GATEWAY_BATCH_CONCURRENCY", default=100)
# A message still queued this long after it was due is re-enqueued by celery beat.
GATEWAY_REQUEUE_AFTER_SECONDS = env.int("GATEWAY_REQUEUE_AFTER_SECONDS", default=60)
# A claim (status sending) older than this belongs to a dead worker and is released. It
# must exceed the task time limit, after which Celery has killed a task still running.
GATEWAY_CLAIM_LEASE_SECONDS = env.int(
    "GATEWAY_CLAIM_LEASE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 30
)
# Routes that learn (gateways/learning.py): each gateway and country is measured over its
# last N sends within the last H hours, leaving out sends younger than the settle time
# (their codes may still be entered).
GATEWAY_LEARNING_WINDOW_HOURS = env.int("GATEWAY_LEARNING_WINDOW_HOURS", default=24)
GATEWAY_LEARNING_WINDOW_MESSAGES = env.int("GATEWAY_LEARNING_WINDOW_MESSAGES", default=200)
GATEWAY_LEARNING_SETTLE_SECONDS = env.int("GATEWAY_LEARNING_SETTLE_SECONDS", default=120)
# Event webhooks (otp/webhooks.py): each delivery is retried with exponential backoff
# (base doubling up to the maximum) for WEBHOOK_RETRY_FOR_SECONDS (25 h), then given up.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
WEBHOOK_RETRY_FOR_SECONDS = env.int("WEBHOOK_RETRY_FOR_SECONDS", default=90000)
# A claim older than this belongs to a dead worker; the sweep re-enqueues chains idle
# for longer than the grace (their task was lost).
WEBHOOK_CLAIM_LEASE_SECONDS = env.int("WEBHOOK_CLAIM_LEASE_SECONDS", default=60)
WEBHOOK_SWEEP_GRACE_SECONDS = env.float("WEBHOOK_SWEEP_GRACE_SECONDS", default=10.0)
# Contact CSV import: the largest file taken (refused whole above it, never cut), and the
# number of rows imported within the request; larger files are imported by a worker.
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
CONTACT_IMPORT_INLINE_ROWS = env.int("CONTACT_IMPORT_INLINE_ROWS", default=20_000)
OTP_RETENTION = timedelta(days=env.int("OTP_RETENTION_DAYS", default=90))
# The overview and the analytics API bring the rollups up to date first when their last
# refresh is older than this (the beat task refreshes them every minute; the embedded
# default runs no beat).
OTP_ANALYTICS_MAX_AGE_SECONDS = env.int("OTP_ANALYTICS_MAX_AGE_SECONDS", default=60)
# The fraud and cost guard (docs/security.md). Prices and money budgets are in one
# currency (ISO 4217); the wizard proposes these countries to a new stream (the admin
# confirms or changes them: a stream never sends everywhere without being told so).
OTP_CURRENCY = env.str("OTP_CURRENCY", default="EUR")
OTP_DEFAULT_COUNTRIES = env.list("OTP_DEFAULT_COUNTRIES", default=[])

# Every log record is scrubbed of passwords, tokens, codes and receipt secrets, whoever
# logs it (urllib3's debug lines carry whole provider URLs): see streams/log_scrubbing.py.
LOGGING_CONFIG = "streams.log_scrubbing.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_secrets": {"()": "streams.log_scrubbing.ScrubSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
