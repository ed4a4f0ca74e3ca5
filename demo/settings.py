"""Settings of the demo site.

Embedded defaults: a SQLite file next to this module, the local-memory cache,
no Redis. ``DATABASE_URL`` (e.g. ``postgres://user@host/db``) switches to that
database through dj-database-url, and ``REDIS_URL`` switches the cache to
django-redis. ``DEMO_BASE_URL`` is the absolute base of one-link URLs.
"""

from __future__ import annotations

import os
from pathlib import Path

import django

DEMO_DIR = Path(__file__).resolve().parent

# A demo key, good for a laptop only. Set DJANGO_SECRET_KEY anywhere else.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-museum-insecure-key-change-me")
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_ticketoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Listed first, so demo/templates/ticketoffice/*.html override the
        # library's refusal pages.
        "DIRS": [DEMO_DIR / "templates"],
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

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DEMO_DIR / "db.sqlite3",
        }
    }

if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Short timeouts: a dead Redis must not stall requests.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# The password-reset example prints its email to the console.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:  # pragma: no cover - Django < 6.1 has no MAILERS
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "museum@example.com"

STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-ticketoffice ---------------------------------------------------------

# Build one-link URLs from a configured base, never from the Host header.
TICKETOFFICE_BASE_URL = os.environ.get("DEMO_BASE_URL", "http://127.0.0.1:8000")
# The admin shows the one-link URL of tickets issued for these place:purpose pairs.
TICKETOFFICE_URLS = {
    "museum:visit": "visit",
    "accounts:password-reset": "password-reset-confirm",
    "accounts:sign-in": "sign-in-confirm",
}
# Expired, used and revoked links offer a way to ask for a new one.
TICKETOFFICE_NEW_LINK_URLS = {"accounts:password-reset": "password-reset", "*": "home"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_ticketoffice": {"handlers": ["console"], "level": "INFO"}},
}
