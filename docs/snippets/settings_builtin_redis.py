"""Stamps in Redis through Django's own cache backend, with a read replica."""

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    },
    "tickets": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # The first server takes the writes; Django reads from the others.
        # The stamp store reads and writes the first one only.
        "LOCATION": [
            "redis://redis-primary.internal:6379/0",
            "redis://redis-replica.internal:6379/0",
        ],
        "OPTIONS": {
            # redis-py keyword arguments: fail fast, the breaker does the rest.
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
        },
    },
}

TICKETOFFICE_CACHE = "tickets"
