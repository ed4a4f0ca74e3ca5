"""Which raw client the stamp store uses, resolved once per process (issues 10 and 11).

The real Redis at ``REDIS_URL`` throughout; the Sentinel and Cluster forms of
``TICKETOFFICE_REDIS`` run against real topologies in ``tests/topology/``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from django_ticketoffice import stamps
from django_ticketoffice.stamps import RedisStampStore, StampStore, get_store, redis_clients
from tests.conftest import free_port, redis_client

CLOSED_PORT = free_port()  # nothing listens here


class Calls:
    def __init__(self) -> None:
        self.count = 0


def spy(monkeypatch, owner, name) -> Calls:
    """Count calls of ``owner.name`` while the real method runs."""
    calls = Calls()
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.count += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def open_sockets(client) -> int:
    pool = client.connection_pool
    connections = [*pool._available_connections, *pool._in_use_connections]
    return sum(1 for connection in connections if connection._sock is not None)


# One resolution per process ------------------------------------------------------------


def test_django_redis_client_is_resolved_once(redis, monkeypatch, redis_roundtrips):
    from django_redis.client import DefaultClient

    resolved = spy(monkeypatch, DefaultClient, "get_client")
    store = get_store()
    assert store.lookup(uuid.uuid4()) is None  # connects
    redis_roundtrips.count = 0
    for _ in range(20):
        assert store.lookup(uuid.uuid4()) is None
    store.stamp(uuid.uuid4(), stamps.USED, None)
    assert store.claim(uuid.uuid4()) is True
    # 20 GETs, 1 SET NX, 1 claim: one round trip each, and one resolution in all.
    assert redis_roundtrips.count == 22
    assert resolved.count == 1
    assert get_store() is store


def test_builtin_client_is_resolved_once(
    fresh_process, redis, settings, monkeypatch, redis_roundtrips
):
    from django.core.cache.backends.redis import RedisCacheClient

    settings.TICKETOFFICE_CACHE = "builtin"
    resolved = spy(monkeypatch, RedisCacheClient, "get_client")
    store = get_store()
    assert isinstance(store, RedisStampStore)
    target = uuid.uuid4()
    store.stamp(target, stamps.REVOKED, None)  # connects: the handshake has packets too
    redis_roundtrips.count = 0
    for _ in range(10):
        assert store.lookup(target) == stamps.REVOKED
    assert redis_roundtrips.count == 10
    assert resolved.count == 1
    # Raw bytes at the library's own key: no KEY_PREFIX, no version, no pickle.
    assert redis.get(store.key(target)) == b"revoked"


def test_setting_changes_give_a_new_client(redis, settings):
    settings.TICKETOFFICE_REDIS = settings.REDIS_URL
    first = get_store()
    assert isinstance(first, RedisStampStore)
    assert first.label == "TICKETOFFICE_REDIS"
    first.stamp(uuid.uuid4(), stamps.USED, None)
    old_client = first._redis
    assert open_sockets(old_client) == 1
    settings.TICKETOFFICE_REDIS = settings.REDIS_URL.rsplit("/", 1)[0] + "/12"
    second = get_store()
    assert second is not first
    # The client built from the old setting was closed, not leaked.
    assert first._redis is None
    assert open_sockets(old_client) == 0
    target = uuid.uuid4()
    second.stamp(target, stamps.USED, None)
    assert redis.get(second.key(target)) is None  # another database now
    second.release(target, unstamp=True)


def test_a_dropped_connection_reconnects_without_tripping_the_breaker(redis):
    """redis-py's pool notices a socket the server closed, and opens a new one."""
    store = get_store()
    target = uuid.uuid4()
    store.stamp(target, stamps.USED, None)
    killed = redis_client().client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert store.lookup(target) == stamps.USED
    assert store.available


# Primary only ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_builtin_with_replicas_reads_the_primary_only(
    fresh_process, redis, settings, redis_roundtrips
):
    settings.CACHES = {
        **settings.CACHES,
        "replicated": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Django reads from a random server after the first: a "replica" that
            # is down would fail any read that reached it.
            "LOCATION": [settings.REDIS_URL, f"redis://127.0.0.1:{CLOSED_PORT}/0"],
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }
    settings.TICKETOFFICE_CACHE = "replicated"
    from django.core.cache import caches
    from redis.exceptions import ConnectionError as RedisConnectionError

    with pytest.raises(RedisConnectionError):
        caches["replicated"].get("anything")  # the cache API does read the replica
    store = get_store()
    target = uuid.uuid4()
    store.stamp(target, stamps.USED, timezone.now() + timedelta(minutes=5))
    redis_roundtrips.count = 0
    for _ in range(10):
        assert store.lookup(target) == stamps.USED
    assert store.claim(target) is True
    assert redis_roundtrips.count == 11
    assert store.available


# The TICKETOFFICE_REDIS setting ----------------------------------------------------------


def test_setting_takes_precedence_over_the_cache_alias(redis, settings):
    settings.TICKETOFFICE_CACHE = "default"  # local memory
    settings.TICKETOFFICE_REDIS = {"URL": settings.REDIS_URL, "OPTIONS": {"socket_timeout": 0.2}}
    store = get_store()
    assert isinstance(store, RedisStampStore)
    target = uuid.uuid4()
    store.stamp(target, stamps.USED, None)
    assert redis.get(store.key(target)) == b"used"
    pool = store._redis.connection_pool
    assert pool.connection_kwargs["socket_timeout"] == 0.2
    assert pool.connection_kwargs["socket_connect_timeout"] == 0.5  # the default


def test_setting_down_costs_one_connection_attempt(settings, monkeypatch):
    from redis.connection import Connection

    settings.TICKETOFFICE_REDIS = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    settings.TICKETOFFICE_CACHE_RETRY_INTERVAL = 60
    connects = spy(monkeypatch, Connection, "_connect")
    store = get_store()
    for _ in range(5):
        assert store.lookup(uuid.uuid4()) is None
        assert store.claim(uuid.uuid4()) is None
    # redis-py's Redis() would retry ten times by default; the pool built from
    # the URL does not, so the breaker sees the outage at the first attempt.
    assert connects.count == 1
    assert not store.available


@pytest.mark.parametrize(
    "value, problem",
    [
        ("http://redis:6379", "not a redis://"),
        (["redis://a"], "not a URL or a dict"),
        ({"URL": "redis://a", "CLUSTER": ["redis://b"]}, "exactly one"),
        ({"CLUSTER": []}, "CLUSTER must list node URLs"),
        ({"CLUSTER": ["10.0.0.1:6379"]}, "CLUSTER must list node URLs"),
        ({"SENTINELS": [("s", 26379)]}, "SERVICE"),
        ({"SENTINELS": ["s:26379"], "SERVICE": "m"}, "(host, port) pairs"),
        ({"URL": "redis://a", "OPTIONS": "socket_timeout=1"}, "OPTIONS must be a dict"),
        ({"url": "redis://a"}, "unknown keys"),
        ({"URL": "redis://a", "SERVICE": "mymaster"}, "only go with SENTINELS"),
        ({"SENTINELS": [("s", 26379)], "SERVICE": "m", "DB": "3"}, "database number"),
    ],
)
def test_malformed_settings_are_explained(settings, value, problem):
    assert problem in redis_clients.setting_problem(value)
    settings.TICKETOFFICE_REDIS = value
    with pytest.raises(ImproperlyConfigured, match="TICKETOFFICE_REDIS is malformed"):
        get_store()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "redis://127.0.0.1:6379/0",
        "rediss://user:secret@cache.example.net:6380/0",
        "unix:///run/redis.sock?db=2",
        {"URL": "redis://a/1", "OPTIONS": {"socket_timeout": 0.1}},
        {"CLUSTER": ["redis://10.0.0.1:6379", "rediss://10.0.0.2:6379"]},
        {"SENTINELS": [("s1", 26379), ["s2", 26379]], "SERVICE": "mymaster", "DB": 3},
    ],
)
def test_well_formed_settings(value):
    assert redis_clients.setting_problem(value) is None


# Other backends ---------------------------------------------------------------------------


def test_valkey_cache_gets_the_raw_client(redis, settings):
    pytest.importorskip("django_valkey")
    settings.CACHES = {
        **settings.CACHES,
        "valkey": {
            "BACKEND": "django_valkey.cache.ValkeyCache",
            "LOCATION": settings.REDIS_URL.replace("redis://", "valkey://"),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
        "valkey-sharded": {
            "BACKEND": "django_valkey.cache.ValkeyCache",
            "LOCATION": [settings.REDIS_URL.replace("redis://", "valkey://")],
            "OPTIONS": {"CLIENT_CLASS": "django_valkey.client.ShardClient"},
        },
    }
    settings.TICKETOFFICE_CACHE = "valkey-sharded"
    assert type(get_store()) is StampStore
    settings.TICKETOFFICE_CACHE = "valkey"
    store = get_store()
    assert isinstance(store, RedisStampStore)
    target = uuid.uuid4()
    store.stamp(target, stamps.REVOKED, None)
    assert redis.get(store.key(target)) == b"revoked"
    assert store.lookup(target) == stamps.REVOKED
    assert store.claim(target) is True
    assert store.claim(target) is False


def test_other_backends_use_the_cache_api(settings):
    settings.CACHES = {
        **settings.CACHES,
        "files": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": "/tmp/ticketoffice-test-cache",
        },
    }
    settings.TICKETOFFICE_CACHE = "files"
    assert redis_clients.from_cache("files") is None
    assert type(get_store()) is StampStore


@override_settings(TICKETOFFICE_REDIS=None)
def test_reset_closes_nothing_it_does_not_own(redis):
    store = get_store()
    store.stamp(uuid.uuid4(), stamps.USED, None)
    client = store._redis
    stamps.reset_stores()
    # django-redis owns this pool: it stays open for the cache's other users.
    assert open_sockets(client) >= 1


# Lookups straight on the pool -------------------------------------------------------------


def test_lookups_go_to_the_pool_and_read_what_the_client_would(
    redis, monkeypatch, redis_roundtrips
):
    """A stamp lookup is one GET on a pooled connection, not through the client's layers."""
    from redis import Redis

    store = get_store()
    used, unknown = uuid.uuid4(), uuid.uuid4()
    store.stamp(used, stamps.USED, None)
    store.local.discard(used)  # ask Redis, not this process's memory
    through_client = spy(monkeypatch, Redis, "execute_command")
    on_pool = spy(monkeypatch, redis_clients, "run_command")
    redis_roundtrips.count = 0
    assert store.lookup(used) == stamps.USED
    assert store.lookup(unknown) is None
    assert (on_pool.count, through_client.count, redis_roundtrips.count) == (2, 0, 2)
    client = store._client()
    for key in (store.key(used), store.key(unknown)):
        assert redis_clients.run_command(client, "GET", key) == client.get(key)


def test_a_lookup_on_a_dead_server_costs_what_client_get_costs(settings):
    """The same connection attempts as client.get, no socket left, and a later reconnect."""
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis_py.Redis(
        port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 2)
    )
    attempts = Calls()
    original = redis_py.connection.AbstractConnection.connect

    def counted(self, *args, **kwargs):
        attempts.count += 1
        return original(self, *args, **kwargs)

    counts = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis_py.connection.AbstractConnection, "connect", counted)
        for lookup in (lambda: client.get("absent"), lambda: run_get(client)):
            attempts.count = 0
            with pytest.raises(redis_py.ConnectionError):
                lookup()
            counts.append(attempts.count)
    assert counts[0] == counts[1] >= 1
    assert open_sockets(client) == 0
    live = redis_py.Redis.from_url(settings.REDIS_URL)
    try:
        assert run_get(live) is None  # a fresh connection, a real reply
        assert open_sockets(live) == 1
    finally:
        live.connection_pool.disconnect()


def run_get(client):
    return redis_clients.run_command(client, "GET", f"absent-{uuid.uuid4()}")
