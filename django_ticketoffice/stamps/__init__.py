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
(:func:`on_ticket_commit`). A rolled-back
transaction leaves no stamp.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.db import router, transaction
from django.dispatch import receiver

from ..conf import app_settings
from ..exceptions import TicketError, TicketRevokedError, TicketUsedError
from . import redis_clients
from .redis_store import RedisStampStore
from .store import HELD, REVOKED, SPENT, USED, StampStore

__all__ = [
    "HELD",
    "REVOKED",
    "SPENT",
    "USED",
    "RedisStampStore",
    "StampStore",
    "get_store",
    "on_ticket_commit",
    "reset_stores",
    "write_back",
]

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


def on_ticket_commit(func: Any, instance: Any, *, using: str | None = None) -> None:
    """Run ``func`` once the transaction that wrote ``instance`` (a ticket) commits.

    The database is ``using`` (the one the write went to), else the one the
    routers pick for writing tickets, so a project that keeps tickets out of
    ``default`` still gets its stamps after the right commit. ``instance`` may
    also be the ticket model itself.
    """
    if using is None:
        model = instance if isinstance(instance, type) else type(instance)
        hints = {} if isinstance(instance, type) else {"instance": instance}
        using = router.db_for_write(model, **hints)
    transaction.on_commit(func, using=using)


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
