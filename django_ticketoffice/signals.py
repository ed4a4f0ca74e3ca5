"""Signals about the life of tickets. None of them ever carries a secret.

``ticket_issued``, ``ticket_used`` and ``ticket_revoked`` are sent after the
database transaction that caused them commits; ``ticket_refused`` is sent when
the refusal is answered (a refusal writes nothing).

``ticket_issued(sender=Ticket, ticket)``
    A ticket was created by :meth:`TicketManager.issue`.
``ticket_admitted(sender=Ticket, ticket, request)``
    A request presented a credential (a token, or 0.2's uuid and password)
    and it was accepted. Re-checks of a ticket remembered in the session do
    not send it. Sent at once; nothing is written.
``ticket_used(sender=Ticket, ticket, request, use_number)``
    A ticket was consumed (``request`` is None outside a view). ``use_number``
    counts from 1; a multi-use ticket sends one signal per use, and is
    exhausted once ``use_number == ticket.max_uses``.
``ticket_revoked(sender=Ticket, tickets, request)``
    Tickets were revoked; ``tickets`` is a list of their uuids.
``ticket_refused(sender=Ticket, reason, error, uuid, place, purpose, request)``
    A request presenting a ticket was refused; ``uuid`` is None when unknown.
``ticket_locked(sender=Ticket, ticket, credential)``
    A ticket was locked after too many failed checks of a guessable
    credential; ``credential`` is ``"code"`` or ``"password"``. Sent once per
    lock, after the commit. Staff may unlock it (``Ticket.unlock()``, the admin
    action) or re-issue it.
``ticket_release_failed(sender=Ticket, ticket, error, request)``
    A protected action failed but its claim could not be undone (the database
    was unreachable): the ticket stays used although its holder got an error.
    Sent at once; also logged at ERROR. Operators may re-issue the ticket.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.dispatch import Signal

ticket_issued = Signal()
ticket_admitted = Signal()
ticket_used = Signal()
ticket_revoked = Signal()
ticket_refused = Signal()
ticket_locked = Signal()
ticket_release_failed = Signal()


def send_refused(
    error: Any,
    *,
    place: str,
    purpose: str,
    request: Any = None,
    ticket_uuid: Any = None,
) -> None:
    """Send ``ticket_refused`` for a refusal ``error``, the same way from every entry point."""
    # Floods of forged links are refused here: with nobody listening, skip even
    # the model lookup (Signal.send would return at once too).
    if not ticket_refused.receivers:
        return
    ticket_refused.send(
        sender=apps.get_model("django_ticketoffice", "Ticket"),
        reason=error.reason,
        error=error,
        uuid=error.ticket_uuid or ticket_uuid,
        place=place,
        purpose=purpose,
        request=request,
    )
