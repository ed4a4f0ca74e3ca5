"""The stamp store on any Django cache: lookups, claims and stamps behind a circuit breaker.

See :mod:`django_ticketoffice.stamps` for what the store may and may not say.
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
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import TicketServiceUnavailable
from .local import LocalStamps

logger = logging.getLogger("django_ticketoffice.stamps")

USED = "used"
REVOKED = "revoked"
# A multi-use ticket used up: refused like "used", but not final (a use still
# in flight may fail and give its use back), so never kept in process memory.
SPENT = "spent"
# Written over the stamp when a use of a multi-use ticket is undone: reads as a
# miss, and keeps the "used" stamp of a concurrent use out (SET NX) meanwhile.
HELD = "held"

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
