"""Give a claimed use back to the database, when the action it was taken for failed."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.http import HttpRequest

from ..signals import ticket_release_failed
from .sql import release_rows

logger = logging.getLogger("django_ticketoffice.claims")


def give_back(
    model: Any,
    alias: str,
    ticket_uuid: Any,
    *,
    ticket: Any,
    claimed_at: datetime,
    single_use: bool,
    in_transaction: bool,
    request: HttpRequest | None,
) -> None:
    """Release the claim taken at ``claimed_at``; a revocation recorded meanwhile stays.

    Inside a transaction the release joins it (its rollback undoes the claim
    anyway). In autocommit, a connection that the view lost is replaced first.
    A release that cannot be done is logged and sent as
    ``ticket_release_failed``: the ticket then keeps the use (too strict,
    never lenient).
    """
    connection = connections[alias]
    rows = model._base_manager.using(alias).filter(uuid=ticket_uuid)

    def release() -> None:
        if single_use:
            # Only our own claim: the WHERE makes a repeated release a no-op.
            released = release_rows(rows.filter(usage_datetime=claimed_at))
        else:
            # Several uses may be in flight: any one of them is ours to give
            # back, but only once (see below).
            released = release_rows(rows)
        if released and ticket is not None:
            ticket.uses, ticket.usage_datetime = max(ticket.uses - 1, 0), None

    def failed(error: Exception) -> None:
        logger.error(
            "Ticket %s keeps a use although its action failed: the claim could not be "
            "released (%s: %s). Check the ticket; re-issue it if the holder needs it.",
            ticket_uuid,
            type(error).__name__,
            error,
        )
        ticket_release_failed.send(sender=model, ticket=ticket, error=error, request=request)

    if in_transaction:
        # The claim belongs to the enclosing transaction: if that is broken,
        # its rollback undoes the claim.
        try:
            with transaction.atomic(using=alias):
                release()
        except DatabaseError:
            logger.info("Ticket %s: claim left to the transaction rollback.", ticket_uuid)
        return
    if not single_use:
        # A decrement is not idempotent: if a release failed after the server
        # ran it, a retry would give back a use that was not ours. So find a
        # dead connection *before* releasing (the view may have lost it), and
        # release once; a failure then keeps the use (too strict, never lenient).
        try:
            if connection.connection is not None and not connection.is_usable():
                logger.warning("Ticket %s: releasing its claim on a new connection.", ticket_uuid)
                connection.close()
            release()
        except Exception as error:
            failed(error)
        return
    try:
        release()
        return
    except DatabaseError:
        # The connection died inside the view (failover, restart, terminated
        # backend). The claim was committed in autocommit: release it on a
        # fresh connection.
        logger.warning("Ticket %s: releasing its claim on a new connection.", ticket_uuid)
    try:
        if not connection.in_atomic_block:
            connection.close()
        release()
    except Exception as error:
        failed(error)
