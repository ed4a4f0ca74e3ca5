"""The raw Redis client of the primary, for each way a project can name its Redis.

The stamp store reads and writes plain bytes on the primary only (a replica may
not have a fresh stamp yet). This module answers one question, once per
process: *which redis-py (or valkey-py) client talks to that primary?*

``TICKETOFFICE_REDIS`` (takes precedence over ``TICKETOFFICE_CACHE``)
    * ``"redis://host:6379/0"`` (or ``rediss://``, ``unix://``): one server;
    * ``{"URL": "redis://...", "OPTIONS": {...}}``: the same, with options;
    * ``{"CLUSTER": ["redis://node-1:6379", ...], "OPTIONS": {...}}``: Redis
      Cluster through ``redis.cluster.RedisCluster``;
    * ``{"SENTINELS": [("sentinel-1", 26379), ...], "SERVICE": "mymaster",
      "DB": 0, "OPTIONS": {...}, "SENTINEL_OPTIONS": {...}}``: the master that
      the sentinels name.

    ``OPTIONS`` are redis-py keyword arguments (``socket_timeout``, ``password``,
    ``ssl_cert_reqs``, ...).

A cache alias (``TICKETOFFICE_CACHE``)
    * django-redis (``DefaultClient``, ``SentinelClient``, ...): its
      ``get_client(write=True)``, the primary or the Sentinel master pool;
    * Django's ``django.core.cache.backends.redis.RedisCache``: the client of
      its first ``LOCATION``, which takes the writes (the others are replicas);
    * django-valkey (``ValkeyCache``, ``ClusterValkeyCache``): its
      ``get_client(write=True)``;
    * anything else, and the sharding clients: ``None``, the portable cache API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

# Fail fast: a dead Redis must cost one short timeout, then the circuit breaker.
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
SETTING_KEYS = {"URL", "CLUSTER", "SENTINELS", "SERVICE", "DB", "OPTIONS", "SENTINEL_OPTIONS"}


@dataclass(frozen=True)
class PrimarySource:
    """Where the primary's client comes from, before any connection is made.

    ``connect()`` builds (or fetches) the client; a cluster client contacts
    the cluster there, so the store calls it lazily, behind its breaker.
    ``owned`` clients were built here, and are closed when settings change.
    """

    label: str
    connect: Callable[[], Any]
    owned: bool


def setting_problem(value: Any) -> str | None:
    """Say what is wrong with a ``TICKETOFFICE_REDIS`` value, or None if it is usable."""
    if value is None:
        return None
    if isinstance(value, str):
        return None if _is_url(value) else f"{value!r} is not a redis://, rediss:// or unix:// URL"
    if not isinstance(value, dict):
        return f"it is a {type(value).__name__}, not a URL or a dict"
    unknown = sorted(set(value) - SETTING_KEYS)
    if unknown:
        return f"unknown keys {unknown}; use {sorted(SETTING_KEYS)}"
    kinds = [key for key in ("URL", "CLUSTER", "SENTINELS") if key in value]
    if len(kinds) != 1:
        return "give exactly one of URL, CLUSTER and SENTINELS"
    for key in ("OPTIONS", "SENTINEL_OPTIONS"):
        if not isinstance(value.get(key, {}), dict):
            return f"{key} must be a dict of redis-py keyword arguments"
    if "URL" in value and not (isinstance(value["URL"], str) and _is_url(value["URL"])):
        return "URL must be a redis://, rediss:// or unix:// URL"
    if "CLUSTER" in value:
        nodes = value["CLUSTER"]
        if (
            not isinstance(nodes, (list, tuple))
            or not nodes
            or not all(isinstance(node, str) and _is_url(node) for node in nodes)
        ):
            return 'CLUSTER must list node URLs, e.g. ["redis://10.0.0.1:6379"]'
    sentinel_only = sorted({"SERVICE", "DB", "SENTINEL_OPTIONS"} & set(value))
    if sentinel_only and "SENTINELS" not in value:
        return f"{sentinel_only} only go with SENTINELS"
    if "SENTINELS" in value:
        if not isinstance(value.get("DB", 0), int) or isinstance(value.get("DB"), bool):
            return "DB must be a database number"
        if not isinstance(value.get("SERVICE"), str) or not value["SERVICE"]:
            return "SENTINELS needs SERVICE, the name the sentinels monitor"
        sentinels = value["SENTINELS"]
        if not isinstance(sentinels, (list, tuple)) or not sentinels:
            return 'SENTINELS must list (host, port) pairs, e.g. [("10.0.0.1", 26379)]'
        if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in sentinels):
            return 'SENTINELS must list (host, port) pairs, e.g. [("10.0.0.1", 26379)]'
    return None


def _is_url(value: str) -> bool:
    return value.startswith(("redis://", "rediss://", "unix://"))


# TICKETOFFICE_REDIS ------------------------------------------------------------------------


def from_setting(value: str | dict[str, Any]) -> PrimarySource:
    """The primary named by ``TICKETOFFICE_REDIS``."""
    problem = setting_problem(value)
    if problem:
        raise ImproperlyConfigured(f"TICKETOFFICE_REDIS is malformed: {problem}.")
    config: dict[str, Any] = {"URL": value} if isinstance(value, str) else value
    options = {**DEFAULT_OPTIONS, **config.get("OPTIONS", {})}
    if "CLUSTER" in config:
        nodes = list(config["CLUSTER"])
        return PrimarySource("TICKETOFFICE_REDIS", lambda: _cluster(nodes, options), True)
    if "SENTINELS" in config:
        sentinels = [tuple(pair) for pair in config["SENTINELS"]]
        service, db = config["SERVICE"], int(config.get("DB", 0))
        sentinel_options = config.get("SENTINEL_OPTIONS")

        def master() -> Any:
            return _sentinel_master(sentinels, service, db, options, sentinel_options)

        return PrimarySource("TICKETOFFICE_REDIS", master, True)
    url = config["URL"]
    return PrimarySource("TICKETOFFICE_REDIS", lambda: _single(url, options), True)


def _single(url: str, options: dict[str, Any]) -> Any:
    import redis

    # A pool from the URL, as the cache backends build theirs: redis-py's
    # connections do not retry unless told to, so an outage costs one timeout.
    return redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, **options))


def _cluster(nodes: list[str], options: dict[str, Any]) -> Any:
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    options = dict(options)
    # One retry after the client re-reads the slot map (a promoted replica), not
    # redis-py's ten: the breaker, not the request, waits out a failover.
    options.setdefault("retry", Retry(NoBackoff(), 1))
    others = [urlsplit(node) for node in nodes[1:]]
    startup = [ClusterNode(part.hostname, part.port or 6379) for part in others]
    return RedisCluster(url=nodes[0], startup_nodes=startup, **options)


def _sentinel_master(
    sentinels: list[Any],
    service: str,
    db: int,
    options: dict[str, Any],
    sentinel_options: dict[str, Any] | None,
) -> Any:
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    if sentinel_options is None:
        sentinel_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    # A Redis() without a pool retries ten times by default; a dead sentinel is
    # skipped at once instead, and the next one asked.
    sentinel_options = {"retry": Retry(NoBackoff(), 0), **sentinel_options}
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_options, **options)
    return manager.master_for(service, db=db)


# Cache aliases --------------------------------------------------------------------------


def from_cache(alias: str) -> PrimarySource | None:
    """The primary behind a cache alias, or None when only the cache API fits."""
    cache = caches[alias]
    label = f"cache {alias!r}"
    module = type(cache).__module__
    if module.startswith(("django_redis.", "django_valkey.")):
        if getattr(cache, "is_async", False):
            return None  # django-valkey's asyncio caches hand out coroutines
        client = getattr(cache, "client", None)
        # Sharding clients spread keys over several primaries: no single one to ask.
        if client is None or any(k.__name__ == "ShardClient" for k in type(client).__mro__):
            return None
        if not callable(getattr(client, "get_client", None)):  # pragma: no cover
            return None
        return PrimarySource(label, lambda: client.get_client(write=True), False)
    from django.core.cache.backends.redis import RedisCache

    if isinstance(cache, RedisCache):
        backend_client = cache._cache
        # Django's client: the first LOCATION takes writes; reads would go to a
        # random replica among the others. write=True is always the first.
        if not callable(getattr(backend_client, "get_client", None)):  # pragma: no cover
            return None
        return PrimarySource(label, lambda: backend_client.get_client(write=True), False)
    return None


def resolve(alias: str, setting: Any) -> PrimarySource | None:
    """The primary's source for these settings: the setting first, then the alias."""
    if setting is not None:
        return from_setting(setting)
    return from_cache(alias)


# Working with a client ------------------------------------------------------------------


def is_cluster(client: Any) -> bool:
    """True for redis-py's ``RedisCluster`` and valkey-py's ``ValkeyCluster``."""
    return hasattr(client, "nodes_manager")


def drop_idle_connections(client: Any) -> None:
    """Forget idle pooled sockets after a failure: a restarted server broke them.

    A cluster client does this itself on a connection error (and re-reads the
    slot map); a single-server pool, Sentinel's included, needs telling. The
    next command opens a fresh connection (to the current master, with Sentinel).
    """
    if is_cluster(client):
        return
    client.connection_pool.disconnect(inuse_connections=False)


def close(client: Any) -> None:
    """Close every connection of a client built from ``TICKETOFFICE_REDIS``."""
    if is_cluster(client):
        client.close()
    else:
        client.connection_pool.disconnect()


def pooled_connection(pool: Any) -> Any:
    """Take a connection from a redis-py pool (release it with ``pool.release``)."""
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return pool.get_connection("GET")


def run_command(client: Any, *args: Any) -> Any:
    """Run one command on a pooled connection of a single-server redis-py client.

    What ``client.execute_command`` does, without its per-command layers
    (timing, observability, response callbacks), which cost about as much as
    the lookup's own work: the connection's retry policy applies, and a
    failed connection is closed so that the next command reconnects. For
    commands whose raw reply is what the caller wants (``GET``).
    """
    pool = client.connection_pool
    connection = pooled_connection(pool)

    def send_and_read() -> Any:
        connection.send_command(*args)
        return connection.read_response()

    try:
        retry = getattr(connection, "retry", None)  # redis-py 4.0 and later
        if retry is None:
            return send_and_read()
        return retry.call_with_retry(send_and_read, lambda _error: connection.disconnect())
    finally:
        pool.release(connection)
