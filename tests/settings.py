"""Settings for the test suite.

``DATABASE_URL`` selects the database (SQLite in memory by default; .ci/run
also runs the suite on PostgreSQL). ``REDIS_URL`` points the "redis" cache
alias at a real Redis server (default ``redis://127.0.0.1:6379/15``).

Every key the suite writes to that Redis database starts with ``TEST_KEY_PREFIX``:
tests/conftest.py deletes only such keys, and refuses a database that holds others.
"""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "tests-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The integrations' packages (the test extra has them; nothing of the core needs them).
    "rest_framework",
    "drf_spectacular",
    "ninja",
    "django_ticketoffice",
    "django_ticketoffice.contrib.audit",
    "tests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite://:memory:")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
        "TEST_DATABASE_NAME", "test_ticketoffice"
    )

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_KEY_PREFIX = "ticketoffice-tests"

CACHES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"},
    "redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": TEST_KEY_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 0.5,
        },
    },
    # Django's own Redis backend, on the same server.
    "builtin": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
}

# Cookie sessions keep query counts about tickets, not about sessions.
SESSION_ENGINE = os.environ.get(
    "TEST_SESSION_ENGINE", "django.contrib.sessions.backends.signed_cookies"
)

# Fast hashing for passwords set with set_password() in tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

# Servers started by the tests (tests/servers.py) read their stamp cache from
# the environment: an alias name, and for "server" its Redis URL.
TICKETOFFICE_CACHE = os.environ.get("TEST_TICKETOFFICE_CACHE", "default")
if os.environ.get("TEST_SERVER_REDIS_URL"):
    CACHES["server"] = dict(CACHES["redis"], LOCATION=os.environ["TEST_SERVER_REDIS_URL"])
# The suite's stamps are recognisable, so that it never deletes a key it did not write.
TICKETOFFICE_CACHE_KEY_PREFIX = f"{TEST_KEY_PREFIX}:"
# Fail fast in tests that stop Redis.
TICKETOFFICE_CACHE_RETRY_INTERVAL = 5.0

# The audit trail is installed (its table exists) but records nothing, so that
# the suite's query counts stay about tickets; tests/test_audit.py turns it on.
TICKETOFFICE_AUDIT_ENABLED = False

# The API integrations' tests (tests/api_views.py): drf-spectacular's schemas.
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

# Password-reset links: Django's default (3 days).
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_ticketoffice": {"handlers": ["console"], "level": "WARNING"}},
}
