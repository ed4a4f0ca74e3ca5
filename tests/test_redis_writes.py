"""Stamp writes that wait for no reply (CLIENT REPLY SKIP), and servers that refuse it.

Against real servers: the shared Redis, and a redis-server of the test's own
where ``CLIENT`` is renamed away (as some proxies and managed services do).
"""

from __future__ import annotations

import uuid

import pytest
from redis.connection import AbstractConnection

from django_ticketoffice import stamps
from django_ticketoffice.stamps import get_store
from tests.conftest import free_port
from tests.servers import RedisServer


@pytest.fixture
def reads(monkeypatch):
    """Counts the replies redis-py reads (the real connection still reads them)."""
    counter = {"count": 0}
    original = AbstractConnection.read_response

    def read_response(self, *args, **kwargs):
        counter["count"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "read_response", read_response)
    return counter


def many_stamps_then_lookups(store, count=30):
    """Interleave unanswered writes with reads: a stray reply would answer a read."""
    expected = {}
    for index in range(count):
        ticket_uuid = uuid.uuid4()
        state = stamps.USED if index % 2 else stamps.REVOKED
        store.stamp(ticket_uuid, state, None, release_claim=bool(index % 3))
        store.local.discard(ticket_uuid)  # ask Redis, not this process's memory
        expected[ticket_uuid] = state
        assert store.lookup(ticket_uuid) == state
    for ticket_uuid, state in expected.items():
        store.local.discard(ticket_uuid)
        assert store.lookup(ticket_uuid) == state
    assert store.lookup(uuid.uuid4()) is None


def test_stamps_go_out_unanswered_and_nothing_is_left_to_read(redis, reads):
    store = get_store()
    first = uuid.uuid4()
    store.stamp(first, stamps.USED, None)  # learns that the server skips replies
    assert store._skip_replies is True
    reads["count"] = 0
    second = uuid.uuid4()
    store.stamp(second, stamps.REVOKED, None, release_claim=True)
    assert reads["count"] == 0  # no round trip waited for
    assert redis.get(store.key(second)) == b"revoked"
    assert 0 < redis.ttl(store.key(second)) <= stamps.app_settings.STAMP_TTL
    many_stamps_then_lookups(store)


def test_a_server_that_refuses_client_gets_ordinary_writes(settings, reads):
    server = RedisServer(free_port(), "--rename-command", "CLIENT", "")
    server.start()
    try:
        settings.CACHES = {
            **settings.CACHES,
            "no-client": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{server.port}/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
            },
        }
        settings.TICKETOFFICE_CACHE = "no-client"
        store = get_store()
        first = uuid.uuid4()
        store.stamp(first, stamps.USED, None, release_claim=True)
        assert store._skip_replies is False
        assert store.available  # the refusal was read and drained, not a failure
        assert server.client().get(store.key(first)) == b"used"
        reads["count"] = 0
        store.stamp(uuid.uuid4(), stamps.USED, None)
        assert reads["count"] >= 1  # it waits for the reply again, as it must
        many_stamps_then_lookups(store)
    finally:
        server.stop()
