"""Settings for toxsite, read from the environment (see .env.example for every variable)."""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_thresholds(name: str) -> dict[str, float]:
    """Parse ``label=value`` pairs, e.g. ``toxic=0.6,insult=0.7``."""
    thresholds: dict[str, float] = {}
    for pair in env_list(name):
        label, _, value = pair.partition("=")
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {pair!r} is not label=number.") from None
        if not 0.0 <= number <= 1.0:
            raise ImproperlyConfigured(f"{name}: the threshold for {label} must be between 0 and 1.")
        thresholds[label.strip()] = number
    return thresholds


DEBUG = env_bool("DEBUG")
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Export it (see .env.example; `make run` keeps one in var/secret_key: "
            "export SECRET_KEY=$(cat var/secret_key)), or set DEBUG=1 for development."
        )
    SECRET_KEY = "django-insecure-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

DATA_DIR = Path(env_str("TOXSITE_DATA_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "ninja",
    "classifier",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "toxsite.urls"
WSGI_APPLICATION = "toxsite.wsgi.application"

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

# SQLite under DATA_DIR unless DATABASE_URL names another database (PostgreSQL in production).
_SUPPORTED_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}
# Every SQLite database, DATA_DIR's or one DATABASE_URL names (sqlite:///path): WAL and a busy timeout, so the
# web workers and a long reclassify share it, and IMMEDIATE transactions, so a transaction that reads and then
# writes waits for the write lock instead of failing at once with "database is locked".
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.config(conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] not in _SUPPORTED_ENGINES:
        raise ImproperlyConfigured(
            "DATABASE_URL must name a PostgreSQL database (postgres://...) or SQLite (sqlite:///path); "
            f"toxsite does not support {DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}."
        )
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {**_SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
        _sqlite_folder = Path(str(DATABASES["default"]["NAME"])).parent
        if str(DATABASES["default"]["NAME"]) != ":memory:" and not _sqlite_folder.is_dir():
            raise ImproperlyConfigured(
                f"DATABASE_URL names a SQLite file in {_sqlite_folder}, a folder that does not exist; "
                "create it, or name a file in an existing folder."
            )
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "db.sqlite3"),
            # Reopening costs about as much as a whole small request (PRAGMAs included): keep it open.
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
            "OPTIONS": dict(_SQLITE_OPTIONS),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security: HTTPS settings are on when the site is served over HTTPS (TOXSITE_HTTPS=1 in production).
HTTPS = env_bool("TOXSITE_HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("TOXSITE_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): only this site's own scripts and styles. Style *attributes* are
# allowed because the score bars set their width with one; they cannot run script. Swagger UI (the API
# docs page) draws its icons from data: URIs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SESSION_COOKIE_HTTPONLY = True
# Messages live in the session, server-side: a new API key is shown in one, and a cookie would carry it.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TOXSITE_MAX_BODY_BYTES", 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# The classifier.
MODEL_PATH = Path(env_str("MODEL_PATH", str(BASE_DIR / "ml_models" / "toxsite.joblib")))
TRAINING_DATA_DIR = Path(env_str("TOXSITE_TRAINING_DATA", str(BASE_DIR.parent / "shared" / "data")))
# Per-label flag thresholds; a label not named here uses the threshold recommended by the model's training.
THRESHOLDS = env_thresholds("TOXSITE_THRESHOLDS")
MAX_MESSAGE_LENGTH = env_int("TOXSITE_MAX_MESSAGE_LENGTH", 500)

# The API.
# Most messages one classify request may hold.
API_MAX_BATCH_SIZE = env_int("TOXSITE_API_MAX_BATCH_SIZE", 100)
# Requests per minute per API key, for keys that do not set their own limit.
API_RATE_LIMIT = env_int("TOXSITE_API_RATE_LIMIT", 120)
if API_MAX_BATCH_SIZE < 1 or API_RATE_LIMIT < 1:
    raise ImproperlyConfigured("TOXSITE_API_MAX_BATCH_SIZE and TOXSITE_API_RATE_LIMIT must be at least 1.")
# The rate limit counts requests in Django's cache: Redis when REDIS_URL is set (shared by every worker and
# server), else each worker process's own memory.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "toxsite"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "toxsite"}}

# Live chat.
# The Twitch login `manage.py listen_chat` uses; with neither set it reads anonymously (read-only).
# The token is a secret: set it in the environment only, never on the command line or in a file in git.
TWITCH_NICK = env_str("TWITCH_NICK")
TWITCH_OAUTH_TOKEN = env_str("TWITCH_OAUTH_TOKEN")
# Where listen_chat POSTs a JSON event for each flagged message, signed with HMAC-SHA256 under the secret.
CHAT_WEBHOOK_URL = env_str("TOXSITE_CHAT_WEBHOOK_URL")
CHAT_WEBHOOK_SECRET = env_str("TOXSITE_CHAT_WEBHOOK_SECRET")
