"""Attempt limits: a ticket whose code or password is guessed too often is locked.

Only credentials that can be guessed are counted: short codes and 0.2's
``uuid`` + ``password`` pairs. A signed token is not guessable (its MAC is
checked before any lookup), so a forged token never counts against a ticket.

A guess is counted *before* the secret is checked, atomically: with the stamp
cache an ``INCR`` (one round trip, in the ticket's ``{uuid}`` slot), and while
the cache is down a conditional ``UPDATE ... SET failed_attempts =
failed_attempts + 1``. Of any number of concurrent guesses, at most
``max_attempts`` reach the check; the others, and the one whose failure
reaches the limit, lock the ticket. A right guess takes its count back.

Generated secrets (128 bits behind a fast hash) cannot be guessed, and
checking one costs a microsecond: for them only failures are counted, after
the check, so that the right secret costs nothing more.

The lock is recorded in the database (``lock_datetime``), so a lost counter
never unlocks a ticket; it only gives back the guesses counted so far.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import router
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from .conf import DEFAULTS, app_settings
from .signals import ticket_locked
from .stamps import get_store, on_ticket_commit

CODE = "code"
PASSWORD = "password"  # noqa: S105 - the kind of credential, not a secret
KINDS = (CODE, PASSWORD)
# NIST SP 800-63B §5.2.2: no more than 100 consecutive failed attempts.
MAX_LIMIT = 100


def limit_for(ticket: Any, credential: str) -> int:
    """The number of failed guesses that locks ``ticket`` for this kind of credential."""
    if ticket.max_attempts:
        return int(ticket.max_attempts)
    configured = app_settings.MAX_ATTEMPTS
    default = DEFAULTS["MAX_ATTEMPTS"][credential]
    value = configured.get(credential, default) if isinstance(configured, dict) else default
    return int(value)


def _rows(ticket: Any) -> Any:
    model = apps.get_model("django_ticketoffice", "Ticket")
    return model._base_manager.using(router.db_for_write(model, instance=ticket)).filter(
        pk=ticket.pk
    )


def lock(ticket: Any, credential: str, count: int = 0, *, only_at: int | None = None) -> bool:
    """Lock ``ticket`` (once: True if this call locked it) and send ``ticket_locked``.

    ``only_at`` locks only if the database count has reached it (the count
    lives in the database while the cache is down).
    """
    rows = _rows(ticket).filter(lock_datetime__isnull=True)
    if only_at is not None:
        rows = rows.filter(failed_attempts__gte=only_at)
    now = timezone.now()
    if not rows.update(
        lock_datetime=now, failed_attempts=Greatest(F("failed_attempts"), Value(count))
    ):
        return False
    ticket.lock_datetime = now
    model = type(ticket)
    on_ticket_commit(
        lambda: ticket_locked.send(sender=model, ticket=ticket, credential=credential), ticket
    )
    return True


class Attempt:
    """One guess at a ticket's code or chosen password, counted before it is checked.

    ``reserve()``, then the check, then ``failed()`` or ``succeeded()``.
    """

    def __init__(self, ticket: Any, credential: str) -> None:
        self.ticket = ticket
        self.credential = credential
        self.limit = limit_for(ticket, credential)
        self.count: int | None = None  # the cache's count; None: counted in the database
        self.reserved = False

    def reserve(self) -> bool:
        """Count this guess. False: the limit was already reached, so do not check it."""
        ticket = self.ticket
        self.count = get_store().count_attempt(ticket.uuid, ticket.expiry_datetime)
        if self.count is not None:
            if self.count > self.limit:
                lock(ticket, self.credential, self.limit)
                return False
        elif (
            not _rows(ticket)
            .filter(failed_attempts__lt=self.limit)
            .update(failed_attempts=F("failed_attempts") + 1)
        ):
            lock(ticket, self.credential, only_at=self.limit)
            return False
        self.reserved = True
        return True

    def failed(self) -> None:
        """The guess was wrong: it stays counted; the last one allowed locks the ticket."""
        if self.count is None:
            lock(self.ticket, self.credential, only_at=self.limit)
        elif self.count >= self.limit:
            lock(self.ticket, self.credential, self.count)

    def succeeded(self) -> None:
        """The guess was right: take its count back."""
        if not self.reserved:
            return
        self.reserved = False
        if self.count is not None:
            get_store().uncount_attempt(self.ticket.uuid)
        else:
            _rows(self.ticket).filter(failed_attempts__gt=0).update(
                failed_attempts=F("failed_attempts") - 1
            )


def count_failure(ticket: Any, credential: str) -> None:
    """Count a failed check of a generated secret (counted after the check, see above)."""
    limit = limit_for(ticket, credential)
    count = get_store().count_attempt(ticket.uuid, ticket.expiry_datetime)
    if count is None:
        _rows(ticket).update(failed_attempts=F("failed_attempts") + 1)
        lock(ticket, credential, only_at=limit)
    elif count >= limit:
        lock(ticket, credential, count)


def forget(tickets: list[Any]) -> None:
    """Drop the cached guess counters of ``tickets`` (they are being unlocked).

    At once, not after the commit: the lock is in the database, so until the
    unlock commits (or if it rolls back) the tickets stay refused anyway.
    """
    get_store().forget_attempts([ticket.uuid for ticket in tickets])
