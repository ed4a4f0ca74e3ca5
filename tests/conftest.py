"""Fixtures shared by the suite: real Redis, real PostgreSQL, round-trip counting."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import caches

from django_ticketoffice import stamps

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick), so parallel runs never clash."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _missing_service(reason: str) -> None:
    """Skip locally, fail in CI: a missing service is a broken CI machine."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(f"{reason} (set CI=true to make this a failure)")


def pytest_collection_modifyitems(config, items):
    """Topology tests start a dozen servers: they run only when ``-m`` names them.

    ``pytest -m topology`` runs them (``.ci/run`` does, right after the suite);
    ``pytest`` and ``pytest -m "not browser"`` leave them out, as deselected.
    """
    if "topology" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("topology") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    stamps.reset_stores()
    caches["default"].clear()
    yield
    stamps.reset_stores()


def redis_client():
    from django_redis import get_redis_connection

    return get_redis_connection("redis", write=True)


# Past this many keys a database is not the suite's: it never writes that many.
_MAX_SCANNED_KEYS = 10_000
_checked_databases: set[str] = set()


def flush_test_redis(client) -> None:
    """Delete the keys this suite wrote (they start with TEST_KEY_PREFIX), and only those.

    The first time, refuse a database that holds any other key: the suite asserts
    on whole-database contents, and REDIS_URL may point at data someone keeps.
    """
    prefix = settings.TEST_KEY_PREFIX.encode()
    location = settings.REDIS_URL
    if location not in _checked_databases:
        for count, key in enumerate(client.scan_iter(count=1000)):
            if not key.startswith(prefix) or count >= _MAX_SCANNED_KEYS:
                pytest.fail(
                    f"The Redis database at REDIS_URL={location} holds keys that this test "
                    f"suite did not write (e.g. {key!r}); the suite deletes keys between "
                    "tests, so it refuses to run there. Point REDIS_URL at an empty "
                    "database, e.g. REDIS_URL=redis://127.0.0.1:6379/15.",
                    pytrace=False,
                )
        _checked_databases.add(location)
    keys = list(client.scan_iter(match=prefix + b"*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


@pytest.fixture
def redis(settings) -> Iterator[object]:
    """The real Redis behind the "redis" alias, emptied of the suite's keys, as the stamp cache."""
    client = redis_client()
    try:
        client.ping()
    except Exception as error:
        _missing_service(f"Redis is not reachable at {settings.REDIS_URL}: {error}")
    flush_test_redis(client)
    settings.TICKETOFFICE_CACHE = "redis"
    yield client
    flush_test_redis(client)


# How a project can point the stamps at one Redis server: a django-redis alias,
# Django's own RedisCache alias, or the TICKETOFFICE_REDIS setting. All three
# reach the same server (REDIS_URL) through its raw client.
REDIS_STAMP_CACHES = ("redis", "builtin", "setting")


@pytest.fixture(params=[*REDIS_STAMP_CACHES, "locmem"])
def stamp_cache(request, settings) -> Iterator[str]:
    """Run a test with each way of naming Redis, and with the local-memory cache."""
    if request.param in REDIS_STAMP_CACHES:
        request.getfixturevalue("redis")
        if request.param == "builtin":
            settings.TICKETOFFICE_CACHE = "builtin"
        elif request.param == "setting":
            settings.TICKETOFFICE_CACHE = "default"
            settings.TICKETOFFICE_REDIS = settings.REDIS_URL
        yield request.param
    else:
        settings.TICKETOFFICE_CACHE = "default"
        yield "locmem"


def redis_down(settings) -> None:
    """Make the stamp cache a django-redis alias on a port where nothing listens."""
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.TICKETOFFICE_CACHE = "down"


@pytest.fixture
def fresh_process(settings) -> None:
    """No final refusals kept in this process's memory: the cache tiers as another
    process sees them (each gunicorn worker has its own memory)."""
    settings.TICKETOFFICE_LOCAL_STAMPS = 0


class RoundTrips:
    """Counts packets sent to Redis by redis-py: one per command or pipeline.

    The handshake of a new connection (``CLIENT SETINFO``, ``SELECT``, ...) is
    not counted: it is paid once per connection, not per check.
    """

    def __init__(self) -> None:
        self.count = 0
        self.handshakes = 0


@pytest.fixture
def redis_roundtrips(monkeypatch) -> RoundTrips:
    """Spy on the real connection: commands still reach the real server."""
    from redis.connection import AbstractConnection

    counter = RoundTrips()
    original_send = AbstractConnection.send_packed_command
    original_handshake = AbstractConnection.on_connect_check_health

    def send_packed_command(self, command, check_health=True):
        if not getattr(self, "_handshaking", False):
            counter.count += 1
        return original_send(self, command, check_health)

    def on_connect_check_health(self, *args, **kwargs):
        counter.handshakes += 1
        self._handshaking = True
        try:
            return original_handshake(self, *args, **kwargs)
        finally:
            self._handshaking = False

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send_packed_command)
    monkeypatch.setattr(AbstractConnection, "on_connect_check_health", on_connect_check_health)
    return counter


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture
def postgres() -> None:
    """Tests of concurrency need PostgreSQL's row locks (SQLite serialises writers)."""
    if not is_postgres():
        pytest.skip(reason="needs postgres: DATABASE_URL=postgres://... (.ci/run runs it)")
