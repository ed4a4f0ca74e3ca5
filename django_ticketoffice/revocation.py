"""Revocation: one ticket, or a whole queryset in batches; stamps and signal after commit.

The database records the revocation at once; the stamp cache (``"revoked"``)
and ``ticket_revoked`` follow the commit. A ticket whose use is in flight
counts as used, but gets its revocation recorded all the same, so that a use
whose action then fails cannot make the ticket valid again.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

from django.db import models, router, transaction
from django.http import HttpRequest
from django.utils import timezone

from .signals import ticket_revoked
from .stamps import REVOKED, get_store, on_ticket_commit
from .verification import ticket_model

Stamped = list[tuple[uuid.UUID, datetime | None]]


def revoke_ticket(ticket: Any, *, request: HttpRequest | None = None) -> bool:
    """Revoke one ticket (``Ticket.revoke()``); False if it was already used or revoked."""
    model = ticket_model()
    now = timezone.now()
    using = router.db_for_write(model, instance=ticket)
    rows = model._base_manager.using(using).filter(pk=ticket.pk, revocation_datetime__isnull=True)
    if not rows.filter(usage_datetime__isnull=True).update(revocation_datetime=now):
        # Used, or in flight: record the revocation anyway, and say False.
        if rows.update(revocation_datetime=now):
            ticket.revocation_datetime = now
        return False
    ticket.revocation_datetime = now
    stamped = [(ticket.uuid, ticket.expiry_datetime)]
    on_ticket_commit(lambda: _after_revoke(model, stamped, request), ticket, using=using)
    return True


def revoke_tickets(
    queryset: models.QuerySet[Any], *, request: HttpRequest | None = None, batch_size: int = 1000
) -> int:
    """Revoke the tickets of ``queryset`` (``TicketQuerySet.revoke()``); return how many.

    Counts the tickets that were neither used nor revoked; used ones get their
    revocation recorded too. The tickets are those that match when the call
    starts.
    """
    model = ticket_model()
    # The database the queryset was pinned to with using(), else the primary.
    using = getattr(queryset, "_db", None) or router.db_for_write(model)
    # The queryset is read once, as a stream of primary keys; each batch is
    # then locked and updated by primary key. Asking the queryset again for
    # every batch would make the database skip or sort every row already
    # revoked, again and again: quadratic in the size of the revocation.
    pending = queryset.using(using).filter(revocation_datetime__isnull=True).order_by("pk")
    keys = pending.values_list("pk", flat=True).iterator(chunk_size=batch_size)
    total = 0
    while batch := list(itertools.islice(keys, batch_size)):
        total += _revoke_batch(model, using, batch, request)
    return total


def _revoke_batch(model: Any, using: str, keys: list[Any], request: HttpRequest | None) -> int:
    """Revoke the tickets of ``keys`` still unrevoked; return how many were unused."""
    with transaction.atomic(using=using):
        # Locked, so that what we read of each row (used or not) is what the
        # UPDATE changes: a claim waits for this batch, then finds it revoked.
        rows = list(
            model._base_manager.using(using)
            .filter(pk__in=keys, revocation_datetime__isnull=True)
            .order_by("pk")
            .select_for_update()
            .values_list("pk", "uuid", "expiry_datetime", "usage_datetime")
        )
        if not rows:
            return 0
        # Every row, used ones included (a use in flight may still be undone);
        # only the unused ones count, and get a stamp.
        model._base_manager.using(using).filter(pk__in=[row[0] for row in rows]).update(
            revocation_datetime=timezone.now()
        )
        stamped = [(row[1], row[2]) for row in rows if row[3] is None]
        if stamped:
            on_ticket_commit(lambda: _after_revoke(model, stamped, request), model, using=using)
    return len(stamped)


def _after_revoke(model: Any, tickets: Stamped, request: HttpRequest | None) -> None:
    get_store().stamp_many(tickets, REVOKED)
    ticket_revoked.send(sender=model, tickets=[u for u, _ in tickets], request=request)
