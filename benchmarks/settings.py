"""Django settings of the benchmark project (in-process runs and gunicorn).

PostgreSQL and Redis are real services. ``BENCH_DATABASE_URL`` and
``BENCH_REDIS_URL`` override the defaults (database ``ticketoffice_bench``,
Redis db 10). The cache alias ``down`` points at a closed port: it stands for
an unreachable Redis.
"""

from __future__ import annotations

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

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketoffice_bench"
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=int(os.environ.get("BENCH_CONN_MAX_AGE", "0"))
    )
}

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
# Nothing listens there (benchmarks.run checks it): an unreachable Redis.
DOWN_REDIS_URL = os.environ.get("BENCH_DOWN_REDIS_URL", "redis://127.0.0.1:18010/0")

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
    },
    "down": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": DOWN_REDIS_URL,
        "OPTIONS": _REDIS_OPTIONS,
    },
}

# Cookie sessions: the numbers are about tickets, not about a session table.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

# Django's default hashers (PBKDF2 first): the 0.2 baseline uses them.
AUTHENTICATION_BACKENDS = [
    "sesame.backends.ModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SESAME_ONE_TIME = True
SESAME_MAX_AGE = None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TICKETOFFICE_CACHE = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # The Redis-down benchmark would log the breaker's warning every interval.
    "loggers": {
        "django_ticketoffice": {"handlers": ["null"], "level": "ERROR", "propagate": False},
        "django.request": {"handlers": ["null"], "level": "CRITICAL", "propagate": False},
    },
}
