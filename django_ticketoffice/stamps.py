"""The stamp store: a cache of "used" and "revoked" stamps in front of the database.

The database is the source of truth. The store may only ever say *refuse*:
a miss, an evicted key or an unreachable cache falls through to the database.

With Redis (``TICKETOFFICE_REDIS``, or a django-redis, Django ``RedisCache`` or
django-valkey alias in ``TICKETOFFICE_CACHE``) the store talks to the raw
client of the primary, found once per process by
:mod:`django_ticketoffice.redis_clients` (never a replica, so a fresh stamp is
always seen): one ``GET`` per check, ``SET NX`` with a TTL per stamp, plain
bytes. Redis Cluster works the same way. With any other Django cache backend
the store uses the portable cache API.

Key layout (``{uuid}`` keeps every key of a ticket in one Redis Cluster slot, so
every command and pipeline about one ticket goes to one node)::

    <prefix>{<uuid>}          b"used" or b"revoked"
    <prefix>{<uuid>}:claim    b"1" while a stamped view runs (single-use tickets)
    <prefix>{<uuid>}:attempts the count of guesses at its code or password

A circuit breaker keeps a failing cache out of the request path for
``TICKETOFFICE_CACHE_RETRY_INTERVAL`` seconds and logs one warning per
interval, so a dead Redis costs neither its socket timeout on every request
nor a flood of log lines.

Every write follows the database: stamps of a use or a revocation are written
by ``transaction.on_commit`` callbacks, and so are the stamps written back when
the database refuses a ticket the cache did not know about
(:func:`django_ticketoffice.models.on_ticket_commit`). A rolled-back
transaction leaves no stamp.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import router, transaction
from django.dispatch import receiver
from django.utils import timezone

from . import redis_clients, redis_writes
from .conf import app_settings
from .exceptions import TicketError, TicketRevokedError, TicketServiceUnavailable, TicketUsedError
from .local_stamps import LocalStamps

logger = logging.getLogger("django_ticketoffice.stamps")

USED = "used"
REVOKED = "revoked"
# A multi-use ticket used up: refused like "used", but not final (a use still
# in flight may fail and give its use back), so never kept in process memory.
SPENT = "spent"
# Written over the stamp when a use of a multi-use ticket is undone: reads as a
# miss, and keeps the "used" stamp of a concurrent use out (SET NX) meanwhile.
HELD = "held"

# DECR only a counter that still exists: a missing key must not come back
# negative and without a TTL.
_DECR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""

# Commands per pipeline when stamping many tickets: a bulk revocation of
# 100,000 tickets is 100 round trips, none of which holds the server for long.
PIPELINE_BATCH = 1000


class StampStore:
    """Used/revoked stamps in a Django cache, behind a circuit breaker."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        # What the log lines name: the alias, or the setting that named the client.
        self.label = alias
        self.prefix: str = app_settings.CACHE_KEY_PREFIX
        self.failure_policy: str = app_settings.CACHE_FAILURE
        self.retry_interval = float(app_settings.CACHE_RETRY_INTERVAL)
        self._down_until = 0.0
        self._failing = False
        self._lock = threading.Lock()
        self.local = LocalStamps(app_settings.LOCAL_STAMPS, app_settings.LOCAL_STAMP_TTL)

    # Keys --------------------------------------------------------------

    def key(self, ticket_uuid: uuid.UUID) -> str:
        """Return the stamp key of a ticket."""
        return f"{self.prefix}{{{ticket_uuid}}}"

    def claim_key(self, ticket_uuid: uuid.UUID) -> str:
        """Return the claim key of a ticket (same Redis Cluster slot as its stamp)."""
        return f"{self.prefix}{{{ticket_uuid}}}:claim"

    def attempts_key(self, ticket_uuid: uuid.UUID) -> str:
        """Return the key counting guesses at a ticket's code or password (same slot)."""
        return f"{self.prefix}{{{ticket_uuid}}}:attempts"

    # Circuit breaker ---------------------------------------------------

    @property
    def available(self) -> bool:
        """False while the breaker keeps the cache out of the request path."""
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, error: BaseException) -> None:
        with self._lock:
            first = time.monotonic() >= self._down_until
            self._down_until = time.monotonic() + self.retry_interval
            self._failing = True
        self._drop_connections()
        if first:
            logger.warning(
                "Ticket stamp cache %r failed during %s (%s: %s). The database decides "
                "alone for the next %g s.",
                self.label,
                operation,
                type(error).__name__,
                error,
                self.retry_interval,
            )

    def _succeeded(self) -> None:
        if self._failing:
            with self._lock:
                recovered, self._failing = self._failing, False
            if recovered:
                logger.info("Ticket stamp cache %r is back.", self.label)

    def _drop_connections(self) -> None:
        """Forget pooled connections after a failure (a restarted server broke them)."""

    def _unavailable(self) -> None:
        if self.failure_policy == "closed":
            raise TicketServiceUnavailable()

    # Public API --------------------------------------------------------

    def lookup(self, ticket_uuid: uuid.UUID) -> str | None:
        """Return ``"used"``, ``"revoked"`` or ``None`` (unknown: ask the database).

        Raises :class:`TicketServiceUnavailable` when the cache is down and the
        failure policy is ``"closed"``. Final states this process already
        knows are answered from memory.
        """
        known = self.local.get(ticket_uuid)
        if known is not None:
            return known
        if not self.available:
            self._unavailable()
            return None
        try:
            value = self._get(self.key(ticket_uuid))
        except Exception as error:
            self._failed("lookup", error)
            self._unavailable()
            return None
        self._succeeded()
        return self._known(ticket_uuid, value)

    def _known(self, ticket_uuid: uuid.UUID, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if value == SPENT:
            return USED
        if value not in (USED, REVOKED):
            return None
        self.local.put(ticket_uuid, value)
        return str(value)

    def stamp(
        self,
        ticket_uuid: uuid.UUID,
        state: str,
        expiry: datetime | None,
        *,
        release_claim: bool = False,
    ) -> None:
        """Record that a ticket is used or revoked. Failures are logged, never raised.

        ``release_claim`` also drops the ticket's claim, in the same round trip.
        """
        self.stamp_many([(ticket_uuid, expiry)], state, release_claims=release_claim)

    def stamp_many(
        self,
        tickets: Iterable[tuple[uuid.UUID, datetime | None]],
        state: str,
        *,
        release_claims: bool = False,
    ) -> None:
        """Record the same state for many tickets, in one round trip where possible.

        "used" and "revoked" are final, and kept in process memory too; "spent"
        (a multi-use ticket used up) only in the cache.
        """
        if state not in (USED, REVOKED, SPENT):
            raise ValueError(f"Unknown stamp {state!r}")
        tickets = list(tickets)
        if state != SPENT:
            for ticket_uuid, _expiry in tickets:
                self.local.put(ticket_uuid, state)
        items = [(self.key(u), self.ttl(expiry)) for u, expiry in tickets]
        if not items or not self.available:
            return
        released = [self.claim_key(u) for u, _ in tickets] if release_claims else []
        try:
            self._set_many(items, state, released)
        except Exception as error:
            self._failed("stamp", error)
        else:
            self._succeeded()

    def write_back(self, ticket_uuid: uuid.UUID, state: str, expiry: datetime | None) -> None:
        """Record a state the database found, which the cache did not know.

        A "used" may be a claim still in flight, which would revert if undone:
        it is written only while no claim key exists (atomically with Redis),
        and not kept in process memory.
        """
        if state == REVOKED:
            self.stamp(ticket_uuid, state, expiry)
            return
        if not self.available:
            return
        try:
            self._set_unless_claimed(
                self.key(ticket_uuid), self.claim_key(ticket_uuid), state, self.ttl(expiry)
            )
        except Exception as error:
            self._failed("stamp", error)
        else:
            self._succeeded()

    def check_and_claim(self, ticket_uuid: uuid.UUID) -> tuple[str | None, bool | None]:
        """Look the stamp up and, if there is none, try to take the claim.

        Returns ``(state, None)`` for a used or revoked ticket, else ``(None,
        claim)`` with the result of :meth:`claim`. One round trip with Redis.
        Raises :class:`TicketServiceUnavailable` like :meth:`lookup`.
        """
        known = self.local.get(ticket_uuid)
        if known is not None:
            return known, None
        if not self.available:
            self._unavailable()
            return None, None
        try:
            value, claimed = self._check_and_add(
                self.key(ticket_uuid), self.claim_key(ticket_uuid), int(app_settings.CLAIM_TTL)
            )
        except Exception as error:
            self._failed("claim", error)
            self._unavailable()
            return None, None
        self._succeeded()
        state = self._known(ticket_uuid, value)
        if state is not None:
            return state, None
        return None, claimed

    def claim(self, ticket_uuid: uuid.UUID) -> bool | None:
        """Try to take the fast first-writer-wins claim on a ticket.

        Returns True (taken), False (another request holds it) or None (the
        cache cannot tell; the database claim decides alone).
        """
        if not self.available:
            return None
        try:
            return self._add(self.claim_key(ticket_uuid), int(app_settings.CLAIM_TTL))
        except Exception as error:
            self._failed("claim", error)
            return None

    def release(self, ticket_uuid: uuid.UUID, *, unstamp: bool = False) -> None:
        """Drop a claim taken by :meth:`claim`.

        ``unstamp`` also drops the ticket's stamp, in the same round trip: a
        claim undone in the database makes the ticket valid again, and a "used"
        stamp written back meanwhile by a request that saw the claim is stale.
        """
        if unstamp:
            self.local.discard(ticket_uuid)
        if not self.available:
            return
        keys = [self.claim_key(ticket_uuid)]
        if unstamp:
            keys.append(self.key(ticket_uuid))
        try:
            self._delete(*keys)
        except Exception as error:
            self._failed("release", error)

    def hold_off(self, ticket_uuid: uuid.UUID) -> None:
        """Replace a ticket's stamp with a short-lived "held" marker (a multi-use ticket's
        undone use).

        The marker reads as a miss, so the database decides; and for
        ``TICKETOFFICE_CLAIM_TTL`` seconds it keeps out the "used" stamp of a
        concurrent use that exhausted the ticket before this undo gave a use back.
        """
        if not self.available:
            return
        try:
            self._put(self.key(ticket_uuid), HELD, int(app_settings.CLAIM_TTL))
        except Exception as error:
            self._failed("hold", error)

    # Attempt counters (see :mod:`django_ticketoffice.attempts`) ----------

    def count_attempt(self, ticket_uuid: uuid.UUID, expiry: datetime | None) -> int | None:
        """Add one to a ticket's guess counter, atomically, and return the new count.

        The counter lives as long as the ticket (or ``STAMP_TTL``). None: the
        cache cannot count now, and the database counts instead.
        """
        if not self.available:
            return None
        try:
            count = self._incr(self.attempts_key(ticket_uuid), self.ttl(expiry))
        except Exception as error:
            self._failed("count", error)
            return None
        self._succeeded()
        return count

    def uncount_attempt(self, ticket_uuid: uuid.UUID) -> None:
        """Take back one guess counted by :meth:`count_attempt` (it was right)."""
        if not self.available:
            return
        try:
            self._decr(self.attempts_key(ticket_uuid))
        except Exception as error:
            self._failed("uncount", error)

    def forget_attempts(self, ticket_uuids: Iterable[uuid.UUID]) -> None:
        """Drop the guess counters of tickets (they were unlocked)."""
        keys = [self.attempts_key(u) for u in ticket_uuids]
        if not keys or not self.available:
            return
        try:
            self._delete(*keys)
        except Exception as error:
            self._failed("forget", error)

    def ttl(self, expiry: datetime | None) -> int:
        """Seconds a stamp must live: the ticket's remaining lifetime, or STAMP_TTL."""
        if expiry is None:
            return max(1, int(app_settings.STAMP_TTL))
        remaining = (expiry - timezone.now()).total_seconds()
        # Rounded up like the signed expiry: the stamp lives as long as the token.
        return max(1, math.ceil(remaining))

    # Backend primitives --------------------------------------------------

    def _get(self, key: str) -> Any:
        return caches[self.alias].get(key, version=0)

    def _set_many(self, items: list[tuple[str, int]], state: str, released: list[str]) -> None:
        cache = caches[self.alias]
        for key, ttl in items:
            cache.add(key, state, timeout=ttl, version=0)
        if released:
            cache.delete_many(released, version=0)

    def _add(self, key: str, ttl: int) -> bool:
        return bool(caches[self.alias].add(key, "1", timeout=ttl, version=0))

    def _check_and_add(self, key: str, claim_key: str, ttl: int) -> tuple[Any, bool]:
        state = self._get(key)
        if state is not None:
            return state, False
        return None, self._add(claim_key, ttl)

    def _set_unless_claimed(self, key: str, claim_key: str, state: str, ttl: int) -> None:
        # Not atomic here (no scripts in the portable API); the window is one call.
        if self._get(claim_key) is None:
            caches[self.alias].add(key, state, timeout=ttl, version=0)

    def _delete(self, *keys: str) -> None:
        caches[self.alias].delete_many(keys, version=0)

    def _put(self, key: str, value: str, ttl: int) -> None:
        caches[self.alias].set(key, value, timeout=ttl, version=0)

    def _incr(self, key: str, ttl: int) -> int:
        cache = caches[self.alias]
        if cache.add(key, 1, timeout=ttl, version=0):
            return 1
        try:
            return int(cache.incr(key, version=0))
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=ttl, version=0)
            return 1

    def _decr(self, key: str) -> None:
        with contextlib.suppress(ValueError):  # gone: nothing to take back
            caches[self.alias].decr(key, version=0)


# One round trip before a stamped view: the stamp if there is one, else the
# claim, taken only if free. Returns the stamp, or 1 (taken) or 0 (held).
CHECK_AND_CLAIM = """
local stamp = redis.call('GET', KEYS[1])
if stamp then return stamp end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""


# A stamp written back from the database, refused while a claim is in flight.
SET_UNLESS_CLAIMED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


class RedisStampStore(StampStore):
    """Stamps through the raw client of the Redis primary: plain bytes, no pickle.

    The client comes from ``source`` once, on first use (a cluster client
    contacts the cluster when it is built, so that happens behind the breaker),
    and is then kept for the life of the process: its pool reconnects by itself.
    Every command names keys of one ticket only, so each goes to one cluster node.
    """

    def __init__(self, alias: str, source: redis_clients.PrimarySource) -> None:
        super().__init__(alias)
        self.label = source.label
        self._source = source
        self._redis: Any = None
        self._connect_lock = threading.Lock()
        self._scripts: dict[str, Any] = {}
        # Whether the server leaves stamp writes unanswered: None until the first
        # write finds out; False for clients that route commands themselves.
        self._skip_replies: bool | None = None

    def _client(self) -> Any:
        client = self._redis
        if client is None:
            with self._connect_lock:
                if self._redis is None:
                    self._redis = self._source.connect()
                    if not redis_writes.eligible(self._redis):
                        self._skip_replies = False
                client = self._redis
        return client

    def _get(self, key: str) -> Any:
        return self._client().get(key)

    def _set_many(self, items: list[tuple[str, int]], state: str, released: list[str]) -> None:
        value = state.encode("ascii")
        client = self._client()
        if self._skip_replies is not False and len(items) + len(released) <= PIPELINE_BATCH:
            # Nobody reads these replies: do not wait for them (see redis_writes).
            writes: list[tuple[Any, ...]] = [
                ("SET", key, value, "EX", ttl, "NX") for key, ttl in items
            ]
            writes += [("DEL", key) for key in released]
            if self._skip_replies:
                redis_writes.write_without_replies(client, writes)
            else:
                self._skip_replies = redis_writes.write_and_probe(client, writes)
            return
        if len(items) == 1 and not released:
            key, ttl = items[0]
            client.set(key, value, ex=ttl, nx=True)
            return
        # One DEL per key: a multi-key DEL across tickets would cross cluster slots.
        commands: list[tuple[str, int | None]] = [*items, *((key, None) for key in released)]
        for start in range(0, len(commands), PIPELINE_BATCH):
            pipe = client.pipeline(transaction=False)
            for name, lifetime in commands[start : start + PIPELINE_BATCH]:
                if lifetime is None:
                    pipe.delete(name)
                else:
                    pipe.set(name, value, ex=lifetime, nx=True)
            pipe.execute()

    def _add(self, key: str, ttl: int) -> bool:
        return bool(self._client().set(key, b"1", ex=ttl, nx=True))

    def _script(self, client: Any, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            # EVALSHA, with redis-py loading the script again after a NOSCRIPT.
            script = self._scripts[name] = client.register_script(source)
        return script

    def _check_and_add(self, key: str, claim_key: str, ttl: int) -> tuple[Any, bool]:
        client = self._client()
        script = self._script(client, "check_and_claim", CHECK_AND_CLAIM)
        # Both keys share the {uuid} hash tag: one Redis Cluster slot.
        result = script(keys=[key, claim_key], args=[ttl], client=client)
        if isinstance(result, bytes):
            return result, False
        return None, bool(result)

    def _set_unless_claimed(self, key: str, claim_key: str, state: str, ttl: int) -> None:
        client = self._client()
        script = self._script(client, "set_unless_claimed", SET_UNLESS_CLAIMED)
        script(keys=[key, claim_key], args=[state.encode("ascii"), ttl], client=client)

    def _delete(self, *keys: str) -> None:
        # The keys of one ticket: one slot, one DEL.
        self._client().delete(*keys)

    def _put(self, key: str, value: str, ttl: int) -> None:
        self._client().set(key, value.encode("ascii"), ex=ttl)

    def _incr(self, key: str, ttl: int) -> int:
        # One round trip, one slot: MULTI INCR EXPIRE EXEC. The TTL follows the
        # ticket's remaining lifetime on every guess.
        pipe = self._client().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, ttl)
        count, _ = pipe.execute()
        return int(count)

    def _decr(self, key: str) -> None:
        self._client().eval(_DECR_EXISTING, 1, key)

    def _drop_connections(self) -> None:
        # Sockets to a killed or restarted server fail once each; drop them all
        # now so that the first try after the retry interval reconnects.
        if self._redis is None:
            return
        if self._skip_replies:
            self._skip_replies = None  # the server may have changed: probe again
        try:
            redis_clients.drop_idle_connections(self._redis)
        except Exception:
            logger.debug("Could not reset the connections of %r.", self.label, exc_info=True)

    def close(self) -> None:
        """Close the connections of a client this store built itself."""
        if self._redis is not None and self._source.owned:
            try:
                redis_clients.close(self._redis)
            except Exception:
                logger.debug("Could not close the connections of %r.", self.label, exc_info=True)
        self._redis = None


_store: StampStore | None = None
_store_lock = threading.Lock()


def _build_store() -> StampStore:
    alias = app_settings.CACHE
    source = redis_clients.resolve(alias, app_settings.REDIS)
    if source is None:
        return StampStore(alias)
    return RedisStampStore(alias, source)


def get_store() -> StampStore:
    """Return the stamp store, built once per process (and after settings change)."""
    global _store
    store = _store
    if store is None:
        with _store_lock:
            store = _store
            if store is None:
                store = _store = _build_store()
    return store


def reset_stores() -> None:
    """Forget the store, its client and its breaker state (tests, settings changes)."""
    global _store
    with _store_lock:
        store, _store = _store, None
    if isinstance(store, RedisStampStore):
        store.close()


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: object) -> None:
    if setting == "CACHES" or setting.startswith("TICKETOFFICE_"):
        reset_stores()


def on_ticket_commit(func: Any, instance: Any) -> None:
    """Run ``func`` once the transaction that wrote ``instance`` (a ticket) commits.

    The database is the one the routers pick for writing tickets, so a project
    that keeps tickets out of ``default`` still gets its stamps after the right
    commit. ``instance`` may also be the ticket model itself.
    """
    model = instance if isinstance(instance, type) else type(instance)
    hints = {} if isinstance(instance, type) else {"instance": instance}
    transaction.on_commit(func, using=router.db_for_write(model, **hints))


def write_back(ticket: Any, error: TicketError) -> None:
    """Stamp the cache, after commit, with a used or revoked state the database found.

    The cache did not know it (evicted, flushed, restarted): the next replay is
    cheap again. Other refusals leave no stamp.
    """
    if isinstance(error, (TicketUsedError, TicketRevokedError)):
        state = USED if isinstance(error, TicketUsedError) else REVOKED
        if state == USED and getattr(ticket, "max_uses", 1) != 1:
            state = SPENT
        ticket_uuid, expiry = ticket.uuid, ticket.expiry_datetime
        on_ticket_commit(lambda: get_store().write_back(ticket_uuid, state, expiry), ticket)
