"""Stamps in a Redis (or Valkey) Cluster through django-valkey's ClusterValkeyCache."""

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    },
    "tickets": {
        "BACKEND": "django_valkey.cluster_cache.cache.ClusterValkeyCache",
        # One node to start from; valkey:// and redis:// both work.
        "LOCATION": "valkey://redis-1.internal:6379",
        "OPTIONS": {
            # Keyword arguments of valkey-py's ValkeyCluster, for every node.
            "BASE_CLIENT_KWARGS": {
                "socket_connect_timeout": 0.5,
                "socket_timeout": 0.5,
                # Retry once after re-reading the slot map, then let the
                # circuit breaker wait out a failover.
                "cluster_error_retry_attempts": 1,
            },
        },
    },
}

TICKETOFFICE_CACHE = "tickets"
