"""Settings for the tutoring system: every setting the code reads is declared and typed here.

Values come from the environment through django-environ's ``FileAwareEnv``, so any of them, secrets
above all, can instead be read from the file named by ``NAME_FILE`` (``SECRET_KEY_FILE=/run/secrets/key``).
A value that does not parse (``DEBUG=maybe``, ``TUTOR_LLM_TOTAL_S=soon``) or is out of range stops
start-up with an error naming the variable.

Defaults are the embedded set-up (SQLite in ``var/``, in-memory channel layer, embedded LLM), so a
fresh clone runs with no configuration. Production sets ``DEBUG=0``, ``SECRET_KEY``,
``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL``. The README's Configuration table lists them all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Env(environ.FileAwareEnv):
    """django-environ's ``FileAwareEnv``, strict about what it accepts.

    - A boolean must be clearly true or false (django-environ reads anything unknown as false).
    - A number must be a number (django-environ's float drops every character that is not a digit).
    - List items are stripped and empty ones dropped (``"a.org, b.org"``).
    - A value is never a reference to another variable: django-environ reads ``$NAME`` as "the value of
      NAME", which would silently replace a secret that starts with ``$``.
    - An empty boolean or number means "not set".
    - A value that does not parse, or a ``NAME_FILE`` that cannot be read, raises ImproperlyConfigured
      naming the variable.
    """

    def __init__(self, **scheme: Any) -> None:
        super().__init__(**scheme)
        # FileAwareEnv's mapping is one per class and caches what it read from files for good; settings
        # are read once, so each reader gets its own, uncached.
        self.ENVIRON = environ.FileAwareMapping(cache=False)

    def get_value(self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET,
                  parse_default: bool = False) -> Any:
        try:
            raw = self.ENVIRON[var]
        except KeyError:
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable (or {var}_FILE)") from None
            if not parse_default or default is None:
                return default
            raw = default
        except OSError as exc:  # NAME_FILE names a file that cannot be read
            raise ImproperlyConfigured(f"{var}_FILE: cannot read {exc.filename!r} ({exc.strerror})") from None
        if cast is None and default is not None and default is not self.NOTSET:
            cast = type(default)
        if isinstance(raw, str) and not raw.strip() and cast in (bool, int, float) and default is not self.NOTSET:
            return default
        try:
            return self.parse_value(raw, cast)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{var}={raw!r} is {exc}") from None

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        if not isinstance(value, str):
            return value if cast is None else super().parse_value(value, cast)
        if cast is bool:
            word = value.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError("not a boolean (use 1/0, true/false, yes/no, on/off)")
        if cast is float:
            try:
                return float(value)
            except ValueError:
                raise ValueError("not a number") from None
        if cast is int:
            try:
                return int(value)
            except ValueError:
                raise ValueError("not a whole number") from None
        if cast is list or isinstance(cast, list):
            item = cast[0] if isinstance(cast, list) else str
            return [item(part.strip()) for part in value.split(",") if part.strip()]
        return super().parse_value(value, cast)

    def secret(self, var: str, default: str = "") -> str:
        """A secret from ``NAME`` or the file named by ``NAME_FILE``, without the file's final newline."""
        return str(self.str(var, default=default)).strip()

    def choice(self, var: str, default: str, choices: tuple[str, ...]) -> str:
        value = str(self.str(var, default=default)).strip()
        if value not in choices:
            raise ImproperlyConfigured(f"{var}={value!r} must be one of: {', '.join(choices)}")
        return value


def at_least(name: str, value: Any, low: float) -> Any:
    """``value``, or ImproperlyConfigured when it is below ``low``."""
    if value < low:
        raise ImproperlyConfigured(f"{name}={value!r} must be at least {low:g}")
    return value


env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the SQLite file, the model cache and collected static files go.
VAR_DIR = Path(env.str("TUTOR_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG: bool = env.bool("DEBUG", default=True)

_secret = env.secret("SECRET_KEY")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
    _secret = "insecure-development-key-only-for-local-use-do-not-deploy-0123456789"
SECRET_KEY = _secret

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN: the CSP allows none)
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

DATABASE_URL: str = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tutor.sqlite3'}")
# Seconds a worker keeps its database connection between requests (0: a new one per request).
DB_CONN_MAX_AGE: int = at_least("DB_CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0), 0)
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
# A persistent connection the database dropped (restart, failover, pg_terminate_backend) is noticed
# and replaced before use instead of failing the next tutoring turn.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A tutoring turn writes from a worker thread while the page reads: WAL keeps them apart.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"})

# Set: the Redis channel layer and a shared cache (rate-limit counters), needed for several workers.
REDIS_URL: str = env.str("REDIS_URL", default="")
# Keeps the cache keys of deployments (or test runs) that share one Redis apart.
CACHE_KEY_PREFIX: str = env.str("CACHE_KEY_PREFIX", default="tutor")
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
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- websec (issue 19, defects 8-10): sign-in lockout (django-axes), client address, throttles -------
# See tutor/ratelimit.py. Addresses or networks of the reverse proxies whose X-Forwarded-For is
# believed (e.g. "127.0.0.1" for nginx on the same machine); nobody else's is. Comma-separated.
TUTOR_TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", default=[])
# The first backend checks no password: it refuses every attempt while the client is locked out.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "tutor.ratelimit.LoginLockoutHandler"
AXES_CLIENT_IP_CALLABLE = "tutor.ratelimit.client_address"
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"], "ip_address"]
# Failures per entry of AXES_LOCKOUT_PARAMETERS (address+username, address) within the cool-off.
TUTOR_LOGIN_FAILURE_LIMITS: tuple[int, int] = (5, 50)
AXES_FAILURE_LIMIT = TUTOR_LOGIN_FAILURE_LIMITS[0]
AXES_COOLOFF_TIME = timedelta(minutes=5)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tutor.ratelimit.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False  # lockouts are cleared with `manage.py axes_reset`; no admin pages to guard
AXES_DISABLE_ACCESS_LOG = True  # keep failures only, not a log of every sign-in
# API and chat rates (DRF's ScopedRateThrottle, tutor/ratelimit.py; REST_FRAMEWORK below): security
# controls, set here rather than in the environment. "tutor-message" is shared by the API and the chat.
TUTOR_THROTTLE_RATES: dict[str, str] = {"research": "30/m", "tutor-message": "8/10s"}
# --- end websec -----------------------------------------------------------------------------------

# Passwords: Argon2id (argon2-cffi), memory-hard, with the cost below; Django's default PBKDF2 (1,000,000
# rounds of SHA-256) took 0.5-0.9 s of CPU per log-in on a 2-core machine, most of the log-in's time, and
# blocks the worker while it runs. Older PBKDF2 hashes still verify and are re-hashed at the next log-in.
# The cost (docs/performance.md measures it): 46 MiB of memory, one pass, one lane: OWASP's Password
# Storage Cheat Sheet lists it among its Argon2id minimums (19 MiB and two passes is the other);
# about 0.1 s per hash here.
PASSWORD_HASHERS = [
    "config.passwords.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE: str = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
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
    "DEFAULT_THROTTLE_RATES": TUTOR_THROTTLE_RATES,
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
    # Swagger UI from the drf-spectacular-sidecar package, under STATIC_URL (no CDN), in the page
    # templates/api/swagger_ui.html.
    "SWAGGER_UI_DIST": "SIDECAR",
    # Deep links would make each operation's path a link inside the button that opens it (a nested
    # control screen readers cannot reach: axe-core's nested-interactive rule).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
}

# Which language model phrases the tutor's moves: "embedded", "hf:PATH", "openai:URL", "scripted".
TUTOR_LLM: str = env.str("TUTOR_LLM", default="embedded")
# Further backends an experiment condition may name (a security control: a teacher can only pick
# from these, the deployment's own TUTOR_LLM and "scripted"). Comma-separated.
TUTOR_LLM_BACKENDS: list[str] = env.list("TUTOR_LLM_BACKENDS", default=[])
# The model name sent to an "openai:URL" backend (unset: the server's default model).
TUTOR_LLM_MODEL: str | None = env.str("TUTOR_LLM_MODEL", default="") or None
# "embedded" is the one model server of the deployment (llama.cpp's server with the packaged SmolLM2),
# which .ci/start starts here; every worker streams from it over the OpenAI-compatible API.
TUTOR_LLM_SERVER_URL: str = env.str("TUTOR_LLM_SERVER_URL", default="http://127.0.0.1:8090/v1")
# No silent wait: with no token from the model this many seconds after the student's message arrived,
# the authored text is sent at once; a reply still unfinished at the total deadline is replaced by it.
TUTOR_LLM_FIRST_TOKEN_S: float = env.float("TUTOR_LLM_FIRST_TOKEN_S", default=1.5)
TUTOR_LLM_TOTAL_S: float = env.float("TUTOR_LLM_TOTAL_S", default=6.0)
if not 0.05 <= TUTOR_LLM_FIRST_TOKEN_S <= 60.0:
    raise ImproperlyConfigured(f"TUTOR_LLM_FIRST_TOKEN_S={TUTOR_LLM_FIRST_TOKEN_S!r} must be between 0.05 and 60")
if not 0.1 <= TUTOR_LLM_TOTAL_S <= 300.0:
    raise ImproperlyConfigured(f"TUTOR_LLM_TOTAL_S={TUTOR_LLM_TOTAL_S!r} must be between 0.1 and 300")
if TUTOR_LLM_TOTAL_S < TUTOR_LLM_FIRST_TOKEN_S:
    raise ImproperlyConfigured("TUTOR_LLM_TOTAL_S must not be shorter than TUTOR_LLM_FIRST_TOKEN_S")
# The reply's length in tokens.
TUTOR_LLM_MAX_NEW_TOKENS: int = at_least("TUTOR_LLM_MAX_NEW_TOKENS", env.int("TUTOR_LLM_MAX_NEW_TOKENS", default=80), 1)
# How the model phrases a reply: "full" (the whole reply, held to the authored move by the guard) or
# "lead-in" (the model writes only the reply's first sentence, under a grammar that allows the move's
# openers and plain words; the authored move follows word for word). docs/llm-serving.md compares them
# with the embedded model: neither is yet good enough to make the default change.
TUTOR_LLM_PHRASING: str = env.str("TUTOR_LLM_PHRASING", default="full")
if TUTOR_LLM_PHRASING not in ("lead-in", "full"):
    raise ImproperlyConfigured(f"TUTOR_LLM_PHRASING={TUTOR_LLM_PHRASING!r} must be 'lead-in' or 'full'")
# Where converted model weights are cached so later loads take a fraction of a second.
TUTOR_MODEL_CACHE = Path(env.str("TUTOR_MODEL_CACHE", default=str(VAR_DIR / "model-cache")))
# The longest chat message a student may send, in characters.
TUTOR_MAX_MESSAGE_CHARS: int = at_least("TUTOR_MAX_MESSAGE_CHARS", env.int("TUTOR_MAX_MESSAGE_CHARS", default=2000), 1)

# websec (issue 19, defect 11): regions whose phone numbers non-identifiable research exports redact
# (tutor/research/redaction.py); numbers written with a +country code are found whatever the region.
TUTOR_REDACTION_PHONE_REGIONS: list[str] = env.list("REDACTION_PHONE_REGIONS", default=["US", "GB"])

# Secrets come from the environment (or NAME_FILE) only; unset salts are derived from SECRET_KEY.
TUTOR_LLM_API_KEY: str | None = env.secret("TUTOR_LLM_API_KEY") or None
RESEARCH_PSEUDONYM_SALT: str = env.secret("RESEARCH_PSEUDONYM_SALT")
TUTOR_CONDITION_SALT: str = env.secret("TUTOR_CONDITION_SALT")

# Production hardening: on whenever DEBUG is off.
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS: int = at_least(
    "SECURE_HSTS_SECONDS", env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000), 0
)
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

LOG_LEVEL: str = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
# One handler, on the root logger: every record is written once. Django's own default configuration
# gives the "django" logger a console handler of its own, so a record from django.* (runserver's
# "django.channels.server" lines, request errors) was written by it and again by the root's; naming
# the logger here replaces its handlers with none and lets it propagate. "django.server" keeps
# Django's formatter and does not propagate.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # (django.* at DEBUG would log every SQL query.)
    "loggers": {"django": {"handlers": [], "level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL, "propagate": True}},
}

# ---------------------------------------------------------------------------------------------
# LTI 1.3: launching the tutor from a school's LMS (tutor.lti; how to register it: docs/lti.md).
# django-lti ("lti_tool") keeps registrations, deployments, keys, LMS users and contexts; pylti1p3
# checks the launches. Its OIDC state and nonces live in the default cache, so several worker
# processes need the shared cache that REDIS_URL gives.
INSTALLED_APPS += ["lti_tool", "tutor.lti"]
# Asked by config.csp for each response: the origins that may frame it (an LMS, after a launch from
# it), which also makes its session and CSRF cookies SameSite=None; Secure over HTTPS.
CSP_FRAME_POLICY: str = "tutor.lti.frames.frame_policy"
# Seconds to connect to and to read from an LMS (key set, token, roster and gradebook calls).
TUTOR_LTI_HTTP_TIMEOUT: tuple[float, float] = (
    at_least("TUTOR_LTI_CONNECT_TIMEOUT", env.float("TUTOR_LTI_CONNECT_TIMEOUT", default=5.0), 0.1),
    at_least("TUTOR_LTI_READ_TIMEOUT", env.float("TUTOR_LTI_READ_TIMEOUT", default=15.0), 0.1),
)
# A score the LMS did not take is retried after base * 2^(failures - 1) seconds, at most cap.
TUTOR_LTI_GRADE_RETRY_SECONDS: tuple[float, float] = (60.0, 6 * 3600.0)

# ---------------------------------------------------------------------------------------------
# Deployment (deploy/, docs/deploy.md). One block, so a rework of the settings above can move it whole.
# - Every request and every chat message gets a request id (tutor/ops/request_id.py), which every
#   log line carries; LOG_FORMAT=json writes the lines as JSON objects (deploy/ sets it).
# - /healthz and /readyz answer plain HTTP too, so a probe can reach a worker behind the proxy.
# - CHANNEL_LAYER_PREFIX keeps the channel layer's Redis keys of one deployment apart from another's
#   on the same Redis server.
MIDDLEWARE.insert(0, "tutor.ops.request_id.RequestIdMiddleware")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
LOG_FORMAT: str = env.choice("LOG_FORMAT", "text", ("text", "json"))
CHANNEL_LAYER_PREFIX: str = env.str("CHANNEL_LAYER_PREFIX", default="")
_logging: dict[str, Any] = LOGGING  # type: ignore[assignment]
_logging.setdefault("filters", {})["request_id"] = {"()": "tutor.ops.request_id.RequestIdFilter"}
_logging.setdefault("formatters", {})["json"] = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(request_id)s %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
}
for _handler in _logging["handlers"].values():
    _handler.setdefault("filters", []).append("request_id")
    if LOG_FORMAT == "json":
        _handler["formatter"] = "json"
if CHANNEL_LAYER_PREFIX and REDIS_URL:
    _layer: dict[str, Any] = CHANNEL_LAYERS["default"]  # type: ignore[assignment]
    _layer["CONFIG"]["prefix"] = CHANNEL_LAYER_PREFIX
# Job workers (tutor/jobs.py, Celery): the broker and the results on Redis where there is one.
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND: str = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ACKS_LATE = True  # a job whose worker died is run again by another
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # jobs are long: a worker takes one at a time
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep the LOGGING above (JSON lines, request ids)
CELERY_TASK_DEFAULT_QUEUE: str = env.str("CELERY_QUEUE", default="tutor")  # one per deployment sharing a Redis
