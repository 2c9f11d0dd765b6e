"""Settings for the tutoring system, read from the environment.

Defaults are the embedded set-up (SQLite in ``var/``, in-memory channel layer, embedded LLM), so a
fresh clone runs with no configuration. Production sets ``DEBUG=0``, ``SECRET_KEY``,
``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TUTOR_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean; a value that is not clearly true or false stops start-up."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


DEBUG = env_bool("DEBUG", True)

_secret = env_secret("SECRET_KEY")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
    _secret = "insecure-development-key-only-for-local-use-do-not-deploy-0123456789"
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "content",
    "tracing",
    # The tutoring app and its rooms: how a course is taught (settings, goals, conditions) sits below
    # the rest; teaching (classes, dashboards) and research (consent, grants, exports) read it.
    "tutor.courses",
    "tutor.planning",
    "tutor",
    "tutor.teaching",
    "tutor.research",
    "axes",  # websec: sign-in lockout
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # websec: answers a locked-out sign-in (last, as axes requires)
]

ROOT_URLCONF = "config.urls"

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
                "tutor.context_processors.roles_context",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tutor.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
# A persistent connection the database dropped (restart, failover, pg_terminate_backend) is noticed
# and replaced before use instead of failing the next tutoring turn.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A tutoring turn writes from a worker thread while the page reads: WAL keeps them apart.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"})

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels_redis waits for messages with a 5 s server-side BZPOPMIN; redis-py 8 also times out
            # reads after 5 s by default, so an idle consumer would crash (websocket closed with 1011).
            # Reads must outlast the blocking pop.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}]},
        }
    }
    # Throttle counters (tutor/ratelimit.py) must be shared by every worker process.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "tutor"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- websec (issue 19, defects 8-10): sign-in lockout (django-axes), client address -----------------
# See tutor/ratelimit.py. Addresses or networks of the reverse proxies whose X-Forwarded-For is
# believed (e.g. "127.0.0.1" for nginx on the same machine); nobody else's is. Comma-separated.
TUTOR_TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# The first backend checks no password: it refuses every attempt while the client is locked out.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "tutor.ratelimit.LoginLockoutHandler"
AXES_CLIENT_IP_CALLABLE = "tutor.ratelimit.client_address"
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"], "ip_address"]
TUTOR_LOGIN_FAILURE_LIMITS = (5, 50)  # failures per entry of AXES_LOCKOUT_PARAMETERS, within the cool-off
AXES_FAILURE_LIMIT = TUTOR_LOGIN_FAILURE_LIMITS[0]
AXES_COOLOFF_TIME = timedelta(minutes=5)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tutor.ratelimit.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False  # lockouts are cleared with `manage.py axes_reset`; no admin pages to guard
AXES_DISABLE_ACCESS_LOG = True  # keep failures only, not a log of every sign-in
# --- end websec -----------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
NODE_MODULES = BASE_DIR / "static" / "node_modules"
# Third-party front-end code comes from npm (static/package.json); only its dist folders are served.
_VENDOR = {
    "vendor/htmx": NODE_MODULES / "htmx.org" / "dist",
    "vendor/htmx-ext-ws": NODE_MODULES / "htmx-ext-ws" / "dist",
    "vendor/katex": NODE_MODULES / "katex" / "dist",
}
STATICFILES_DIRS: list[Path | tuple[str, Path]] = [BASE_DIR / "static" / "app"]
STATICFILES_DIRS += [(prefix, path) for prefix, path in _VENDOR.items() if path.is_dir()]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # websec (issue 19, defects 8 and 10): DRF's ScopedRateThrottle on views naming a throttle_scope
    # (tutor/ratelimit.py); "tutor-message" is shared by the API's messages and the chat socket.
    "DEFAULT_THROTTLE_CLASSES": ["tutor.ratelimit.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"research": "30/m", "tutor-message": "8/10s"},
    # websec (issue 19, defect 6): DRF's JSON parser, but a deeply nested document is a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tutor API",
    "DESCRIPTION": "Courses, tutoring sessions and research exports of the tutoring system.",
    "VERSION": "0.1.0",
}

# Which language model phrases the tutor's moves: "embedded", "hf:PATH", "openai:URL", "scripted".
TUTOR_LLM = os.environ.get("TUTOR_LLM", "embedded")
# Further backends an experiment condition may name (a security control: a teacher can only pick
# from these, the deployment's own TUTOR_LLM and "scripted"). Comma-separated.
TUTOR_LLM_BACKENDS = [spec.strip() for spec in os.environ.get("TUTOR_LLM_BACKENDS", "").split(",") if spec.strip()]
# Where converted model weights are cached so later loads take a fraction of a second.
TUTOR_MODEL_CACHE = Path(os.environ.get("TUTOR_MODEL_CACHE", VAR_DIR / "model-cache"))

# websec (issue 19, defect 11): regions whose phone numbers non-identifiable research exports redact
# (tutor/research/redaction.py); numbers written with a +country code are found whatever the region.
TUTOR_REDACTION_PHONE_REGIONS = env_list("REDACTION_PHONE_REGIONS", ["US", "GB"])

# Secrets come from the environment (or NAME_FILE) only; unset salts are derived from SECRET_KEY.
TUTOR_LLM_API_KEY = env_secret("TUTOR_LLM_API_KEY")
RESEARCH_PSEUDONYM_SALT = env_secret("RESEARCH_PSEUDONYM_SALT", "") or ""
TUTOR_CONDITION_SALT = env_secret("TUTOR_CONDITION_SALT", "") or ""

# Production hardening: on whenever DEBUG is off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
