"""Redis outages (issue 3, case 5): the database decides, one warning, a circuit breaker.

Two kinds of outage: an alias pointing at a closed port, and a real
``redis-server`` that the test starts on its own port, kills and restarts.
Recovery waits a little longer than ``TICKETOFFICE_CACHE_RETRY_INTERVAL``;
no assertion depends on how long anything took.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.cache import caches

from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import RedisStampStore, get_store
from tests.conftest import _missing_service, free_port
from tests.servers import RedisServer

pytestmark = pytest.mark.django_db

CLOSED_PORT = free_port()  # nothing listens here
SERVER_PORT = free_port()  # a redis-server started by these tests

STAMPS_LOGGER = "django_ticketoffice.stamps"


def alias(port, **options):
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        # The recommended settings for a stamp cache: fail fast.
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5, **options},
    }


def issue(**kwargs):
    return Ticket.objects.issue(
        "louvre", "visit", data={"first_name": "Ada"}, lifetime=timedelta(hours=1), **kwargs
    )


def link(path, token):
    return f"{path}?{urlencode({'ticket': token})}"


def refused(response, status, reason):
    assert response.status_code == status, response.content
    assert f'data-reason="{reason}"'.encode() in response.content, response.content


def warnings(caplog):
    return [r for r in caplog.records if r.name == STAMPS_LOGGER and r.levelno == logging.WARNING]


def use(client, token):
    """First use through the 0.2 example view: credential request, then the view."""
    response = client.get(link("/louvre/", token))
    assert response.status_code == 302, response.content
    response = client.get(response["Location"])
    assert response.status_code == 200, response.content


class NetworkAttempts:
    """TCP connects plus packets sent: every time redis-py touched the network.

    A refused connection sends no packet, and a stale pooled socket may fail
    before or after sending, so both are counted.
    """

    def __init__(self, roundtrips) -> None:
        self.connects = 0
        self.roundtrips = roundtrips

    def count(self) -> int:
        return self.connects + self.roundtrips.count

    def reset(self) -> None:
        self.connects = self.roundtrips.count = 0


@pytest.fixture
def redis_attempts(monkeypatch, redis_roundtrips):
    from redis.connection import Connection

    attempts = NetworkAttempts(redis_roundtrips)
    original = Connection._connect

    def _connect(self):
        attempts.connects += 1
        return original(self)

    monkeypatch.setattr(Connection, "_connect", _connect)
    return attempts


@pytest.fixture
def server():
    if shutil.which("redis-server") is None:
        _missing_service("redis-server is not installed")
    server = RedisServer(SERVER_PORT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(server, settings):
    """Select the test's own redis-server as the stamp cache."""
    settings.CACHES = {**settings.CACHES, "own": alias(SERVER_PORT)}
    settings.TICKETOFFICE_CACHE = "own"
    settings.TICKETOFFICE_CACHE_RETRY_INTERVAL = 0.5
    return server


@pytest.fixture
def down(settings):
    """Point the stamp cache at a closed port; the breaker stays open for the test."""
    settings.CACHES = {**settings.CACHES, "down": alias(CLOSED_PORT)}
    settings.TICKETOFFICE_CACHE = "down"
    settings.TICKETOFFICE_CACHE_RETRY_INTERVAL = 60
    return "down"


# Closed port ------------------------------------------------------------------------------


def test_closed_port_the_database_decides(
    client, down, caplog, redis_attempts, django_capture_on_commit_callbacks
):
    valid, valid_token = issue()
    used, used_token = issue()
    revoked, revoked_token = issue()
    Ticket.objects.filter(pk=used.pk).update(usage_datetime=used.creation_datetime)
    caplog.set_level(logging.WARNING, logger=STAMPS_LOGGER)
    with django_capture_on_commit_callbacks(execute=True):
        assert revoked.revoke() is True
        use(client, valid_token)
        refused(client.get(link("/louvre/", used_token)), 403, "used")
        refused(client.get(link("/louvre/", revoked_token)), 403, "revoked")
        refused(client.get(link("/louvre/", valid_token)), 403, "used")  # now used
        refused(client.get("/louvre/"), 403, "used")  # the session's ticket too
    valid.refresh_from_db()
    assert valid.usage_datetime is not None
    # One connection attempt opened the breaker; nothing else touched the network.
    assert redis_attempts.count() == 1
    assert not get_store().available
    (warning,) = warnings(caplog)
    assert "'down'" in warning.getMessage()
    assert "ConnectionError" in warning.getMessage()
    # No token and no uuid in the log line.
    for ticket, token in ((valid, valid_token), (used, used_token), (revoked, revoked_token)):
        assert token not in caplog.text
        assert str(ticket.uuid) not in caplog.text


def test_breaker_retries_once_per_interval(
    client, down, settings, caplog, redis_attempts, django_assert_num_queries
):
    settings.TICKETOFFICE_CACHE_RETRY_INTERVAL = 0.5
    ticket, token = issue()
    Ticket.objects.filter(pk=ticket.pk).update(usage_datetime=ticket.creation_datetime)
    caplog.set_level(logging.WARNING, logger=STAMPS_LOGGER)
    with django_assert_num_queries(1):
        refused(client.get(link("/peek/", token)), 403, "used")
    assert redis_attempts.count() == 1
    for _ in range(5):  # breaker open: no connection attempt, no new warning
        with django_assert_num_queries(1):
            refused(client.get(link("/peek/", token)), 403, "used")
    assert redis_attempts.count() == 1
    assert len(warnings(caplog)) == 1
    time.sleep(0.6)
    # Half open: one new attempt, which fails and opens the breaker again.
    refused(client.get(link("/peek/", token)), 403, "used")
    refused(client.get(link("/peek/", token)), 403, "used")
    assert redis_attempts.count() == 2
    assert len(warnings(caplog)) == 2


def test_closed_policy_refuses_with_503_while_down(client, down, settings, redis_attempts):
    settings.TICKETOFFICE_CACHE_FAILURE = "closed"
    valid, valid_token = issue()
    used, used_token = issue()
    Ticket.objects.filter(pk=used.pk).update(usage_datetime=used.creation_datetime)
    for token in (valid_token, used_token, valid_token):
        refused(client.get(link("/louvre/", token)), 503, "unavailable")
    assert redis_attempts.count() == 1
    valid.refresh_from_db()
    assert valid.is_valid()


def test_ignore_exceptions_never_accepts_a_used_ticket(
    fresh_process,
    client,
    settings,
    caplog,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    settings.CACHES = {**settings.CACHES, "lenient": alias(CLOSED_PORT, IGNORE_EXCEPTIONS=True)}
    settings.TICKETOFFICE_CACHE = "lenient"
    settings.TICKETOFFICE_CACHE_RETRY_INTERVAL = 60
    caplog.set_level(logging.WARNING, logger=STAMPS_LOGGER)
    # Through the cache API, "down" reads exactly like "not stamped"...
    assert caches["lenient"].get("anything") is None
    # ...so the store talks to the raw client, which still raises, and sees the outage.
    assert isinstance(get_store(), RedisStampStore)
    _ticket, token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        use(client, token)
    for _ in range(3):
        with django_assert_num_queries(1):
            refused(client.get(link("/louvre/", token)), 403, "used")
    assert len(warnings(caplog)) == 1
    assert not get_store().available


# A real server, killed and restarted ----------------------------------------------------------


def test_killed_and_restarted_server(
    fresh_process,
    client,
    own_redis,
    caplog,
    redis_attempts,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    raw = own_redis.client()
    used, used_token = issue()
    revoked, revoked_token = issue()
    later, later_token = issue()
    store = get_store()
    caplog.set_level(logging.INFO, logger=STAMPS_LOGGER)
    with django_capture_on_commit_callbacks(execute=True):
        use(client, used_token)
        assert revoked.revoke() is True
    assert raw.get(store.key(used.uuid)) == b"used"
    assert raw.get(store.key(revoked.uuid)) == b"revoked"
    with django_assert_num_queries(0):
        refused(client.get(link("/louvre/", used_token)), 403, "used")

    own_redis.stop()
    redis_attempts.reset()
    with django_capture_on_commit_callbacks(execute=True):
        # The database refuses what the cache can no longer tell.
        with django_assert_num_queries(1):
            refused(client.get(link("/louvre/", used_token)), 403, "used")
        with django_assert_num_queries(1):
            refused(client.get(link("/louvre/", revoked_token)), 403, "revoked")
        # A valid ticket still works, exactly once.
        use(client, later_token)
        refused(client.get(link("/louvre/", later_token)), 403, "used")
    assert redis_attempts.count() == 1  # the failed attempt; then the breaker is open
    assert len(warnings(caplog)) == 1

    own_redis.start()  # empty: the stamps are gone with the old process
    assert raw.dbsize() == 0
    time.sleep(0.6)  # a little over TICKETOFFICE_CACHE_RETRY_INTERVAL
    with django_capture_on_commit_callbacks(execute=True):
        for token in (used_token, later_token):
            with django_assert_num_queries(1):
                refused(client.get(link("/louvre/", token)), 403, "used")
        with django_assert_num_queries(1):
            refused(client.get(link("/louvre/", revoked_token)), 403, "revoked")
    # Written back on the way: cheap again, and the breaker is closed.
    assert raw.get(store.key(used.uuid)) == b"used"
    assert raw.get(store.key(later.uuid)) == b"used"
    assert raw.get(store.key(revoked.uuid)) == b"revoked"
    assert 0 < raw.ttl(store.key(used.uuid)) <= 3600
    for token, reason in ((used_token, "used"), (revoked_token, "revoked")):
        with django_assert_num_queries(0):
            refused(client.get(link("/louvre/", token)), 403, reason)
    assert store.available
    assert len(warnings(caplog)) == 1
    assert any("is back" in r.getMessage() for r in caplog.records)
    # And fresh tickets get their stamps again.
    fresh, fresh_token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        use(client, fresh_token)
    assert raw.get(store.key(fresh.uuid)) == b"used"


def test_closed_policy_with_a_killed_server(
    client, own_redis, settings, django_capture_on_commit_callbacks
):
    settings.TICKETOFFICE_CACHE_FAILURE = "closed"
    ticket, token = issue()
    other, other_token = issue()
    response = client.get(link("/louvre/", token))
    assert response.status_code == 302
    own_redis.stop()
    refused(client.get("/louvre/"), 503, "unavailable")
    refused(client.get(link("/louvre/", other_token)), 503, "unavailable")
    ticket.refresh_from_db()
    assert ticket.is_valid()
    own_redis.start()
    time.sleep(0.6)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get("/louvre/").status_code == 200
        use(client, other_token)
    ticket.refresh_from_db()
    assert ticket.used
    assert own_redis.client().get(get_store().key(other.uuid)) == b"used"
