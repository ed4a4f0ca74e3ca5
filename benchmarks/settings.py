"""Django settings of the benchmark project (in-process runs and gunicorn).

PostgreSQL and Redis are real services. ``BENCH_DATABASE_URL`` and
``BENCH_REDIS_URL`` override the defaults (database ``ticketoffice_bench``,
Redis db 10). The alias ``big`` is a second database of the same server (its
name gets a ``_big`` suffix, or ``BENCH_BIG_DATABASE_URL``): it holds the
million-row ticket table, and :mod:`benchmarks.routers` sends the tickets of
a flatness measure there. The cache alias ``down`` points at a closed port: it
stands for an unreachable Redis.
"""

from __future__ import annotations

import json
import os

import dj_database_url

SECRET_KEY = "benchmarks-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_ticketoffice",
    # The hand-written floor's own model (benchmarks.models.Invitation).
    "benchmarks",
]

# The middleware of a typical project (the test suite's, without messages).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "benchmarks.urls"
WSGI_APPLICATION = "benchmarks.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]


def _big_url(url: str) -> str:
    base, _, query = url.partition("?")
    if base.startswith("sqlite"):
        stem, dot, suffix = base.rpartition(".")
        base = f"{stem}_big.{suffix}" if dot and "/" not in suffix else f"{base}_big"
    else:
        base = f"{base}_big"
    return f"{base}?{query}" if query else base


DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketoffice_bench"
)
BIG_DATABASE_URL = os.environ.get("BENCH_BIG_DATABASE_URL", _big_url(DATABASE_URL))
# Persistent connections, as in production (the test client keeps them anyway).
_CONN_MAX_AGE = int(os.environ.get("BENCH_CONN_MAX_AGE", "600"))
# Deployment knobs under test, e.g. '{"server_side_binding": true, "prepare_threshold": 0}'.
_DB_OPTIONS = json.loads(os.environ.get("BENCH_DATABASE_OPTIONS", "{}"))


def _database(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=_CONN_MAX_AGE)
    config.setdefault("OPTIONS", {}).update(_DB_OPTIONS)
    return config


DATABASES = {"default": _database(DATABASE_URL), "big": _database(BIG_DATABASE_URL)}
DATABASE_ROUTERS = ["benchmarks.routers.TicketTableRouter"]

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
# Nothing listens there (benchmarks.run checks it): an unreachable Redis.
DOWN_REDIS_URL = os.environ.get("BENCH_DOWN_REDIS_URL", "redis://127.0.0.1:18010/0")

# Set by the test suite's tiny run: every key the benchmarks write starts with it,
# and only those are deleted (the suite's Redis db is not the benchmarks' own).
BENCH_KEY_PREFIX = os.environ.get("BENCH_KEY_PREFIX", "")

_REDIS_OPTIONS = {
    "CLIENT_CLASS": "django_redis.client.DefaultClient",
    "SOCKET_CONNECT_TIMEOUT": 0.25,
    "SOCKET_TIMEOUT": 0.25,
}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": _REDIS_OPTIONS,
        "KEY_PREFIX": BENCH_KEY_PREFIX,
    },
    "down": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": DOWN_REDIS_URL,
        "OPTIONS": _REDIS_OPTIONS,
    },
}

# Cookie sessions: the numbers are about tickets, not about a session table.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

# Django's default hashers (PBKDF2 first): 0.2's design uses them.
AUTHENTICATION_BACKENDS = [
    "sesame.backends.ModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-sesame as its documentation recommends for one-time links: one-time
# tokens that also expire (SESAME_MAX_AGE adds the timestamp check).
SESAME_ONE_TIME = True
SESAME_MAX_AGE = 3600
LOGIN_URL = "/sesame/login/"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TICKETOFFICE_CACHE = "default"
TICKETOFFICE_CACHE_KEY_PREFIX = f"{BENCH_KEY_PREFIX}ticketoffice:"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # The Redis-down paths would log the breaker's warning every interval, and
    # Django would log every 403 of the refusal paths.
    "loggers": {
        "django_ticketoffice": {"handlers": ["null"], "level": "ERROR", "propagate": False},
        "django.request": {"handlers": ["null"], "level": "CRITICAL", "propagate": False},
        "django.security": {"handlers": ["null"], "level": "CRITICAL", "propagate": False},
    },
}

# The test suite's tiny run: the same PBKDF2 design at 1,000 iterations.
if os.environ.get("BENCH_TINY_PBKDF2"):
    PASSWORD_HASHERS = ["benchmarks.hashers.TinyPBKDF2PasswordHasher"]
