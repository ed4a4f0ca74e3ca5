"""Writing events: single rows, and counted rows that a flood cannot multiply.

See :mod:`django_ticketoffice.contrib.audit.recording` for what is counted.
Every write runs in a savepoint inside a transaction, and a failure is logged,
never raised: the audit trail never fails the request it records.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone as django_timezone

from ...conf import app_settings
from .clients import client_details
from .models import TicketEvent

logger = logging.getLogger("django_ticketoffice.audit")

# Counts written as they happen; past them, only powers of two.
EXACT_COUNTS = 10
# Keys counted in memory per process before the oldest are dropped.
MAX_ENTRIES = 10_000


def events_database() -> str:
    return router.db_for_write(TicketEvent)


def _savepoint(alias: str) -> contextlib.AbstractContextManager[Any]:
    """A savepoint inside a transaction (a failed statement must not break it), else nothing."""
    if connections[alias].in_atomic_block:
        return transaction.atomic(using=alias)
    return contextlib.nullcontext()


@contextlib.contextmanager
def guarded(alias: str, what: str) -> Iterator[None]:
    """Never fail the request: statements in a savepoint, errors logged."""
    try:
        with _savepoint(alias):
            yield
    except DatabaseError as error:
        logger.warning(
            "Could not record %s in the audit trail (%s: %s).", what, type(error).__name__, error
        )


def record(kind: str, ticket: Any, request: HttpRequest | None = None, **fields: Any) -> None:
    """Store one event about ``ticket`` (a Ticket, or anything with uuid, place, purpose)."""
    alias = events_database()
    with guarded(alias, f"a {kind} event"):
        TicketEvent.objects.using(alias).create(
            ticket_id=ticket.uuid,
            place=ticket.place,
            purpose=ticket.purpose,
            kind=kind,
            **{**client_details(request), **fields},
        )


@dataclass
class _Count:
    """What this process counted for one ticket, kind, reason and window."""

    place: str
    purpose: str
    count: int = 0
    written: int = 0


Key = tuple[Any, str, str, int]


def _clock() -> float:
    return time.time()


class Counter:
    """Counts repeated events in memory and writes their rows sparingly (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Key, _Count] = {}
        self._window: int | None = None

    def reset(self) -> None:
        """Forget what was counted and not written (tests)."""
        with self._lock:
            self._counts.clear()
            self._window = None

    def add(
        self,
        kind: str,
        ticket_uuid: Any,
        place: str,
        purpose: str,
        reason: str,
        request: HttpRequest | None,
    ) -> None:
        """Count one event; write when its count is due (and finish past windows)."""
        interval = max(1, int(app_settings.AUDIT_INTERVAL))
        now = _clock()
        window = int(now // interval) * interval
        key: Key = (ticket_uuid, kind, reason, window)
        finished: list[tuple[Key, _Count, int]] = []
        with self._lock:
            if window != self._window:
                # A new window: the counts of older ones will not grow any more.
                for old_key, old in list(self._counts.items()):
                    if old_key[3] < window:
                        del self._counts[old_key]
                        if old.count > old.written:
                            finished.append((old_key, old, old.count - old.written))
                self._window = window
            entry = self._counts.get(key)
            first = entry is None
            if entry is None:
                if len(self._counts) >= MAX_ENTRIES:
                    logger.warning("Audit counts: too many tickets at once; counting anew.")
                    self._counts.clear()
                entry = self._counts[key] = _Count(place, purpose)
            entry.count += 1
            n = entry.count
            due = n <= EXACT_COUNTS or n & (n - 1) == 0
            delta = n - entry.written if due else 0
            if due:
                entry.written = n
        for old_key, old, old_delta in finished:
            self._write(old_key, old, old_delta, None, first=False)
        if due:
            self._write(key, entry, delta, request, first=first, now=now)

    def _write(
        self,
        key: Key,
        entry: _Count,
        delta: int,
        request: HttpRequest | None,
        *,
        first: bool,
        now: float | None = None,
    ) -> None:
        ticket_uuid, kind, reason, window = key
        alias = events_database()
        window_start = datetime.fromtimestamp(window, tz=timezone.utc)
        rows = TicketEvent.objects.using(alias).filter(
            ticket_id=ticket_uuid, kind=kind, reason=reason, window_start=window_start
        )
        with guarded(alias, f"a {kind} count"):
            if not first and rows.update(count=F("count") + delta):
                return
            event = TicketEvent(
                ticket_id=ticket_uuid,
                place=entry.place,
                purpose=entry.purpose,
                kind=kind,
                reason=reason,
                window_start=window_start,
                count=delta,
                time=(
                    datetime.fromtimestamp(now, tz=timezone.utc)
                    if now is not None
                    else django_timezone.now()
                ),
                **client_details(request),
            )
            try:
                with _savepoint(alias):
                    event.save(using=alias, force_insert=True)
            except IntegrityError:
                # Another process wrote this window's row first: add to it.
                rows.update(count=F("count") + delta)


counter = Counter()
