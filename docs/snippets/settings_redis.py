"""Stamps in Redis through django-redis, on a dedicated cache alias."""

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    },
    "tickets": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # Fail fast: a dead Redis must not hold requests for seconds.
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 0.5,
            # No "IGNORE_EXCEPTIONS": the stamp store handles outages itself.
        },
    },
}

TICKETOFFICE_CACHE = "tickets"
