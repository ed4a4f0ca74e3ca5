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
    <prefix>{<uuid>}:claim    b"1" while a stamped view runs

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
from django.dispatch import receiver
from django.utils import timezone

from . import redis_clients
from .conf import app_settings
from .exceptions import TicketServiceUnavailable

logger = logging.getLogger("django_ticketoffice.stamps")

USED = "used"
REVOKED = "revoked"

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

    # Keys --------------------------------------------------------------

    def key(self, ticket_uuid: uuid.UUID) -> str:
        """Return the stamp key of a ticket."""
        return f"{self.prefix}{{{ticket_uuid}}}"

    def claim_key(self, ticket_uuid: uuid.UUID) -> str:
        """Return the claim key of a ticket (same Redis Cluster slot as its stamp)."""
        return f"{self.prefix}{{{ticket_uuid}}}:claim"

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
        failure policy is ``"closed"``.
        """
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
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return value if value in (USED, REVOKED) else None

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
        """Record the same state for many tickets, in one round trip where possible."""
        if state not in (USED, REVOKED):
            raise ValueError(f"Unknown stamp {state!r}")
        tickets = list(tickets)
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
        if not self.available:
            return
        keys = [self.claim_key(ticket_uuid)]
        if unstamp:
            keys.append(self.key(ticket_uuid))
        try:
            self._delete(*keys)
        except Exception as error:
            self._failed("release", error)

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

    def _delete(self, *keys: str) -> None:
        caches[self.alias].delete_many(keys, version=0)


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

    def _client(self) -> Any:
        client = self._redis
        if client is None:
            with self._connect_lock:
                if self._redis is None:
                    self._redis = self._source.connect()
                client = self._redis
        return client

    def _get(self, key: str) -> Any:
        return self._client().get(key)

    def _set_many(self, items: list[tuple[str, int]], state: str, released: list[str]) -> None:
        value = state.encode("ascii")
        client = self._client()
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

    def _delete(self, *keys: str) -> None:
        # The keys of one ticket: one slot, one DEL.
        self._client().delete(*keys)

    def _drop_connections(self) -> None:
        # Sockets to a killed or restarted server fail once each; drop them all
        # now so that the first try after the retry interval reconnects.
        if self._redis is None:
            return
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
