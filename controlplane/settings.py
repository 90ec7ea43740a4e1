"""One settings module for every deployment, configured by environment variables.

The embedded default (no variables set) is SQLite under var/, the in-memory channel layer and
the in-process executor. See the README's configuration table for every variable.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from controlplane.conf import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_secret("SECRET_KEY", fallback_file=VAR_DIR / "secret_key")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off (set SECRET_KEY or SECRET_KEY_FILE; "
            "`make run` generates var/secret_key for local use)."
        )
    SECRET_KEY = "insecure-debug-only-key"

# Encrypts signing keys at rest: a urlsafe-base64 32-byte key (Fernet).
ENCRYPTION_KEY = env_secret("ENCRYPTION_KEY", fallback_file=VAR_DIR / "encryption_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_NAME = env_str("SITE_NAME", "Control Plane")
# The base URL apps and browsers reach this server at (SDK set-up hints, invitation links).
PUBLIC_URL = env_str("PUBLIC_URL", "").rstrip("/")

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "controlplane.accounts",
    "controlplane.tenancy",
    "controlplane.keys",
    "controlplane.events",
    "controlplane.registry",
    "controlplane.runs",
    "controlplane.flow",
    "controlplane.bulk",
    "controlplane.ops",
    "controlplane.observability",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.FirstRunMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
ASGI_APPLICATION = "controlplane.asgi.application"

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
                "dashboard.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock up front
    # so two writers queue on busy_timeout instead of failing with "database is locked".
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# On PostgreSQL every process pools its connections by default: at most DB_POOL_SIZE, handed
# across threads (a thread that finds them all busy waits for one). Under ASGI each request runs
# in a thread of its own, so a per-thread connection is never reused, and one kept open
# (DB_CONN_MAX_AGE) stays open, idle, per request thread until PostgreSQL refuses clients: only
# Celery workers may keep theirs (controlplane/asgi.py refuses it). README: Database connections.
_postgres = _database["ENGINE"] == "django.db.backends.postgresql"
_persistent = _database["CONN_MAX_AGE"] != 0
DB_POOL_SIZE = env_int("DB_POOL_SIZE", 10 if _postgres and not _persistent else 0, minimum=0)
if DB_POOL_SIZE:
    if not _postgres:
        raise ImproperlyConfigured("DB_POOL_SIZE needs a PostgreSQL DATABASE_URL.")
    if _persistent:
        raise ImproperlyConfigured("Set DB_POOL_SIZE or DB_CONN_MAX_AGE, not both.")
    _database.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_SIZE}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer ----------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Execution ----------------------------------------------------------------------------

EXECUTOR_BACKEND = env_choice("EXECUTOR_BACKEND", ("local", "celery"), "local")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
if EXECUTOR_BACKEND == "celery" and not CELERY_BROKER_URL:
    raise ImproperlyConfigured("EXECUTOR_BACKEND=celery needs CELERY_BROKER_URL (or REDIS_URL).")
CELERY_IMPORTS = ["controlplane.engine.tasks", "controlplane.observability.worker"]
# The broker queue this deployment's messages go to; two deployments can share a broker.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "controlplane")
CELERY_TASK_IGNORE_RESULT = True
# A message only says "work is due": the job's lease and the sweeper recover what a lost message
# or a dead worker leaves (controlplane/engine/tasks.py), so messages are acked on receipt, as
# local bookkeeping. Redis's ack emulation (an unacked hash, restored on close or after the
# visibility timeout) would add nothing but I/O on the channel of a lost connection: a late ack
# or the restore at reconnect then raises AttributeError and Celery 5.7 stops the worker.
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"ack_emulation": False}
# Acks on receipt leave no late-acked task to cancel; Celery 6's default, without its warning
# at every reconnect.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# Worker threads of the local backend (inside the server process).
LOCAL_WORKERS = env_int("LOCAL_WORKERS", 16, minimum=1)
# A worker's claim on a job; kept alive while the job runs, so a dead worker's jobs are
# claimable again this many seconds after it died.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 30, minimum=1)
# Celery backend: re-send a due job whose message may have been lost after this long.
JOB_REPUBLISH_SECONDS = env_int("JOB_REPUBLISH_SECONDS", 30, minimum=1)
ENGINE_POLL_SECONDS = env_float("ENGINE_POLL_SECONDS", 1.0, minimum=0.05)
# Cron times missed while the scheduler was down run when it is back if they are at most this
# old; older ones are skipped, logged and audited (engine/cron.py). At least a minute, so a fire
# that is merely late still runs.
CRON_CATCHUP_SECONDS = env_int("CRON_CATCHUP_SECONDS", 3600, minimum=60)
# How long a worker keeps calling one run back as its steps finish before the run's next call
# queues like any other (controlplane/engine/worker.py); 0 queues every call.
ENGINE_KEEP_SECONDS = env_float("ENGINE_KEEP_SECONDS", 1.0, minimum=0)
SDK_CALL_TIMEOUT_SECONDS = env_float("SDK_CALL_TIMEOUT_SECONDS", 300, minimum=1)
# Execution requests larger than this go out with `use_api` (PROTOCOL.md 4.7), like Go's 4 MiB.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 4 * 1024 * 1024, minimum=1024)
# Multiplies Inngest's retry backoff table (15 s, 30 s, 1 m, ...): below 1 for tests and demos.
RETRY_BACKOFF_SCALE = env_float("RETRY_BACKOFF_SCALE", 1.0, minimum=0)

# --- Apps and syncs -----------------------------------------------------------------------

# How long the server waits for an app it syncs (connect, and each answer).
APP_SYNC_TIMEOUT_SECONDS = env_int("APP_SYNC_TIMEOUT_SECONDS", 15, minimum=1)
# "first": the first organization's Development environment becomes the server's dev-mode
# environment (like Inngest's dev server) unless one is marked already. `make run` sets it.
DEV_MODE_ENVIRONMENT = env_choice("DEV_MODE_ENVIRONMENT", ("", "first"), "")
# --- Event API -----------------------------------------------------------------------------

# The largest `POST /e/{key}` body accepted (all events of one request); refused with 413 while
# it streams in (controlplane/api/body_limit.py). Inngest's default is 3 MiB.
EVENT_API_MAX_BODY_BYTES = env_int("EVENT_API_MAX_BODY_BYTES", 3 * 1024 * 1024, minimum=1024)
# The largest single event (as stored: name, data, user, meta...), from the Event API, the
# dashboard or a REST body; larger ones are 413. Inngest's default is 512 KiB.
EVENT_API_MAX_EVENT_BYTES = env_int("EVENT_API_MAX_EVENT_BYTES", 512 * 1024, minimum=1024)

# --- Authentication -----------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "account:login"
LOGIN_REDIRECT_URL = "dashboard:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SIGNIN_MAX_FAILURES_PER_ACCOUNT = env_int("SIGNIN_MAX_FAILURES_PER_ACCOUNT", 5, minimum=1)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int("SIGNIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1)
SIGNIN_LOCKOUT_SECONDS = env_int("SIGNIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)
# A second factor must follow the password within this many seconds.
SIGNIN_SECOND_FACTOR_SECONDS = 5 * 60
# Sensitive actions (revealing a signing key) need a password or code this recent.
REAUTH_MAX_AGE_SECONDS = env_int("REAUTH_MAX_AGE_SECONDS", 5 * 60, minimum=1)
OTP_TOTP_ISSUER = SITE_NAME

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60, minimum=60)
# An open websocket checks its person may still see its page at least this often (removals
# and second-factor changes close it at once; this catches expiry and lost announcements).
WEBSOCKET_RECHECK_SECONDS = env_float("WEBSOCKET_RECHECK_SECONDS", 60, minimum=1)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- HTTPS and security headers -----------------------------------------------------------

HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Static files -------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Observability ------------------------------------------------------------------------

# /metrics (Prometheus): off unless enabled; with METRICS_TOKEN it needs `Authorization: Bearer`.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_TOKEN = env_secret("METRICS_TOKEN")
# Celery workers on other machines serve their own metrics at this "host:port" (unset: off).
METRICS_WORKER_LISTEN = env_str("METRICS_WORKER_LISTEN", "")
# "json": one JSON object per log line, with run_id / step_id on the engine's lines.
LOG_FORMAT = env_choice("LOG_FORMAT", ("text", "json"), "text")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "controlplane.observability.logging.ContextFilter"}},
    "formatters": {"json": {"()": "controlplane.observability.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
