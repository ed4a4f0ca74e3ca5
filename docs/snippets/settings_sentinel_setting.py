"""Stamps on the Redis master that Sentinel names, through TICKETOFFICE_REDIS.

For projects whose cache backend has no Sentinel support (Django's own
RedisCache has none): the stamps get their own client, the rest of the
project keeps its cache.
"""

TICKETOFFICE_REDIS = {
    "SENTINELS": [("sentinel-1", 26379), ("sentinel-2", 26379), ("sentinel-3", 26379)],
    # The name that the sentinels monitor, and the database number.
    "SERVICE": "mymaster",
    "DB": 0,
    # redis-py keyword arguments for the master's connections...
    "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    # ...and for the sentinels' (by default the socket_* options above).
    "SENTINEL_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
}
