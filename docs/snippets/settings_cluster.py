"""Stamps in a Redis Cluster, named by TICKETOFFICE_REDIS (redis-py's RedisCluster)."""

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    },
}

TICKETOFFICE_REDIS = {
    # A few nodes to start from: the client reads the slot map from them and
    # follows the cluster (MOVED, failovers) by itself.
    "CLUSTER": [
        "redis://redis-1.internal:6379",
        "redis://redis-2.internal:6379",
        "redis://redis-3.internal:6379",
    ],
    # redis-py keyword arguments for every node. Short timeouts: a dead master
    # costs one of them, then the circuit breaker keeps it out of the requests.
    "OPTIONS": {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
    },
}
