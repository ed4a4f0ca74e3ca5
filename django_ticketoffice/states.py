"""The states of a ticket, and the refusal each one gives.

A ticket is *valid* until it is used up, revoked, locked or past its expiry.
A multi-use ticket counts as *used* only once its last use is taken (its
``usage_datetime`` is set then). When both a use and a revocation are
recorded, the use came first (a revocation is recorded even while a claim is
in flight, so that undoing the claim cannot revive the ticket), so the ticket
counts as used. A *locked* ticket had too many failed guesses of its code or
password; staff may unlock it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from .exceptions import (
    TicketError,
    TicketExpiredError,
    TicketLockedError,
    TicketRevokedError,
    TicketUsedError,
)

STATUS_VALID = "valid"
STATUS_USED = "used"
STATUS_EXPIRED = "expired"
STATUS_REVOKED = "revoked"
STATUS_LOCKED = "locked"


def valid_q(now: datetime) -> Q:
    """The SQL condition of a valid ticket at ``now``."""
    return Q(
        usage_datetime__isnull=True, revocation_datetime__isnull=True, lock_datetime__isnull=True
    ) & (Q(expiry_datetime__isnull=True) | Q(expiry_datetime__gte=now))


def status_of(ticket: Any, now: datetime | None = None) -> str:
    """Return "used", "revoked", "locked", "expired" or "valid" for a ticket's fields."""
    if ticket.usage_datetime is not None:
        return STATUS_USED
    if ticket.revocation_datetime is not None:
        return STATUS_REVOKED
    if ticket.lock_datetime is not None:
        return STATUS_LOCKED
    expiry = ticket.expiry_datetime
    if expiry is not None and expiry < (now or timezone.now()):
        return STATUS_EXPIRED
    return STATUS_VALID


_REFUSALS: dict[str, tuple[type[TicketError], str]] = {
    STATUS_USED: (TicketUsedError, "The ticket has already been used."),
    STATUS_REVOKED: (TicketRevokedError, "The ticket has been revoked."),
    STATUS_LOCKED: (TicketLockedError, "The ticket is locked after too many failed attempts."),
    STATUS_EXPIRED: (TicketExpiredError, "The ticket has expired."),
}


def refusal_for(ticket: Any, *, genuine: bool = True) -> TicketError | None:
    """Return the exception that refuses ``ticket`` in its current state, if any."""
    return refusal_for_state(status_of(ticket), ticket.uuid, genuine=genuine)


def refusal_for_state(status: str, ticket_uuid: Any, *, genuine: bool = True) -> TicketError | None:
    """Return the exception that refuses a ticket in ``status``, if any."""
    refusal = _REFUSALS.get(status)
    if refusal is None:
        return None
    error_class, message = refusal
    return error_class(message, genuine=genuine, ticket_uuid=ticket_uuid)
