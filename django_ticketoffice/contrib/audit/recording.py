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

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from ... import signals
from ...conf import app_settings
from .clients import client_details
from .models import ADMITTED, ISSUED, LOCKED, REFUSED, REVOKED, USED, TicketEvent
from .writing import counter, events_database, guarded, record

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

    alias = events_database()
    details = client_details(request)
    with guarded(alias, "revocations"):
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
