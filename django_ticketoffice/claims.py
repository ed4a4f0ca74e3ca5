"""The life of a claim: how a ticket is consumed exactly as often as it allows.

A claim takes one use of a ticket *before* the protected action runs, with
one conditional UPDATE that only a valid ticket with uses left satisfies
(:func:`claim_rows`), so that of any number of concurrent requests exactly
``max_uses`` win. The use that exhausts the ticket also marks it used. Then
the action either succeeds and the claim is *settled* (the stamp cache and
``ticket_used`` follow the commit), or it fails and the claim is *undone*:
the use is given back.

This module owns that life for every caller: :meth:`Ticket.use`, sync and
async views, function and class-based views. It settles only once a response
is known to succeed (status below 400, *after* a lazy ``TemplateResponse`` has
rendered), undoes on any failure, including a cancelled task and a database
connection lost inside the view, and lets a revocation recorded meanwhile win.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import Case, F, Value, When
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from .exceptions import CredentialsError, TicketError, TicketUsedError
from .signals import ticket_release_failed, ticket_used
from .stamps import USED, get_store, on_ticket_commit, write_back
from .states import refusal_for, valid_q

logger = logging.getLogger("django_ticketoffice.claims")

T = TypeVar("T")

# Browsers never navigate with these, link checkers and prefetchers send them:
# they never consume a ticket.
NEVER_CONSUMING_METHODS = frozenset({"HEAD", "OPTIONS", "TRACE"})

_NEW, _TAKING, _TAKEN, _SETTLED, _UNDONE = "new", "taking", "taken", "settled", "undone"


class ClaimRefused(Exception):
    """A claim could not be taken; ``error`` is the refusal to answer with."""

    def __init__(self, error: TicketError) -> None:
        super().__init__(error.message)
        self.error = error


def claim_rows(rows: models.QuerySet[Any], now: datetime, max_uses: int | None = 1) -> int:
    """THE claim: take one use of each valid row of ``rows`` that has uses left.

    One conditional UPDATE. The limit is in its WHERE, so concurrent claims
    never take more than ``max_uses``; the use that reaches it stamps
    ``usage_datetime`` (the ticket is used up). ``max_uses`` is the tickets'
    own (it never changes once issued): it only picks the cheapest statement
    that says so. Returns the number of rows claimed. Every claim goes through
    here, so that the statement can be compiled, or made to return the
    claimed row, in one place.
    """
    valid = valid_q(now)
    if max_uses == 1:
        # The hot path. ``uses < max_uses`` spelt with a single-use ticket's
        # constant, and its only use is its last: no expression to resolve.
        return rows.filter(valid, uses=0).update(usage_datetime=now, uses=1)
    if max_uses is None:
        # No limit but the expiry: nothing to count against, never used up.
        return rows.filter(valid, max_uses__isnull=True).update(uses=F("uses") + 1)
    return rows.filter(valid, uses__lt=F("max_uses")).update(
        # Before ``uses``: MySQL assigns left to right, so this reads the count
        # before the claim, as every other database does.
        usage_datetime=Case(
            When(max_uses__lte=F("uses") + 1, then=Value(now)),
            default=Value(None),
            output_field=models.DateTimeField(),
        ),
        uses=F("uses") + 1,
    )


def release_rows(rows: models.QuerySet[Any]) -> int:
    """Give back one use of each row of ``rows``: the undo of :func:`claim_rows`.

    The ticket has a use left again, so it is no longer used up. A
    revocation recorded meanwhile stays, and keeps the ticket refused.
    """
    return rows.filter(uses__gt=0).update(uses=F("uses") - 1, usage_datetime=None)


def takes_cache_claim(ticket: Any) -> bool:
    """Tell whether a claim on ``ticket`` takes the fast first-writer-wins cache key.

    Only single-use tickets do: for them the first writer is the only one
    that can win. Concurrent uses of a multi-use ticket are all legitimate
    until the limit, which only the database claim counts.
    """
    return getattr(ticket, "max_uses", 1) == 1


class Claim:
    """One attempt to consume one use of a ticket: :meth:`take`, then :meth:`settle` or
    :meth:`undo`.

    ``cache_claim`` also takes a first-writer-wins key in the stamp cache for
    a single-use ticket, so that concurrent requests are turned away without
    waiting on the row lock.
    """

    def __init__(
        self, ticket: Any, *, request: HttpRequest | None = None, cache_claim: bool = True
    ) -> None:
        self.ticket = ticket
        self.request = request
        self.single_use = getattr(ticket, "max_uses", 1) == 1
        self.cache_claim = cache_claim and takes_cache_claim(ticket)
        self.store = get_store()
        self.state = _NEW
        self.holds_cache_claim = False
        self.claimed_at: datetime | None = None
        self.in_transaction = False
        # Which use this claim took (1 for the first), and whether it used the ticket up.
        self.use_number = 0
        self.exhausts = False
        self.row_claimed = False  # multi-use: the claim's UPDATE is committed

    @classmethod
    def for_request(cls, request: HttpRequest) -> Claim:
        """The claim on the ticket that ``@invitation_required`` attached to ``request``."""
        ticket = getattr(request, "ticket", None)
        if ticket is None or not hasattr(ticket, "usage_datetime"):
            raise ImproperlyConfigured(
                "@stamp_invitation needs a ticket on the request: place it under "
                "@invitation_required."
            )
        return cls(ticket, request=request)

    # Taking ------------------------------------------------------------------

    @property
    def _alias(self) -> str:
        return router.db_for_write(type(self.ticket), instance=self.ticket)

    def take(self) -> None:
        """Claim the ticket, or raise the :class:`TicketError` that refuses it."""
        ticket = self.ticket
        if self.cache_claim:
            fast = self.store.claim(ticket.uuid)
            if fast is False:
                raise TicketUsedError(
                    "The ticket is being used by another request.",
                    genuine=True,
                    ticket_uuid=ticket.uuid,
                )
            self.holds_cache_claim = bool(fast)
        self.state = _TAKING
        try:
            self._claim_row()
        except TicketError:
            self.state = _NEW
            self.claimed_at = None
            self._drop_cache_claim()
            raise
        except BaseException:
            # Interrupted between the UPDATE and here: the row may be ours.
            self.undo()
            raise
        self.state = _TAKEN

    def _claim_row(self) -> None:
        ticket = self.ticket
        model, alias = type(ticket), self._alias
        now = timezone.now()
        # Known before the UPDATE runs, so that undo() can tell our claim apart.
        self.claimed_at = now
        self.in_transaction = connections[alias].in_atomic_block
        tickets = model._base_manager.using(alias)
        rows = tickets.filter(pk=ticket.pk)
        if self.single_use:
            # One statement: a claim on a single-use ticket is its first and last use.
            if claim_rows(rows, now, 1):
                ticket.uses, ticket.usage_datetime = 1, now
                self.use_number, self.exhausts = 1, True
                return
        else:
            # Which use we took: read in the same transaction, under the row lock.
            with transaction.atomic(using=alias):
                claimed = claim_rows(rows, now, ticket.max_uses)
                if claimed:
                    ticket.uses, ticket.usage_datetime = rows.values_list(
                        "uses", "usage_datetime"
                    ).get()
            if claimed:
                # Only once committed (or its savepoint released): a use taken in a
                # block that was rolled back is not ours to give back.
                self.row_claimed = True
                self.use_number = ticket.uses
                self.exhausts = ticket.usage_datetime is not None
                return
        current = rows.first()
        if current is None:
            raise CredentialsError("The ticket no longer exists.", ticket_uuid=ticket.uuid)
        for name in (
            "uses",
            "usage_datetime",
            "revocation_datetime",
            "lock_datetime",
            "expiry_datetime",
        ):
            setattr(ticket, name, getattr(current, name))
        error = refusal_for(current) or TicketUsedError(
            "The ticket could not be claimed.", genuine=True, ticket_uuid=ticket.uuid
        )
        write_back(ticket, error)
        raise error

    def _drop_cache_claim(self) -> None:
        if self.holds_cache_claim:
            self.holds_cache_claim = False
            self.store.release(self.ticket.uuid)

    # Settling ------------------------------------------------------------------

    def settle(self) -> None:
        """The action succeeded: the use stands; stamp and signal after commit."""
        if self.state != _TAKEN:
            return
        self.state = _SETTLED
        ticket, request, release = self.ticket, self.request, self.holds_cache_claim
        use_number, exhausts = self.use_number, self.exhausts

        def after_commit() -> None:
            # Only a used-up ticket is stamped: one with uses left is never refused.
            if exhausts:
                self.store.stamp(ticket.uuid, USED, ticket.expiry_datetime, release_claim=release)
            elif release:
                self.store.release(ticket.uuid)
            ticket_used.send(
                sender=type(ticket), ticket=ticket, request=request, use_number=use_number
            )

        on_ticket_commit(after_commit, ticket)

    def undo(self) -> None:
        """The action failed: make the ticket valid again (unless revoked meanwhile)."""
        if self.state not in (_TAKING, _TAKEN):
            return
        self.state = _UNDONE
        self._release_row()
        if self.single_use:
            # Drop our cache claim, and a "used" stamp that a concurrent request may
            # have written back after seeing our claim in the database.
            self.store.release(self.ticket.uuid, unstamp=True)
        elif self.ticket.max_uses is not None:
            # Another use in flight may have used the ticket up, and stamp it after
            # this undo gave a use back: overwrite the stamp with a marker that
            # keeps such a stamp out for a while (see StampStore.hold_off).
            self.store.hold_off(self.ticket.uuid)
        self.holds_cache_claim = False

    def _release_row(self) -> None:
        ticket, alias = self.ticket, self._alias
        if self.claimed_at is None or not (self.single_use or self.row_claimed):
            return
        connection = connections[alias]
        rows = type(ticket)._base_manager.using(alias).filter(pk=ticket.pk)

        def release() -> None:
            # A revocation recorded meanwhile stays, so the ticket stays refused.
            if self.single_use:
                # Only our own claim: the WHERE makes a repeated release a no-op.
                released = release_rows(rows.filter(usage_datetime=self.claimed_at))
            else:
                # Several uses may be in flight: any one of them is ours to give
                # back, but only once (see below).
                released = release_rows(rows)
            if released:
                ticket.uses, ticket.usage_datetime = max(ticket.uses - 1, 0), None

        if self.in_transaction:
            # The claim belongs to the enclosing transaction: if that is broken,
            # its rollback undoes the claim.
            try:
                with transaction.atomic(using=alias):
                    release()
            except DatabaseError:
                logger.info("Ticket %s: claim left to the transaction rollback.", ticket.uuid)
            return
        if not self.single_use:
            # A decrement is not idempotent: if a release failed after the server
            # ran it, a retry would give back a use that was not ours. So find a
            # dead connection *before* releasing (the view may have lost it), and
            # release once; a failure then keeps the use (too strict, never lenient).
            try:
                if connection.connection is not None and not connection.is_usable():
                    logger.warning(
                        "Ticket %s: releasing its claim on a new connection.", ticket.uuid
                    )
                    connection.close()
                release()
            except Exception as error:
                self._release_failed(error)
            return
        try:
            release()
            return
        except DatabaseError:
            # The connection died inside the view (failover, restart, terminated
            # backend). The claim was committed in autocommit: release it on a
            # fresh connection.
            logger.warning("Ticket %s: releasing its claim on a new connection.", ticket.uuid)
        try:
            if not connection.in_atomic_block:
                connection.close()
            release()
        except Exception as error:
            self._release_failed(error)

    def _release_failed(self, error: Exception) -> None:
        ticket = self.ticket
        logger.error(
            "Ticket %s keeps a use although its action failed: the claim could not be "
            "released (%s: %s). Check the ticket; re-issue it if the holder needs it.",
            ticket.uuid,
            type(error).__name__,
            error,
        )
        ticket_release_failed.send(
            sender=type(ticket), ticket=ticket, error=error, request=self.request
        )

    # Responses ---------------------------------------------------------------

    def conclude(self, status_code: int) -> None:
        """Settle on a success (below 400), undo otherwise."""
        if status_code < 400:
            self.settle()
        else:
            self.undo()

    def finish(self, response: HttpResponseBase) -> HttpResponseBase:
        """Settle or undo on ``response``; a lazy response decides once it renders."""
        if self.state != _TAKEN:
            return response
        render = getattr(response, "render", None)
        if callable(render) and not getattr(response, "is_rendered", True):
            self._after_render(response)
        else:
            self.conclude(response.status_code)
        return response

    def _after_render(self, response: Any) -> None:
        """Conclude when Django renders ``response``; undo if it fails or never renders.

        The hooks are instance attributes that remove themselves when called,
        so the response is left as Django made it.
        """
        claim = self

        def render() -> Any:
            del response.render
            try:
                rendered = response.render()
            except BaseException:
                claim.undo()
                raise
            claim.conclude(rendered.status_code)
            return rendered

        def close() -> None:
            del response.close
            try:
                # Closed without being rendered (a middleware replaced it): the
                # action did not visibly happen. A no-op once settled. Before
                # close(), whose request_finished signal closes connections.
                claim.undo()
            finally:
                response.close()

        response.render = render
        response.close = close


def use(ticket: Any, *, request: HttpRequest | None = None) -> None:
    """Consume one use of ``ticket`` now (``Ticket.use()``): at most ``max_uses`` callers
    ever succeed."""
    claim = Claim(ticket, request=request, cache_claim=False)
    claim.take()
    claim.settle()


def consumes(request: HttpRequest, methods: frozenset[str] | None) -> bool:
    """Tell whether ``request`` consumes its ticket (``methods``: None for all)."""
    method = (request.method or "GET").upper()
    if method in NEVER_CONSUMING_METHODS:
        return False
    return methods is None or method in methods


def run_view(view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    """Run a sync view inside a claim on the request's ticket.

    Raises :class:`ClaimRefused` when the ticket cannot be claimed.
    """
    claim = Claim.for_request(request)
    try:
        claim.take()  # undoes itself if interrupted
    except TicketError as error:
        raise ClaimRefused(error) from None
    try:
        response = view(request, *args, **kwargs)
    except BaseException:
        claim.undo()
        raise
    return claim.finish(response)


async def _to_completion(step: Callable[[], T]) -> T:
    """Run a sync step in its thread to the end, even if this task is cancelled meanwhile.

    A thread cannot be stopped: a cancelled await would leave a claim taken by
    a step that goes on without us. So wait for the step, then re-raise the
    cancellation for the caller to undo what the step did.
    """
    task = asyncio.ensure_future(sync_to_async(step)())
    cancelled: BaseException | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as error:
            cancelled = error
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller must see
        raise cancelled
    return task.result()


async def run_async_view(
    view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any
) -> Any:
    """Run an async view inside a claim; a cancellation at any await point undoes it."""
    claim = Claim.for_request(request)
    try:
        await _to_completion(claim.take)
    except TicketError as error:
        raise ClaimRefused(error) from None
    except BaseException:
        # Cancelled while the claim was being taken: it went on, undo it.
        await _to_completion(claim.undo)
        raise
    try:
        response = await view(request, *args, **kwargs)
    except BaseException:
        await _to_completion(claim.undo)
        raise
    return await _to_completion(functools.partial(claim.finish, response))
