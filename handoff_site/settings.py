"""Settings, all from the environment, with working defaults for the embedded mode.

Embedded (no DATABASE_URL / REDIS_URL): a SQLite file, the in-memory channel layer (the other
processes relay to it), and Celery on kombu's filesystem transport under ``var/``. Production:
PostgreSQL with a psycopg pool, Redis for the channel layer and the Celery broker.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HANDOFF_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
INSECURE_DEFAULT_SECRET_KEY = "insecure-embedded-default-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
# The embedded mode (the Quickstart) may run with the default key; anything else may not.
EMBEDDED = env_bool("HANDOFF_EMBEDDED", not os.environ.get("DATABASE_URL"))
if SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY and not (DEBUG or EMBEDDED):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set in production (a long random string); "
        "the default key is only allowed in the embedded mode or with DEBUG=1."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The metrics' covering index (case_metrics) is a plain index on SQLite, as intended.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "ninja",
    "queues",
    "cases",
    "demo.apps.DemoBotConfig",
    "web",
    "axes",  # sign-in throttling, after django.contrib.auth as its docs ask
    "csp",
]

MIDDLEWARE = [
    # First: every log line of the request, whichever layer writes it, carries its id.
    "handoff_site.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "handoff_site.middleware.ApiProblemMiddleware",  # outside the rest: it answers for their errors
    "handoff_site.middleware.ApiBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "handoff_site.middleware.HtmxSignInMiddleware",
    "handoff_site.middleware.AdminToFieldMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "handoff_site.urls"
ASGI_APPLICATION = "handoff_site.asgi.application"
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
    {
        # Only the hot fragments (cases/_queue_row.jinja, _transcript.jinja, _badges.jinja),
        # which the tags of cases/templatetags render by name; every page stays a Django template.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "handoff_site.jinja_env.environment"},
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'desk.sqlite3'}"
DB_POOL_MAX = env_int("DB_POOL_MAX_SIZE", 8)
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every sync view runs in a worker thread; a pool (not CONN_MAX_AGE) keeps the
    # number of PostgreSQL connections bounded and reuses them.
    _db["OPTIONS"] = {
        **_db.get("OPTIONS", {}),
        "pool": {
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            "max_size": DB_POOL_MAX,
            "timeout": 10,
        },
    }
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL + a busy timeout let the server and the worker share the file without "locked" errors.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["TEST"] = {"NAME": None}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer and celery broker --------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # The pub/sub layer: group_send is one PUBLISH (the core layer runs a Lua script per group
    # and raised ChannelFull under streaming); a missed frame is healed by the page's resync.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Pub/sub ignores Redis database numbers: desks sharing a Redis need their own prefix.
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "desk"),
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    # The pages' sockets live in the one web process: the worker and every other process relay
    # their group_sends to it over a Unix socket under var/ (cases/live/relay.py).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "cases.live.relay.RelayChannelLayer",
            "CONFIG": {"path": str(VAR_DIR / "live.sock")},
        }
    }
    # A real broker without any server: kombu's filesystem transport under var/, with its
    # races between processes closed (handoff_site/broker.py).
    CELERY_BROKER_URL = "deskfs://"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The transport sleeps this long whenever it finds no message or may not take one (the
        # worker's prefetch is full): at kombu's 1 s the worker ran about 3 tasks a second
        # however short (200 drained in 54-90 s, 6 s at 0.1), and the SLA sweep, behind 600
        # queued callbacks, marked a breach 157 s late (24 s at 0.1).
        "polling_interval": 0.1,
    }

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# A callback's task is sent after the commit, while the request waits: with the broker down, give
# up quickly (the row stays in the outbox and the sweeper sends it) instead of the default ~0.8 s
# of retries on every change.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "idempotency-purge": {"task": "cases.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "delivery-sweep": {"task": "cases.tasks.sweep_deliveries", "schedule": 30.0},
    "presence-purge": {"task": "cases.tasks.purge_presence", "schedule": 60.0},
    # Every second: a breach is marked within about a second of its due time.
    "sla-breaches": {"task": "cases.tasks.mark_sla_breaches", "schedule": 1.0},
    # A customer left alone past their queue's unstaffed time is told within this period.
    "unstaffed-cases": {"task": "cases.tasks.mark_unstaffed_cases", "schedule": 15.0},
    "escalation-timing-sweep": {"task": "cases.tasks.sweep_escalation_timing", "schedule": 60.0},
    # Queue updates held back by the one-a-minute throttle, or due to a change of who is
    # online, go out within this period (cases/services/queue_updates.py).
    "queue-updates-sweep": {"task": "cases.tasks.sweep_queue_updates", "schedule": 15.0},
    # Push queues (cases/services/assignment.py): overdue offers time out, lapsed agents go
    # offline, and what still waits is offered, within this period even if a task was lost.
    "assignment-sweep": {"task": "cases.tasks.sweep_assignment", "schedule": 5.0},
    # The metrics' daily rollups: days whose cases changed are recomputed; until then the
    # metrics page reads those days' cases directly (cases/metrics/rollups.py).
    "metrics-rollups": {"task": "cases.tasks.refresh_metrics_rollups", "schedule": 300.0},
}

# --- auth -------------------------------------------------------------------------------------
LOGIN_URL = "login"
CSRF_FAILURE_VIEW = "handoff_site.pages.csrf_failure"
LOGIN_REDIRECT_URL = "cases:home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out sign-in before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- i18n / static ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The customer's messages in their language (cases/notices.py); the desk's own pages stay in
# English (no LocaleMiddleware).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT: Path | None = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# ServeStatic (WhiteNoise's async-capable successor) serves our own static files, no CDN.
# Embedded and DEBUG read them in place; production serves what `collectstatic` gathered,
# with hashed names and compression.
SERVESTATIC_USE_FINDERS = EMBEDDED or DEBUG
if SERVESTATIC_USE_FINDERS and "STATIC_ROOT" not in os.environ:
    STATIC_ROOT = None
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
    }

# --- security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # The probes of a load balancer speak plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^prometheus/?$"]
    # A year, as `check --deploy` and the preload list ask; HSTS_PRELOAD only by choice.
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading binds the domain and every subdomain to HTTPS in browsers for months: the
        # domain owner's choice (HSTS_PRELOAD=1), not a default; check --deploy need not nag.
        SILENCED_SYSTEM_CHECKS.append("security.W021")


def _style_hash(template: str) -> str:
    """The CSP source of a template's one <style> block: 'sha256-<base64 of its digest>'."""
    text = (BASE_DIR / "templates" / template).read_text()
    found = re.search(r"<style>(.*?)</style>", text, re.S)
    if not found:
        return NONE
    digest = base64.b64encode(hashlib.sha256(found[1].encode()).digest()).decode()
    return f"'sha256-{digest}'"


_500_STYLE_HASH = _style_hash("500.html")

# Content-Security-Policy (django-csp): scripts only from our own static files (a nonce for an
# inline one that cannot be avoided; none today), no eval (htmx runs with allowEval false), the
# page's socket and fetches to this origin only ('self' covers ws:/wss: of the same host).
# Style attributes are allowed (style-src-attr): the metrics chart's legend colours and heat map
# shades and the console's load bars are data, not a class; an attribute runs no script and,
# without a selector, reads nothing. <style> elements stay ours: desk.css, a nonce, or the hash
# of the standalone 500 page's own block (it is rendered without a request, so without a nonce).

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE, _500_STYLE_HASH],
        "style-src-elem": [SELF, NONCE, _500_STYLE_HASH],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"upgrade-insecure-requests": True} if HTTPS else {}),
    },
}

# Sign-in throttling (django-axes), on the desk's sign-in and the admin's: after
# SIGNIN_FAILURE_LIMIT wrong passwords for one username, or from one address, that username or
# address waits SIGNIN_LOCKOUT_MINUTES (Zendesk and Front lock for minutes too, not for ever).
# Attempts made while locked out do not extend the wait, so the time on the page holds. A signed
# in user clears their own count; an admin unlocks on the desk's Lockouts page
# (handoff_site/lockouts.py), in Admin > Axes > Access attempts (delete) or with `manage.py
# axes_reset_username NAME`. Every failure and lockout is kept in Axes' access failure log, every
# sign-in in its access log, every unlock in the admin's log; refusals and unlocks log a line.
AXES_ENABLED = env_bool("SIGNIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SIGNIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks: per user, per address
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "handoff_site.signin.locked_out"
AXES_USERNAME_CALLABLE = "handoff_site.signin.username_tried"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every manage.py command
# The address is REMOTE_ADDR: behind a proxy, run uvicorn with --proxy-headers (SECURITY.md).

# --- the desk ---------------------------------------------------------------------------------
# Whole request body of an API call; larger is a 413 before anything is parsed.
HANDOFF_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = HANDOFF_MAX_BODY_BYTES
# Attachments on transcript messages (cases/package.py). Uploaded content (base64 in the package)
# is stored with Django's storage API under MEDIA_ROOT and served only by the case page's own view
# (web/views/attachments.py), never by a public path: no MEDIA_URL route exists. Each upload is at
# most HANDOFF_ATTACHMENT_MAX_BYTES (720 KiB: its base64, 960 KiB, fits the 1 MiB body; keep it a
# multiple of 3 so the published schema's maxLength is exact) and of a type on the allow-list. A
# URL attachment is only linked, never fetched by the desk (no SSRF), whatever its type.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
HANDOFF_ATTACHMENT_MAX_BYTES = env_int("HANDOFF_ATTACHMENT_MAX_BYTES", 720 * 1024)
# Types a browser may run (markup, scripts, SVG's scripts): never stored, whatever the list says.
NEVER_STORED_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
}


def attachment_types(values: list[str]) -> list[str]:
    """The allow-list, lowercase; one that lists a type a browser runs stops the desk."""
    kinds = [kind.lower() for kind in values]
    if refused := NEVER_STORED_TYPES.intersection(kinds):
        raise ImproperlyConfigured(
            f"HANDOFF_ATTACHMENT_TYPES may not list {', '.join(sorted(refused))}: "
            "a browser runs them."
        )
    return kinds


HANDOFF_ATTACHMENT_TYPES = attachment_types(
    env_list(
        "HANDOFF_ATTACHMENT_TYPES",
        ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"],
    )
)
# Idempotency keys are honoured at least this long (the draft and Stripe say 24 hours).
HANDOFF_IDEMPOTENCY_TTL_SECONDS = env_int("HANDOFF_IDEMPOTENCY_TTL_SECONDS", 48 * 3600)
# A request holding a key longer than this is presumed dead, and the key may be taken over.
HANDOFF_IDEMPOTENCY_LOCK_SECONDS = 60
# Public base URL used in API responses (case_url) and callbacks.
HANDOFF_BASE_URL = os.environ.get("HANDOFF_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Customer lifetime value from which a customer counts as high value.
HANDOFF_HIGH_VALUE_LTV = float(os.environ.get("HANDOFF_HIGH_VALUE_LTV", "2500"))
# A handoff is late when the escalation policy would have handed off this many customer
# messages or more before the bot did (the metrics page's "late escalations").
HANDOFF_LATE_ESCALATION_MESSAGES = env_int("HANDOFF_LATE_ESCALATION_MESSAGES", 2)
HANDOFF_HIGH_VALUE_TIERS = env_list("HANDOFF_HIGH_VALUE_TIERS", ["gold", "platinum", "vip"])
# Intent confidence under which a handoff is a low-confidence one.
HANDOFF_CONFIDENCE_FLOOR = float(os.environ.get("HANDOFF_CONFIDENCE_FLOOR", "0.5"))
# Callbacks: seconds before each retry (then the delivery is dead), and the request timeout.
DEFAULT_RETRY_SECONDS = "5,30,120,600,1800,3600,10800,21600"  # about 10 hours in all
HANDOFF_CALLBACK_RETRY_SECONDS = [
    int(s) for s in env_list("HANDOFF_CALLBACK_RETRY_SECONDS", DEFAULT_RETRY_SECONDS.split(","))
]
HANDOFF_CALLBACK_TIMEOUT_SECONDS = float(os.environ.get("HANDOFF_CALLBACK_TIMEOUT_SECONDS", "10"))
# Callbacks to private / loopback addresses are refused unless allowed (demo and tests allow).
HANDOFF_ALLOW_PRIVATE_CALLBACKS = env_bool("HANDOFF_ALLOW_PRIVATE_CALLBACKS", EMBEDDED or DEBUG)
# The demo's stand-in bot platform at /demo/bot/ (receives and shows callbacks).
HANDOFF_DEMO = env_bool("HANDOFF_DEMO", EMBEDDED)

# --- operations: the Prometheus endpoint and the logs (#18) ------------------------------------
# GET /prometheus serves the desk's own metrics (handoff_site/monitoring.py) only when switched
# on, and then only to a scraper that sends the bearer token and/or comes from an allowed
# address (both when both are set). Switched on with neither, the desk refuses to start.
HANDOFF_PROMETHEUS = env_bool("HANDOFF_PROMETHEUS", False)
HANDOFF_PROMETHEUS_TOKEN = os.environ.get("HANDOFF_PROMETHEUS_TOKEN", "")


def prometheus_networks(values: list[str]) -> list[str]:
    """Addresses or networks (CIDR), normalised; a typo stops the desk instead of locking the
    scraper out (or everyone in)."""
    try:
        return [str(ipaddress.ip_network(value, strict=False)) for value in values]
    except ValueError as error:
        raise ImproperlyConfigured(f"HANDOFF_PROMETHEUS_ALLOWED_IPS: {error}") from None


HANDOFF_PROMETHEUS_ALLOWED_IPS = prometheus_networks(env_list("HANDOFF_PROMETHEUS_ALLOWED_IPS", []))
if HANDOFF_PROMETHEUS and not (HANDOFF_PROMETHEUS_TOKEN or HANDOFF_PROMETHEUS_ALLOWED_IPS):
    raise ImproperlyConfigured(
        "HANDOFF_PROMETHEUS=1 needs HANDOFF_PROMETHEUS_TOKEN (a long random string) or "
        "HANDOFF_PROMETHEUS_ALLOWED_IPS (the scrapers' addresses), or both."
    )
if HANDOFF_PROMETHEUS_TOKEN and len(HANDOFF_PROMETHEUS_TOKEN) < 16:
    raise ImproperlyConfigured("HANDOFF_PROMETHEUS_TOKEN must be at least 16 characters.")

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request_id, exception)
# for a log shipper; the default stays key=value text for people.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
_log_handler = {"handlers": ["console"], "propagate": False}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"},
        "json": {"()": "observability.logs.JsonLinesFormatter"},
    },
    "filters": {"request_id": {"()": "observability.logs.RequestIdFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "kv",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per outbound request is noise (and may carry URLs with tokens).
        "httpx": {"level": "WARNING"},
        # Axes says INFO for every step of every sign-in; its failures and lockouts are WARNINGs.
        "axes": {"level": "WARNING"},
        # uvicorn set up its own text handlers before Django started: JSON means every line.
        **(
            {name: _log_handler for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
            if LOG_FORMAT == "json"
            else {}
        ),
    },
}
# Celery replaces the root logger's handlers with its own text format unless told not to.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
