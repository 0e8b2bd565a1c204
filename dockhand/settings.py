"""dockhand settings: every knob is a DOCKHAND_* environment variable (spec §2)."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from dockhand.envconf import (
    default_allowed_hosts,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_public_url,
    env_str,
    split_bind,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(env_str("DOCKHAND_DATA_DIR", str(BASE_DIR / "data")) or "data").resolve()
try:
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"DOCKHAND_DATA_DIR {DATA_DIR} cannot be created: {exc.strerror}") from exc


def _secret_key() -> str:
    """The configured key, or one generated once and kept (0600) in the data dir."""
    configured = env_str("DOCKHAND_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        # O_EXCL: the web server and the worker may start at the same moment.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ImproperlyConfigured(f"cannot write {key_file}: {exc.strerror}") from exc
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DOCKHAND_DEBUG", False)
BIND = env_str("DOCKHAND_BIND", "127.0.0.1:8000") or "127.0.0.1:8000"
BIND_HOST, BIND_PORT = split_bind(BIND)
# Daphne processes serving BIND side by side (dockhand.listen): one process runs one
# request's Python at a time, so one a core by default. Forked from one parent that
# loaded the product (dockhand.prefork), each costs what it does not share with it.
_CORES = len(os.sched_getaffinity(0))
# Threads per web process running the views marked quick (dockhand/lanes.py).
QUICK_THREADS = env_int("DOCKHAND_QUICK_THREADS", 2, minimum=1)
WEB_PROCESSES = env_int("DOCKHAND_WEB_PROCESSES", _CORES, minimum=1)
# The base of every URL shown or sent out (webhook URLs, notifications); empty means
# "the host of the request", which ALLOWED_HOSTS then vouches for.
PUBLIC_URL = env_public_url("DOCKHAND_PUBLIC_URL")
# Any other Host header is answered 400 (envconf.default_allowed_hosts says what unset means).
ALLOWED_HOSTS = env_list("DOCKHAND_ALLOWED_HOSTS") or default_allowed_hosts(BIND_HOST, PUBLIC_URL)
CSRF_TRUSTED_ORIGINS = env_list("DOCKHAND_CSRF_TRUSTED_ORIGINS")
if PUBLIC_URL:
    # A TLS proxy in front sends the public origin; the request itself may look like http.
    public = urlsplit(PUBLIC_URL)
    CSRF_TRUSTED_ORIGINS.append(f"{public.scheme}://{public.netloc}")

ADMIN_USERNAME = env_str("DOCKHAND_ADMIN_USERNAME", "admin") or "admin"
ADMIN_PASSWORD = env_str("DOCKHAND_ADMIN_PASSWORD")

# Working copies, generated env files and per-run key files live here.
STACKS_DIR = DATA_DIR / "stacks"
RUN_DIR = DATA_DIR / "run"
# The longest a compose run may take before it is killed and the sync fails.
DEPLOY_TIMEOUT = env_int("DOCKHAND_DEPLOY_TIMEOUT", 1800, minimum=10)
# How long a sync's stack lock lasts unless its worker renews it (every quarter of it):
# a worker that died holds a stack no longer than this plus one tick of the clock.
LOCK_LEASE = env_int("DOCKHAND_LOCK_LEASE", 120, minimum=8)
# How long one git command may take; a remote that does not answer fails after it.
GIT_TIMEOUT = env_int("DOCKHAND_GIT_TIMEOUT", 60, minimum=5)
# A cancelled compose run gets SIGTERM, then SIGKILL after this many seconds.
CANCEL_GRACE = env_int("DOCKHAND_CANCEL_GRACE", 10, minimum=1)
# On Ctrl-C or SIGTERM a running deploy may finish within this many seconds; then its
# compose is stopped (CANCEL_GRACE) and the deploy runs again on the next start.
STOP_GRACE = env_int("DOCKHAND_STOP_GRACE", 30, minimum=0)
# How many due stacks the auto-sync clock checks at once (each is mostly an ls-remote).
AUTO_SYNC_CONCURRENCY = env_int("DOCKHAND_AUTO_SYNC_CONCURRENCY", 16, minimum=1)
# Of those, the `ls-remote`s the clock runs at once against one forge host.
AUTO_SYNC_PER_FORGE = env_int("DOCKHAND_AUTO_SYNC_PER_FORGE", 2, minimum=1)
# Output lines a deployment keeps: the first half and the last half, with one line
# saying how many were left out between them (stacks/services/output.py).
OUTPUT_MAX_LINES = env_int("DOCKHAND_OUTPUT_MAX_LINES", 5000, minimum=10)
# How long the API's default (waiting) /sync holds the request open.
SYNC_WAIT_TIMEOUT = env_int("DOCKHAND_SYNC_WAIT_TIMEOUT", DEPLOY_TIMEOUT + GIT_TIMEOUT, minimum=1)
COMPOSE_COMMAND = env_str("DOCKHAND_COMPOSE_COMMAND", "") or ""
# The largest request body the web server reads (dockhand/bodylimit.py refuses more, 413,
# before reading it). The largest real ones are webhook payloads, which stop at 1 MiB
# anyway (stacks/services/webhooks.py); this bounds what any request may make the web
# process hold. Django reads up to the same size.
MAX_BODY_BYTES = env_int("DOCKHAND_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# Refuse git remotes on loopback/private/link-local addresses (off: home labs use them).
BLOCK_PRIVATE_GIT_HOSTS = env_bool("DOCKHAND_BLOCK_PRIVATE_GIT_HOSTS", False)
DEFAULT_DOCKER_HOST = env_str("DOCKER_HOST", "") or ""
# Names the worker a deployment runs on, so a restarted node knows which running
# deployments were its own (and are dead). One `serve` per name.
NODE_NAME = env_str("DOCKHAND_NODE_NAME") or socket.gethostname()

# Not "daphne": that app only gives `runserver` an ASGI server, and importing it
# starts Twisted's event loop, which the web processes must not inherit (dockhand.prefork).
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files, served from static/ like the rest (no CDN: CSP and offline hosts).
    "drf_spectacular_sidecar",
    # Before django_q: its `qcluster` command is stacks' own (recovery, the clock, a
    # graceful stop), and Django runs the command of the first app that has it.
    "stacks",
    "django_q",
    "channels",
    "dockhand.apps.DockhandConfig",
    "gitsync",
]

MIDDLEWARE = [
    # First: X-Forwarded-Proto is believed from trusted proxies only, before anything
    # asks whether the request is secure; and every response gets its security headers.
    "dockhand.security.ForwardedProtoMiddleware",
    "dockhand.security.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves static/ from the app itself (Daphne does not serve files).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dockhand.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "dockhand.ratelimit.RateLimitHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees a view's exception first: errors under /api/ are JSON.
    "dockhand.api.ApiErrorsMiddleware",
]

ROOT_URLCONF = "dockhand.urls"
ASGI_APPLICATION = "dockhand.asgi.application"
WSGI_APPLICATION = None

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

DATABASE_URL = env_str("DATABASE_URL", "") or ""
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "dockhand.sqlite",
            "NAME": str(DATA_DIR / "dockhand.sqlite3"),
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; busy_timeout
                # makes a writer wait for the lock instead of failing at once, and
                # IMMEDIATE takes that lock at BEGIN so two writers cannot deadlock.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
    # DRF imports PostgreSQL's model fields whenever psycopg is installed (it is, for
    # the scale-out), and psycopg with them: ~10 MiB of every Django process, unused on
    # SQLite (benchmark #7). A None in sys.modules fails that optional import as if absent.
    sys.modules.setdefault("django.contrib.postgres.fields", None)  # type: ignore[arg-type]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def redis_channel_layers(url: str) -> dict[str, object]:
    # redis-py 8 reads with a 5 s socket timeout by default, shorter than the channel
    # layer's blocking pop: every idle viewer's socket then died with TimeoutError
    # (django/channels_redis#422). An explicit, longer one keeps them open.
    host = {"address": url, "socket_timeout": 30, "socket_connect_timeout": 5}
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}}


REDIS_URL = env_str("DOCKHAND_REDIS_URL", "") or ""
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = redis_channel_layers(REDIS_URL)
else:
    # A file cache is shared by the web and worker processes of one host, which the
    # worker heartbeat in /api/health relies on.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

Q_CLUSTER: dict[str, object] = {
    "name": "dockhand",
    "workers": env_int("DOCKHAND_WORKERS", 2, minimum=1),
    # timeout < retry: a deploy still running is never handed to a second worker.
    "timeout": DEPLOY_TIMEOUT + GIT_TIMEOUT + 60,
    "retry": DEPLOY_TIMEOUT + GIT_TIMEOUT + 300,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "label": "Tasks",
    # How often an idle worker looks for work: a sync someone waits on starts within it.
    "poll": 0.05,
    "sync": env_bool("DOCKHAND_TASKS_INLINE", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The same broker, woken by each queued task instead of waiting for its next poll.
    Q_CLUSTER["broker_class"] = "dockhand.broker.ORM"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dockhand.tokens.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "dockhand.tokens.TokenScopes"],
    "DEFAULT_RENDERER_CLASSES": ["dockhand.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "dockhand.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "dockhand.openapi.AutoSchema",
}

# GET /api/schema (dockhand/openapi.py says what the views cannot).
SPECTACULAR_SETTINGS = {
    "TITLE": "dockhand API",
    "DESCRIPTION": (
        "Deploy Docker Compose stacks from git. Authenticate with a bearer token "
        "(`Authorization: Bearer dh_…`, scoped) or the dashboard's cookie session. "
        'Every error is `{"error": "…"}`, with `fields` for invalid input.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dockhand.openapi.plain_views_hook",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "dockhand.views.csrf_failure"  # a styled page with the navigation
# Served over TLS (the public URL says so): the cookies never travel in clear. A request
# that came over TLS gets secure cookies whatever this says (dockhand/security.py).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PUBLIC_URL.startswith("https://")
# Strict-Transport-Security; Django's SecurityMiddleware sends it on TLS requests only.
SECURE_HSTS_SECONDS = 365 * 24 * 3600

LANGUAGE_CODE = "en-us"
# Cron schedules are read in this zone (django-q2 follows TIME_ZONE).
TIME_ZONE = env_str("DOCKHAND_TIME_ZONE", "UTC") or "UTC"
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(
        f"DOCKHAND_TIME_ZONE {TIME_ZONE!r} is not a known time zone (e.g. Europe/Berlin)"
    ) from exc
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from static/ without a collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOG_LEVEL = (env_str("DOCKHAND_LOG_LEVEL", "INFO") or "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django_q": {"level": "WARNING"}},
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/stacks/"
LOGOUT_REDIRECT_URL = "/login/"

# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated);
# without one, the client address is the direct peer.
TRUSTED_PROXIES = env_networks("DOCKHAND_TRUSTED_PROXIES")
# Their X-Forwarded-Proto says whether the client used TLS; anyone else's is dropped
# before Django reads it (dockhand.security.ForwardedProtoMiddleware).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None

# GET /metrics answers a bearer DOCKHAND_METRICS_TOKEN, or a client address inside
# DOCKHAND_METRICS_ALLOW (addresses or CIDRs), which is empty unless set: behind a
# proxy on the same host every visitor comes from loopback, so no address is trusted
# by default.
METRICS_TOKEN = env_str("DOCKHAND_METRICS_TOKEN", "") or ""
METRICS_ALLOW = env_networks("DOCKHAND_METRICS_ALLOW")

# (events, seconds) per window: failed logins and bad bearer tokens per client address,
# failed webhook signatures per stack/repository and address, API calls per token.
RATE_LIMITS = {
    "login_failures": (env_int("DOCKHAND_RATELIMIT_LOGIN_FAILURES", 10, minimum=1), 300),
    "bad_tokens": (env_int("DOCKHAND_RATELIMIT_BAD_TOKENS", 20, minimum=1), 300),
    "webhook_failures": (env_int("DOCKHAND_RATELIMIT_WEBHOOK_FAILURES", 30, minimum=1), 300),
    "token_calls": (env_int("DOCKHAND_RATELIMIT_TOKEN_CALLS", 600, minimum=1), 60),
}
