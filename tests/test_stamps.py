"""The stamp store (issue 3): query and round-trip counts per path, key layout, TTLs, commits.

Every functional test runs through ``stamp_cache`` with the real Redis at
``REDIS_URL``, named three ways (a django-redis alias, Django's own
``RedisCache`` alias, ``TICKETOFFICE_REDIS``), and with the local-memory cache.
Only the Redis round-trip counts differ (the local-memory cache makes none).
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from redis.crc import key_slot

from django_ticketoffice.exceptions import TicketUsedError
from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import RedisStampStore, StampStore, get_store
from django_ticketoffice.statements import can_return_rows
from django_ticketoffice.verification import verify_token
from tests.conftest import REDIS_STAMP_CACHES, flush_test_redis, free_port, redis_client

pytestmark = pytest.mark.django_db

CLOSED_PORT = free_port()  # nothing listens here


def issue(place="louvre", purpose="visit", **kwargs):
    kwargs.setdefault("data", {"first_name": "Ada"})
    if "expiry_datetime" not in kwargs:
        kwargs.setdefault("lifetime", timedelta(hours=1))
    return Ticket.objects.issue(place, purpose, **kwargs)


def link(path, token):
    return f"{path}?{urlencode({'ticket': token})}"


def stored(stamp_cache, key):
    """The raw value of a key in the stamp cache, as text."""
    if stamp_cache in REDIS_STAMP_CACHES:
        value = redis_client().get(key)
        return None if value is None else value.decode()
    return caches["default"].get(key, version=0)


def refused(response, status, reason):
    assert response.status_code == status, response.content
    assert f'data-reason="{reason}"'.encode() in response.content, response.content


def expected_roundtrips(stamp_cache, count):
    return count if stamp_cache in REDIS_STAMP_CACHES else 0


class Commands:
    """Names of the commands redis-py sends, pipelines included (one list per packet)."""

    def __init__(self) -> None:
        self.packets: list[list[str]] = []

    def clear(self) -> None:
        self.packets.clear()


@pytest.fixture
def redis_commands(monkeypatch, redis_roundtrips):
    """Record the commands of each packet sent to Redis: one command, or a pipeline.

    A new connection's handshake is left out, as ``redis_roundtrips`` does.
    """
    from redis.connection import AbstractConnection

    spy = Commands()
    original_send = AbstractConnection.send_command
    original_pack_many = AbstractConnection.pack_commands

    def send_command(self, *args, **kwargs):
        if not getattr(self, "_handshaking", False):
            spy.packets.append([str(args[0]).upper()])
        return original_send(self, *args, **kwargs)

    def pack_commands(self, commands):
        if not getattr(self, "_handshaking", False):
            spy.packets.append([str(c[0]).upper() for c in commands])
        return original_pack_many(self, commands)

    monkeypatch.setattr(AbstractConnection, "send_command", send_command)
    monkeypatch.setattr(AbstractConnection, "pack_commands", pack_commands)
    return spy


@pytest.fixture
def used(client, stamp_cache, django_capture_on_commit_callbacks):
    """A ticket used through the 0.2 example view, stamps written after commit."""
    ticket, token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(link("/louvre/", token)).status_code == 302
        assert client.get("/louvre/").status_code == 200
    return ticket, token


# 1. Replays and revocations: no SQL, one round trip --------------------------------------


def test_replayed_token_costs_no_query(
    fresh_process, client, used, stamp_cache, redis_roundtrips, django_assert_num_queries
):
    ticket, token = used
    assert stored(stamp_cache, get_store().key(ticket.uuid)) == "used"
    redis_roundtrips.count = 0
    with django_assert_num_queries(0):
        response = client.get(link("/louvre/", token))
    refused(response, 403, "used")
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)
    # The follow-up request, from the session, is refused the same way.
    redis_roundtrips.count = 0
    with django_assert_num_queries(0):
        response = client.get("/louvre/")
    refused(response, 403, "used")
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)


def test_revoked_token_costs_no_query(
    fresh_process,
    client,
    stamp_cache,
    redis_roundtrips,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    ticket, token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        assert ticket.revoke() is True
    redis_roundtrips.count = 0
    with django_assert_num_queries(0):
        response = client.get(link("/peek/", token))
    refused(response, 403, "revoked")
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)


def test_replay_after_queryset_revocation_costs_no_query(
    fresh_process,
    client,
    stamp_cache,
    redis_roundtrips,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    issued = [issue() for _ in range(3)]
    other, _other_token = issue(place="orsay")
    redis_roundtrips.count = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert Ticket.objects.filter(place="louvre").revoke() == 3
    # All the stamps of a batch go in one pipeline.
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)
    for ticket, token in issued:
        assert stored(stamp_cache, get_store().key(ticket.uuid)) == "revoked"
        redis_roundtrips.count = 0
        with django_assert_num_queries(0):
            response = client.get(link("/peek/", token))
        refused(response, 403, "revoked")
        assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)
    assert stored(stamp_cache, get_store().key(other.uuid)) is None


def test_replay_of_0_2_credentials_checks_the_password_first(
    client, used, stamp_cache, django_assert_num_queries
):
    # uuid + password: the stamp refuses, but only after the holder proved the secret
    # (one SELECT), so the answer does not depend on how warm the cache is.
    ticket, _ = used
    with django_assert_num_queries(1):
        response = client.get(f"/louvre/?{urlencode({'uuid': ticket.uuid, 'password': 'x'})}")
    refused(response, 403, "invalid")


# 2. Bad credentials: no SQL, no Redis -------------------------------------------------


def test_bad_credentials_cost_no_io(
    client, stamp_cache, redis_roundtrips, django_assert_num_queries
):
    _ticket, token = issue()
    _expired, expired_token = issue(expiry_datetime=timezone.now() - timedelta(seconds=5))
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    cases = {
        "forged": link("/peek/", forged),
        "truncated": link("/peek/", token[:50]),
        "wrong place": link("/orsay/", token),
        "signed-expired": link("/peek/", expired_token),
        "bad uuid": "/peek/?uuid=not-a-uuid&password=x",
    }
    redis_roundtrips.count = 0
    for name, address in cases.items():
        with django_assert_num_queries(0):
            response = client.get(address)
        refused(response, 403, "expired" if name == "signed-expired" else "invalid")
    assert redis_roundtrips.count == 0


# 3. Valid first use: fixed counts ------------------------------------------------------


def test_first_use_counts(
    client,
    stamp_cache,
    redis_commands,
    redis_roundtrips,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    ticket, token = issue()
    key = get_store().key(ticket.uuid)
    # The server knows the script after its first use (EVALSHA, then SCRIPT LOAD
    # once after a restart): count the steady state.
    get_store().check_and_claim(uuid.uuid4())
    redis_roundtrips.count = 0
    redis_commands.clear()
    # The credential request: stamp lookup, one SELECT, redirect to the clean URL.
    with django_assert_num_queries(1) as queries:
        response = client.get(link("/louvre/", token))
    assert response.status_code == 302
    assert queries.captured_queries[0]["sql"].startswith("SELECT")
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)
    if stamp_cache in REDIS_STAMP_CACHES:
        assert redis_commands.packets == [["GET"]]

    # The follow-up request: one script that checks the stamp and takes the
    # claim, one UPDATE ... RETURNING that claims and fetches the ticket, the
    # view, and after the commit one pipeline that stamps "used" and drops the claim.
    redis_roundtrips.count = 0
    redis_commands.clear()
    returning = can_return_rows("default")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with django_assert_num_queries(1 if returning else 2) as queries:
            response = client.get("/louvre/")
        assert response.status_code == 200
        # Before the commit: one round trip, no stamp yet.
        assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)
    assert len(callbacks) == 1
    sql = [q["sql"] for q in queries.captured_queries]
    if returning:
        assert sql[0].startswith("UPDATE") and "RETURNING" in sql[0]
    else:  # MySQL, MariaDB
        assert [s.split()[0] for s in sql] == ["UPDATE", "SELECT"]
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 2)
    if stamp_cache in REDIS_STAMP_CACHES:
        # The stamp and the release go out unanswered (CLIENT REPLY SKIP); this
        # store's first write also learns, in the same packet, that the server
        # skips replies (the ECHO).
        assert redis_commands.packets == [
            ["EVALSHA"],
            ["CLIENT", "SET", "CLIENT", "DEL", "ECHO"],
        ]
    assert stored(stamp_cache, key) == "used"
    assert stored(stamp_cache, get_store().claim_key(ticket.uuid)) is None
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None


def test_ticket_use_counts(
    stamp_cache, redis_roundtrips, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ticket, _ = issue()
    redis_roundtrips.count = 0
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        ticket.use()
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 1)
    assert stored(stamp_cache, get_store().key(ticket.uuid)) == "used"


# 4. Cache lost after use: the database refuses and the stamp is written back ---------------


def test_flushed_cache_replay_refused_and_stamp_rewritten(
    fresh_process,
    client,
    used,
    stamp_cache,
    redis_roundtrips,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    ticket, token = used
    key = get_store().key(ticket.uuid)
    if stamp_cache in REDIS_STAMP_CACHES:
        flush_test_redis(redis_client())
    else:
        caches["default"].clear()
    assert stored(stamp_cache, key) is None
    redis_roundtrips.count = 0
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        response = client.get(link("/louvre/", token))
    refused(response, 403, "used")
    # GET (miss), then SET NX of the written-back stamp.
    assert redis_roundtrips.count == expected_roundtrips(stamp_cache, 2)
    assert stored(stamp_cache, key) == "used"
    if stamp_cache in REDIS_STAMP_CACHES:
        assert redis_client().get(key) == b"used"
        remaining = (ticket.expiry_datetime - timezone.now()).total_seconds()
        assert 0 < redis_client().ttl(key) <= math.ceil(remaining)
    # Cheap again.
    with django_assert_num_queries(0):
        assert client.get(link("/louvre/", token)).status_code == 403


def test_written_back_stamp_of_a_ticket_without_expiry_lives_stamp_ttl(
    redis, settings, django_capture_on_commit_callbacks
):
    settings.TICKETOFFICE_STAMP_TTL = 1234
    ticket, token = issue(lifetime=None)
    Ticket.objects.filter(pk=ticket.pk).update(revocation_datetime=timezone.now())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception) as raised:
        verify_token(token, "louvre", "visit")
    assert raised.value.reason == "revoked"
    key = get_store().key(ticket.uuid)
    assert redis.get(key) == b"revoked"
    assert 1200 < redis.ttl(key) <= 1234


# Key layout, values and TTLs -------------------------------------------------------------


def test_key_layout_prefix_and_cluster_slot(redis, settings, django_capture_on_commit_callbacks):
    settings.TICKETOFFICE_CACHE_KEY_PREFIX = "ticketoffice-tests:myproject:"
    ticket, _ = issue()
    store = get_store()
    assert isinstance(store, RedisStampStore)
    key = store.key(ticket.uuid)
    claim = store.claim_key(ticket.uuid)
    assert key == f"ticketoffice-tests:myproject:{{{ticket.uuid}}}"
    assert claim == f"ticketoffice-tests:myproject:{{{ticket.uuid}}}:claim"
    # One Redis Cluster hash slot per ticket, whatever the prefix.
    assert key_slot(key.encode()) == key_slot(claim.encode())
    assert key_slot(key.encode()) == key_slot(str(ticket.uuid).encode())

    assert store.claim(ticket.uuid) is True
    assert redis.get(claim) == b"1"
    assert 0 < redis.ttl(claim) <= 60  # TICKETOFFICE_CLAIM_TTL
    assert store.claim(ticket.uuid) is False  # first writer wins
    with django_capture_on_commit_callbacks(execute=True):
        ticket.use()
    # Plain bytes, not pickle: any client in any language can read them.
    assert redis.get(key) == b"used"
    assert sorted(redis.keys("*")) == sorted([key.encode(), claim.encode()])
    store.release(ticket.uuid)
    assert redis.keys("*") == [key.encode()]


def test_stamp_ttl_is_remaining_lifetime(redis):
    store = get_store()
    soon = timezone.now() + timedelta(seconds=90)
    store.stamp(uuid.uuid4(), "used", soon)
    (key,) = redis.keys("*")
    assert 0 < redis.ttl(key) <= 90
    flush_test_redis(redis)
    store.stamp(uuid.uuid4(), "used", None)
    (key,) = redis.keys("*")
    assert 30 * 24 * 3600 - 10 < redis.ttl(key) <= 30 * 24 * 3600
    # A stamp is never rewritten: SET NX keeps the first state.
    target = uuid.uuid4()
    store.stamp(target, "revoked", soon)
    store.stamp(target, "used", soon)
    assert redis.get(store.key(target)) == b"revoked"


def test_unknown_state_is_a_programming_error(stamp_cache):
    with pytest.raises(ValueError):
        get_store().stamp(uuid.uuid4(), "maybe", None)


def test_lookup_ignores_foreign_values(redis):
    store = get_store()
    target = uuid.uuid4()
    redis.set(store.key(target), b"\x80\x05pickle")
    assert store.lookup(target) is None


def test_store_selection(settings):
    settings.CACHES = {
        **settings.CACHES,
        "builtin": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
        },
        "sharded": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": [settings.REDIS_URL],
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.ShardClient"},
        },
        # Nothing listens there: choosing the store connects to nothing.
        "sentinel": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://mymaster/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [("127.0.0.1", CLOSED_PORT)],
            },
        },
    }
    expected = {
        "redis": RedisStampStore,
        "default": StampStore,
        # Django's own Redis backend: its raw client, as first-class as django-redis.
        "builtin": RedisStampStore,
        "sharded": StampStore,
        "sentinel": RedisStampStore,
    }
    for alias, store_class in expected.items():
        settings.TICKETOFFICE_CACHE = alias
        assert type(get_store()) is store_class, alias
        assert get_store() is get_store()


# Stamps follow the database commit --------------------------------------------------------


class Rollback(Exception):
    pass


def test_rolled_back_transaction_leaves_no_stamp(stamp_cache, django_capture_on_commit_callbacks):
    (a, _), (b, _), (c, _), (d, d_token) = (issue() for _ in range(4))
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Rollback),
        transaction.atomic(),
    ):
        a.use()
        assert b.revoke() is True
        assert Ticket.objects.filter(pk=c.pk).revoke() == 1
        # A refusal seen inside the transaction is not written back either.
        Ticket.objects.filter(pk=d.pk).update(usage_datetime=timezone.now())
        with pytest.raises(TicketUsedError):
            verify_token(d_token, "louvre", "visit")
        raise Rollback
    assert callbacks == []
    store = get_store()
    for ticket in (a, b, c, d):
        assert stored(stamp_cache, store.key(ticket.uuid)) is None
        assert store.lookup(ticket.uuid) is None
        ticket.refresh_from_db()
        assert ticket.is_valid()


@pytest.mark.django_db(transaction=True)
def test_stamps_written_after_real_commit_only(stamp_cache):
    (a, _), (b, _), (c, _) = (issue() for _ in range(3))
    store = get_store()
    with pytest.raises(Rollback), transaction.atomic():
        a.use()
        b.revoke()
        raise Rollback
    assert store.lookup(a.uuid) is None
    assert store.lookup(b.uuid) is None
    with transaction.atomic():
        a.refresh_from_db()
        a.use()
        assert b.revoke() is True
        Ticket.objects.filter(pk=c.pk).revoke()
        assert store.lookup(a.uuid) is None  # not before the commit
    assert store.lookup(a.uuid) == "used"
    assert store.lookup(b.uuid) == "revoked"
    assert store.lookup(c.uuid) == "revoked"


def test_failed_view_releases_claim_and_stale_stamp(
    client, stamp_cache, django_capture_on_commit_callbacks
):
    # A view that answers 400 gives the ticket back: no claim, no stamp left behind.
    ticket, token = issue()
    store = get_store()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(link("/fail/400/", token)).status_code == 302
        assert client.get("/fail/400/").status_code == 400
    assert stored(stamp_cache, store.claim_key(ticket.uuid)) is None
    assert stored(stamp_cache, store.key(ticket.uuid)) is None
    ticket.refresh_from_db()
    assert ticket.is_valid()


# Reads go to the primary ---------------------------------------------------------------


def test_stamps_are_read_from_the_primary(
    fresh_process, settings, redis, client, redis_roundtrips, django_assert_num_queries
):
    settings.CACHES = {
        **settings.CACHES,
        "replicated": {
            "BACKEND": "django_redis.cache.RedisCache",
            # A primary and a "replica" that is down: django-redis sends cache-API
            # reads to the replica, so any read that reaches it would fail.
            "LOCATION": [settings.REDIS_URL, f"redis://127.0.0.1:{CLOSED_PORT}/0"],
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.TICKETOFFICE_CACHE = "replicated"
    ticket, token = issue()
    store = get_store()
    store.stamp(ticket.uuid, "used", ticket.expiry_datetime)
    Ticket.objects.filter(pk=ticket.pk).update(usage_datetime=timezone.now())
    from redis.exceptions import ConnectionError as RedisConnectionError

    with pytest.raises(RedisConnectionError):
        caches["replicated"].get("anything")
    for _ in range(3):
        redis_roundtrips.count = 0
        with django_assert_num_queries(0):
            response = client.get(link("/peek/", token))
        refused(response, 403, "used")
        assert redis_roundtrips.count == 1
    assert store.available


def test_undone_claim_drops_a_stale_written_back_stamp(stamp_cache, rf):
    from django_ticketoffice.claims import Claim

    ticket, _ = issue()
    request = rf.get("/louvre/")
    request.ticket = ticket
    store = get_store()
    claim = Claim.for_request(request)
    claim.take()
    assert claim.holds_cache_claim is True  # both caches support the first-writer-wins add
    # Meanwhile another request saw the claimed row and wrote a "used" stamp back.
    store.stamp(ticket.uuid, "used", ticket.expiry_datetime)
    assert store.lookup(ticket.uuid) == "used"
    claim.undo()  # the view failed: the ticket is valid again, and so is the cache
    assert store.lookup(ticket.uuid) is None
    assert stored(stamp_cache, store.claim_key(ticket.uuid)) is None
    ticket.refresh_from_db()
    assert ticket.is_valid()
