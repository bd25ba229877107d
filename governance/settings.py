"""Modelgate settings: one module, driven by the environment (see .env.example).

Defaults run the app on SQLite with a filesystem Celery broker so a fresh machine needs no
services; production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis or RabbitMQ).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise environ.ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-dev-only-key-modelgate"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files (no CDN; CSP 'self')
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "axes",
    "core",
    "governance",
    "inventory",
    "scanning",
    "licenses",
    "identity",
    "policies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.pagecache.GenerationMiddleware",  # permissions per data generation; read-your-writes (core/pagecache.py)
    "governance.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the 429 answer
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"

_loaders = [
    (
        "template_partials.loader.Loader",
        [
            (
                "django.template.loaders.cached.Loader",
                ["django.template.loaders.filesystem.Loader", "django.template.loaders.app_directories.Loader"],
            )
        ],
    )
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "loaders": _loaders,
            "builtins": ["template_partials.templatetags.partials", "core.templatetags.pagecache_tags"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.navigation",
                "core.pagecache.context",  # last: a shared render's placeholders win (core/pagecache.py)
            ],
        },
    }
]

if "DATABASE_URL" not in env:
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Two processes (web + worker) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: in-process by default (each web process keeps its own copies; correctness does not depend on it
# being shared: entries are keyed by the data generation, core/generation.py). CACHE_URL=redis://host:6379/1
# shares one cache between web processes (fewer misses); see README "Scaling".
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://modelgate")}
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    CACHES["default"].setdefault("OPTIONS", {})["MAX_ENTRIES"] = env.int("MODELGATE_CACHE_MAX_ENTRIES", default=1000)
else:
    # A cache every web process shares: sessions are read from it (written through to the database). Never
    # with the in-process cache, where a logout in one process would leave the session alive in the others.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Rendered pages (risk overview, triage list) and gate answers are reused while no governance data changed
# (core/pagecache.py), for at most these many seconds (what changes with the clock alone: "3 minutes ago").
MODELGATE_PAGE_CACHE = env.bool("MODELGATE_PAGE_CACHE", default=True)
MODELGATE_PAGE_CACHE_SECONDS = env.int("MODELGATE_PAGE_CACHE_SECONDS", default=60)
MODELGATE_GATE_CACHE_SECONDS = env.int("MODELGATE_GATE_CACHE_SECONDS", default=30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out username+address pairs
    "identity.login.LocalPasswordBackend",  # Django's ModelBackend; MODELGATE_LOCAL_LOGIN=0 limits it to superusers
    "identity.backends.MembershipBackend",  # permissions from organization memberships (scoped by core.permissions)
]  # + the LDAP and OIDC backends when configured (Single sign-on, below)
# Brute-force protection (django-axes) of the login form and POST /api/v1/auth/token/: after
# MODELGATE_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# refused for MODELGATE_LOGIN_COOLOFF_MINUTES. Behind reverse proxies set MODELGATE_PROXY_COUNT.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("MODELGATE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("MODELGATE_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command (scan/gate output stays clean)
AXES_LOCKOUT_CALLABLE = "core.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.auth.client_ip"
MODELGATE_PROXY_COUNT = env.int("MODELGATE_PROXY_COUNT", default=0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/work/"  # "my work"; roles without a queue are sent on to the overview
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- Security (check --deploy clean when DEBUG is off) ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp): our own origin only, no inline scripts or styles, no eval.
# Templates carry no inline handlers; behaviour lives in static/js/app.js.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identity.authentication.CITokenAuthentication",  # Bearer/Token mg_…: scoped, expiring CI tokens
        "rest_framework.authentication.TokenAuthentication",  # legacy: plain, never expires (kept for compatibility)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # The browsable API's forms offer only what the user may see (organization scope).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "core.api.ScopedBrowsableAPIRenderer"],
}
FILTERS_EMPTY_CHOICE_LABEL = "Any"  # an empty filter means any value (django-filter)
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelgate API",
    "DESCRIPTION": "Governance of AI models: inventory, scans, licenses, policies, waivers and the gate.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "NotificationEventEnum": "governance.models.NotificationEvent",
        "JobStateEnum": "inventory.choices.JobState",  # also ScanRun.state (scanning.choices.ScanState is JobState)
        "AnalysisStateEnum": "licenses.choices.AnalysisState",
        "ViolationStateEnum": "policies.choices.ViolationState",
        "WaiverStateEnum": "policies.choices.WaiverState",
        "DeliveryStateEnum": "governance.models.DeliveryState",
    },
}

# --- Celery ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None) or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# A scan's lease: a running scan whose worker has not renewed it for this long is taken over.
MODELGATE_SCAN_LEASE_SECONDS = env.int("MODELGATE_SCAN_LEASE_SECONDS", default=120)

# Every periodic task, in one place (tasks modules never touch the schedule).
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "inventory-watch": {"task": "inventory.poll_watches", "schedule": crontab(minute="*/15")},
    "scanning-recover-scans": {"task": "scanning.recover_scans", "schedule": crontab(minute="*")},
    "scanning-rescan-outdated": {"task": "scanning.rescan_outdated", "schedule": crontab(minute="7", hour="*")},
    "policies-expire-waivers": {"task": "policies.expire_waivers", "schedule": crontab(minute=5)},
    "governance-refresh-rollups": {"task": "governance.refresh_rollups", "schedule": crontab(minute="*")},
    "governance-risk-snapshot": {"task": "governance.take_risk_snapshot", "schedule": crontab(hour=23, minute=55)},
    "governance-notification-feed": {"task": "governance.process_feed", "schedule": crontab(minute="*")},
    "governance-waivers-expiring": {
        "task": "governance.notify_expiring_waivers",
        "schedule": crontab(hour=6, minute=30),
    },
    "governance-daily-digest": {"task": "governance.send_daily_digest", "schedule": crontab(hour=7, minute=0)},
    "governance-retry-deliveries": {
        "task": "governance.retry_stalled_deliveries",
        "schedule": crontab(minute="*/10"),
    },
}
CELERY_TIMEZONE = "UTC"

# --- Email / notifications ---
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="modelgate@localhost")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# --- Hugging Face Hub (read only by inventory/hub.py; the token is never shown or logged) ---
HF_ENDPOINT = env.str("HF_ENDPOINT", default="https://huggingface.co")
HF_TOKEN = env.str("HF_TOKEN", default="")
HF_TIMEOUT = env.float("HF_TIMEOUT", default=30.0)
MODELGATE_DOWNLOAD_DIR = env.path("MODELGATE_DOWNLOAD_DIR", default=str(VAR_DIR / "downloads"))
# Folders on the server that imports requested from the web UI or the API may read (the CLI, run by an
# operator on the server, may read any folder). Default: the Hugging Face cache and var/imports.
MODELGATE_LOCAL_IMPORT_ROOTS = env.list(
    "MODELGATE_LOCAL_IMPORT_ROOTS",
    default=[
        env.str("HF_HUB_CACHE", default=str(Path(env.str("HF_HOME", default="~/.cache/huggingface")) / "hub")),
        str(VAR_DIR / "imports"),
    ],
)
# Gate: a model the inventory has never seen is queued for import ("import": only for callers who may
# import; the answer stays "fail" until it is judged) or refused without queueing anything ("fail").
MODELGATE_GATE_UNKNOWN = env.str("MODELGATE_GATE_UNKNOWN", default="import")
# CI tokens: an expiry is required; how far ahead it may be set.
MODELGATE_CI_TOKEN_MAX_DAYS = env.int("MODELGATE_CI_TOKEN_MAX_DAYS", default=365)
# Webhooks go to public addresses only; internal receivers must be listed here (host names exactly,
# or addresses / CIDR networks), e.g. "hooks.corp.internal,10.20.0.0/16".
MODELGATE_WEBHOOK_ALLOWED_HOSTS = env.list("MODELGATE_WEBHOOK_ALLOWED_HOSTS", default=[])
MODELGATE_SITE_URL = env.str("MODELGATE_SITE_URL", default="http://127.0.0.1:8000")

# --- Scanning ---
# Per-file bounds overriding `scanning.scanners.base.Limits` fields, as a JSON object,
# e.g. {"max_seconds": 300, "max_decompressed": 8589934592}.
MODELGATE_SCAN_LIMITS: dict[str, Any] = env.json("MODELGATE_SCAN_LIMITS", default={})
# Files of one remote version scanned at once (remote reads are latency-bound).
MODELGATE_SCAN_WORKERS = max(1, env.int("MODELGATE_SCAN_WORKERS", default=4))

# --- Licenses ---
# Read base models' Hub cards for the licenses they pass down (off: lineage from imported versions only).
MODELGATE_LICENSE_HUB_LOOKUP = env.bool("MODELGATE_LICENSE_HUB_LOOKUP", default=True)

# --- Overview and waivers ---
# Seconds after which the overview warns that its figures are stale and asks a worker for a refresh
# (beat refreshes them every minute; a web request never recomputes them).
MODELGATE_OVERVIEW_MAX_AGE = env.int("MODELGATE_OVERVIEW_MAX_AGE", default=180)
# Default due date of a triage row, in days after it was first seen, per threat band (an empty value:
# no due date), e.g. "critical=7,severe=30,moderate=90,low=". A reviewer may set another date per row.
MODELGATE_TRIAGE_DUE_DAYS: dict[str, str] = env.dict(
    "MODELGATE_TRIAGE_DUE_DAYS", default={"critical": "7", "severe": "30", "moderate": "90", "low": "", "none": ""}
)
# Days before a waiver's expiry on which its subscribers are reminded (one reminder per threshold).
MODELGATE_WAIVER_REMINDER_DAYS: list[int] = env.list("MODELGATE_WAIVER_REMINDER_DAYS", cast=int, default=[7, 1])

# --- Single sign-on (identity.oidc, identity.ldap, identity.directory; README "Single sign-on") ---
# Local (password) accounts: on for the first administrator; 0 = only superusers may use a password.
MODELGATE_LOCAL_LOGIN = env.bool("MODELGATE_LOCAL_LOGIN", default=True)
# OpenID Connect (mozilla-django-oidc): on when an issuer (discovery) or the explicit endpoints and a client id are set.
MODELGATE_OIDC_ISSUER = env.str("MODELGATE_OIDC_ISSUER", default="")
OIDC_RP_CLIENT_ID = env.str("MODELGATE_OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("MODELGATE_OIDC_CLIENT_SECRET", default="")
OIDC_RP_SCOPES = env.str("MODELGATE_OIDC_SCOPES", default="openid email profile")
OIDC_RP_SIGN_ALGO = env.str("MODELGATE_OIDC_SIGN_ALGO", default="RS256")
OIDC_VERIFY_SSL = env.bool("MODELGATE_OIDC_VERIFY_SSL", default=True)
OIDC_TIMEOUT = env.float("MODELGATE_OIDC_TIMEOUT", default=10.0)
# Endpoints: empty = from the issuer's /.well-known/openid-configuration.
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("MODELGATE_OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("MODELGATE_OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("MODELGATE_OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("MODELGATE_OIDC_JWKS_ENDPOINT", default="")
MODELGATE_OIDC_END_SESSION_ENDPOINT = env.str("MODELGATE_OIDC_END_SESSION_ENDPOINT", default="")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and (MODELGATE_OIDC_ISSUER or OIDC_OP_AUTHORIZATION_ENDPOINT))
MODELGATE_OIDC_PROVIDER_NAME = env.str("MODELGATE_OIDC_PROVIDER_NAME", default="single sign-on")
# Claim holding the user's groups (a dotted path such as realm_access.roles is followed).
MODELGATE_OIDC_GROUPS_CLAIM = env.str("MODELGATE_OIDC_GROUPS_CLAIM", default="groups")
# Groups → roles: "group=role;group=role@org-slug" or a JSON object (identity.directory.parse_group_map).
MODELGATE_OIDC_GROUP_MAP = env.str("MODELGATE_OIDC_GROUP_MAP", default="")
# 1: a user none of whose groups is mapped is created without roles (default: refused).
MODELGATE_OIDC_ALLOW_UNMAPPED = env.bool("MODELGATE_OIDC_ALLOW_UNMAPPED", default=False)
# 1: logging out of Modelgate also ends the session at the provider (RP-initiated logout).
MODELGATE_OIDC_LOGOUT = env.bool("MODELGATE_OIDC_LOGOUT", default=False)
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = MODELGATE_OIDC_LOGOUT  # the id_token_hint of the logout request
OIDC_CREATE_USER = True
LOGIN_REDIRECT_URL_FAILURE = "login"
# LDAP / Active Directory bind (identity.ldap, ldap3): on when a server URI is set.
MODELGATE_LDAP_SERVER_URI = env.str("MODELGATE_LDAP_SERVER_URI", default="")
MODELGATE_LDAP_START_TLS = env.bool("MODELGATE_LDAP_START_TLS", default=False)
MODELGATE_LDAP_VERIFY_SSL = env.bool("MODELGATE_LDAP_VERIFY_SSL", default=True)
MODELGATE_LDAP_TIMEOUT = env.int("MODELGATE_LDAP_TIMEOUT", default=10)
# Either bind directly as "uid={username},ou=people,dc=example,dc=org" (or "{username}@corp.example" for AD) …
MODELGATE_LDAP_USER_DN_TEMPLATE = env.str("MODELGATE_LDAP_USER_DN_TEMPLATE", default="")
# … or search the user with a service account, then bind as the entry found.
MODELGATE_LDAP_BIND_DN = env.str("MODELGATE_LDAP_BIND_DN", default="")
MODELGATE_LDAP_BIND_PASSWORD = env.str("MODELGATE_LDAP_BIND_PASSWORD", default="")
MODELGATE_LDAP_USER_SEARCH_BASE = env.str("MODELGATE_LDAP_USER_SEARCH_BASE", default="")
MODELGATE_LDAP_USER_FILTER = env.str("MODELGATE_LDAP_USER_FILTER", default="(uid={username})")
# Groups: entries under this base whose member attribute holds the user's DN (empty: the memberOf attribute).
MODELGATE_LDAP_GROUP_SEARCH_BASE = env.str("MODELGATE_LDAP_GROUP_SEARCH_BASE", default="")
MODELGATE_LDAP_GROUP_FILTER = env.str(
    "MODELGATE_LDAP_GROUP_FILTER", default="(|(member={user_dn})(uniqueMember={user_dn}))"
)
# The group's name in the map: "cn" (its common name) or "dn" (its whole DN).
MODELGATE_LDAP_GROUP_NAME = env.str("MODELGATE_LDAP_GROUP_NAME", default="cn")
MODELGATE_LDAP_GROUP_MAP = env.str("MODELGATE_LDAP_GROUP_MAP", default="")
MODELGATE_LDAP_ALLOW_UNMAPPED = env.bool("MODELGATE_LDAP_ALLOW_UNMAPPED", default=False)
# Attributes of the user entry: username, email, first and last name.
_LDAP_ATTRIBUTES = {"username": "uid", "email": "mail", "first_name": "givenName", "last_name": "sn"}
MODELGATE_LDAP_ATTRIBUTES: dict[str, str] = env.json("MODELGATE_LDAP_ATTRIBUTES", default=_LDAP_ATTRIBUTES)
if MODELGATE_LDAP_SERVER_URI:
    AUTHENTICATION_BACKENDS.insert(1, "identity.ldap.LDAPBackend")  # after axes, before local passwords
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.append("identity.oidc.ModelgateOIDCBackend")
    if MODELGATE_OIDC_LOGOUT:
        # The logout form's redirect to the provider is a form action (CSP form-action covers redirects).
        from urllib.parse import urlsplit as _urlsplit

        _op = _urlsplit(MODELGATE_OIDC_END_SESSION_ENDPOINT or MODELGATE_OIDC_ISSUER)
        CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_op.scheme}://{_op.netloc}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "huggingface_hub": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # The filesystem broker has no host; kombu warns about that on every connection.
        "kombu.connection": {"level": "ERROR"},
    },
}
