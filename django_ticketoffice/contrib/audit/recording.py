"""Recording ticket events from the signals, without turning a flood into writes.

Issued, used, revoked and locked happen at most once per ticket: each is one
row. Admissions and refusals can be repeated by anyone holding a token, so:

* a refusal is stored only for a *genuine* credential (a valid signature or
  password) naming a ticket: forged, malformed and unknown credentials cost
  no write at all, however many arrive;
* admissions and genuine refusals are counted per ticket, kind, reason and
  window of ``TICKETOFFICE_AUDIT_INTERVAL`` seconds, in one row with a
  ``count``. Each process counts in memory and writes the row's first event,
  each of the next nine, and then only at counts 16, 32, 64, ...; the rest
  of a window's count is written once the window is over (at the next event
  this process records). A flood of N replays of one token thus costs
  about 10 + log2(N) writes per minute and process, instead of N.

A failure to record is logged and never fails the request.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import F
from django.dispatch import Signal
from django.http import HttpRequest
from django.utils import timezone as django_timezone
from django.utils.crypto import salted_hmac

from ... import signals
from ...conf import app_settings
from .models import ADMITTED, ISSUED, LOCKED, REFUSED, REVOKED, USED, TicketEvent

logger = logging.getLogger("django_ticketoffice.audit")

IP_MODES = ("full", "truncate", "hash", "drop")
# Prefixes kept by "truncate": a /24 network for IPv4, a /48 site for IPv6.
TRUNCATE_PREFIX = {4: 24, 6: 48}
# Counts written as they happen; past them, only powers of two.
EXACT_COUNTS = 10
# Keys counted in memory per process before the oldest are dropped.
MAX_ENTRIES = 10_000
USER_AGENT_LENGTH = 255


# Who did it ------------------------------------------------------------------------


def anonymize_ip(address: Any, mode: str) -> str:
    """Return ``address`` as ``TICKETOFFICE_AUDIT_IP`` says to keep it ("" if dropped or invalid).

    "full" keeps it; "truncate" keeps its /24 (IPv4) or /48 (IPv6) network,
    written with the prefix; "hash" keeps a keyed HMAC-SHA256 (32 hex
    characters), so one address can be followed across events without being
    stored; "drop" keeps nothing.
    """
    if not isinstance(address, str) or not address or mode == "drop":
        return ""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if mode == "full":
        return str(ip)
    if mode == "hash":
        key = app_settings.SECRET_KEY or settings.SECRET_KEY
        digest = salted_hmac(
            "django_ticketoffice.contrib.audit.client_ip", str(ip), secret=key, algorithm="sha256"
        )
        return digest.hexdigest()[:32]
    network = ipaddress.ip_network(f"{ip}/{TRUNCATE_PREFIX[ip.version]}", strict=False)
    return str(network)


def client_details(request: HttpRequest | None) -> dict[str, str]:
    """The client IP (as configured), user agent and staff member of ``request``."""
    if request is None:
        return {}
    meta = getattr(request, "META", {})
    user = getattr(request, "user", None)
    staff = user.get_username() if user is not None and user.is_authenticated else ""
    return {
        "client_ip": anonymize_ip(meta.get("REMOTE_ADDR"), app_settings.AUDIT_IP),
        "user_agent": str(meta.get("HTTP_USER_AGENT", ""))[:USER_AGENT_LENGTH],
        "actor": staff,
    }


# Writing -----------------------------------------------------------------------------


def _alias() -> str:
    return router.db_for_write(TicketEvent)


def _savepoint(alias: str) -> contextlib.AbstractContextManager[Any]:
    """A savepoint inside a transaction (a failed statement must not break it), else nothing."""
    if connections[alias].in_atomic_block:
        return transaction.atomic(using=alias)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _guarded(alias: str, what: str) -> Iterator[None]:
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
    alias = _alias()
    with _guarded(alias, f"a {kind} event"):
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
        alias = _alias()
        window_start = datetime.fromtimestamp(window, tz=timezone.utc)
        rows = TicketEvent.objects.using(alias).filter(
            ticket_id=ticket_uuid, kind=kind, reason=reason, window_start=window_start
        )
        with _guarded(alias, f"a {kind} count"):
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


# Receivers ------------------------------------------------------------------------------


def _enabled() -> bool:
    return bool(app_settings.AUDIT_ENABLED)


def on_issued(sender: Any, ticket: Any, **kwargs: Any) -> None:
    """``ticket_issued``: one row."""
    if _enabled():
        record(ISSUED, ticket)


def on_admitted(sender: Any, ticket: Any, request: Any = None, **kwargs: Any) -> None:
    """``ticket_admitted``: counted per ticket and window."""
    if _enabled():
        counter.add(ADMITTED, ticket.uuid, ticket.place, ticket.purpose, "", request)


def on_used(sender: Any, ticket: Any, request: Any = None, **kwargs: Any) -> None:
    """``ticket_used``: one row."""
    if _enabled():
        record(USED, ticket, request)


def on_refused(
    sender: Any,
    reason: str = "",
    error: Any = None,
    uuid: Any = None,
    place: str = "",
    purpose: str = "",
    request: Any = None,
    **kwargs: Any,
) -> None:
    """``ticket_refused``: genuine credentials only, counted per ticket, reason and window."""
    if uuid is None or not getattr(error, "genuine", False) or not _enabled():
        return
    counter.add(REFUSED, uuid, place, purpose, reason, request)


def on_revoked(sender: Any, tickets: Any = (), request: Any = None, **kwargs: Any) -> None:
    """``ticket_revoked``: one row per ticket, in one SELECT and one INSERT per batch."""
    if not _enabled() or not tickets:
        return
    from ...models import Ticket

    alias = _alias()
    details = client_details(request)
    with _guarded(alias, "revocations"):
        found = Ticket.objects.primary().filter(uuid__in=list(tickets))
        TicketEvent.objects.using(alias).bulk_create(
            [
                TicketEvent(ticket_id=u, place=p, purpose=q, kind=REVOKED, **details)
                for u, p, q in found.values_list("uuid", "place", "purpose")
            ]
        )


def on_locked(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """``ticket_locked`` (sent by attempt limits, where they exist): one row."""
    if not _enabled():
        return
    ticket = kwargs.get("ticket")
    if ticket is None and kwargs.get("uuid") is not None:
        from ...models import Ticket

        ticket = Ticket.objects.primary().filter(uuid=kwargs["uuid"]).first()
    if ticket is not None:
        record(LOCKED, ticket, request, reason=str(kwargs.get("reason", ""))[:32])


def connect() -> None:
    """Connect the receivers (``AuditConfig.ready``). ``ticket_locked`` only if it exists."""
    receivers: list[tuple[Signal | None, Callable[..., None]]] = [
        (signals.ticket_issued, on_issued),
        (getattr(signals, "ticket_admitted", None), on_admitted),
        (signals.ticket_used, on_used),
        (signals.ticket_refused, on_refused),
        (signals.ticket_revoked, on_revoked),
        (getattr(signals, "ticket_locked", None), on_locked),
    ]
    for signal, receiver in receivers:
        if signal is not None:
            signal.connect(receiver, dispatch_uid=f"ticketoffice-audit-{receiver.__name__}")
