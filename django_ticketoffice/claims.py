"""The life of a claim: how a ticket is consumed exactly once.

A claim marks a ticket used *before* the protected action runs, with one
conditional UPDATE that only a valid ticket satisfies, so that of any number
of concurrent requests exactly one wins. Then the action either succeeds and
the claim is *settled* (the stamp cache and ``ticket_used`` follow the
commit), or it fails and the claim is *undone*: the ticket is valid again.

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
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from . import statements
from .exceptions import CredentialsError, TicketError, TicketUsedError
from .signals import ticket_release_failed, ticket_used
from .stamps import USED, get_store, on_ticket_commit, write_back
from .states import refusal_for, refusal_for_state, valid_q
from .verification import ticket_by_uuid

logger = logging.getLogger("django_ticketoffice.claims")


# The claim, in one place for every caller: mark a valid ticket used. Built as
# ORM queries and precompiled by :mod:`.statements`.


def claim_by_pk(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim a ticket whose row was loaded."""
    now = inputs["now"]
    return model._base_manager.filter(Q(pk=inputs["pk"]) & valid_q(now)), {"usage_datetime": now}


def claim_by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim a ticket known by uuid, for its place and purpose only."""
    now = inputs["now"]
    tickets = model._base_manager.filter(
        Q(uuid=inputs["uuid"], place=inputs["place"], purpose=inputs["purpose"]) & valid_q(now)
    )
    return tickets, {"usage_datetime": now}


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


class Claim:
    """One attempt to consume one ticket: :meth:`take`, then :meth:`settle` or :meth:`undo`.

    ``cache_claim`` also takes a first-writer-wins key in the stamp cache, so
    that concurrent requests are turned away without waiting on the row lock.
    """

    def __init__(
        self,
        ticket: Any = None,
        *,
        request: HttpRequest | None = None,
        cache_claim: bool = True,
        model: Any = None,
        ticket_uuid: Any = None,
    ) -> None:
        self.ticket = ticket
        self.model = type(ticket) if ticket is not None else model
        self.ticket_uuid = ticket.uuid if ticket is not None else ticket_uuid
        self.request = request
        self.cache_claim = cache_claim
        self.store = get_store()
        self.state = _NEW
        self.holds_cache_claim = False
        self.claimed_at: datetime | None = None
        self.in_transaction = False
        # Set when the stamped view takes over a claim that admission took.
        self.adopted = False

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
        hints = {"instance": self.ticket} if self.ticket is not None else {}
        return router.db_for_write(self.model, **hints)

    def take(self) -> None:
        """Claim the ticket, or raise the :class:`TicketError` that refuses it."""
        if self.cache_claim:
            self._refuse_if_held(self.store.claim(self.ticket_uuid))
        self._take_row(claim_by_pk, {"pk": self.ticket.pk})

    def take_remembered(self, place: str, purpose: str) -> Any:
        """Claim a ticket known by uuid and fetch it, in one statement where possible.

        For the request that follows admission: the session remembers the
        uuid, and the ticket's row comes back from the claim itself
        (``UPDATE ... RETURNING``), after one cache call that both checks the
        stamp and takes the cache claim. Returns the ticket; raises the
        :class:`TicketError` that refuses it.
        """
        state, fast = self.store.check_and_claim(self.ticket_uuid)
        error = refusal_for_state(state, self.ticket_uuid) if state is not None else None
        if error is not None:
            raise error
        self._refuse_if_held(fast)
        inputs = {"uuid": self.ticket_uuid, "place": place, "purpose": purpose}
        self._take_row(claim_by_uuid, inputs, place=place, purpose=purpose)
        return self.ticket

    def _refuse_if_held(self, fast: bool | None) -> None:
        if fast is False:
            raise TicketUsedError(
                "The ticket is being used by another request.",
                genuine=True,
                ticket_uuid=self.ticket_uuid,
            )
        self.holds_cache_claim = bool(fast)

    def _take_row(self, build: Any, inputs: dict[str, Any], **where: str) -> None:
        self.state = _TAKING
        try:
            self._claim_row(build, inputs, **where)
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

    def _claim_row(self, build: Any, inputs: dict[str, Any], **where: str) -> None:
        model, alias = self.model, self._alias
        now = timezone.now()
        # Known before the UPDATE runs, so that undo() can tell our claim apart.
        self.claimed_at = now
        self.in_transaction = connections[alias].in_atomic_block
        inputs = {**inputs, "now": now}
        if self.ticket is None:
            self.ticket = statements.update_returning(
                model,
                build,
                alias,
                inputs,
                fetch=ticket_by_uuid,
                fetch_inputs={"uuid": self.ticket_uuid},
            )
            if self.ticket is not None:
                return
        elif statements.update(model, build, alias, inputs):
            self.ticket.usage_datetime = now
            return
        # Refused: a second statement tells why.
        current = statements.select_first(model, ticket_by_uuid, alias, {"uuid": self.ticket_uuid})
        if current is None or (where and not current.is_appropriate(**where)):
            raise CredentialsError(
                "No ticket matches these credentials.", ticket_uuid=self.ticket_uuid
            )
        if self.ticket is not None:
            for name in ("usage_datetime", "revocation_datetime", "expiry_datetime"):
                setattr(self.ticket, name, getattr(current, name))
        error = refusal_for(current) or TicketUsedError(
            "The ticket could not be claimed.", genuine=True, ticket_uuid=self.ticket_uuid
        )
        write_back(current, error)
        raise error

    def _drop_cache_claim(self) -> None:
        if self.holds_cache_claim:
            self.holds_cache_claim = False
            self.store.release(self.ticket_uuid)

    # Settling ------------------------------------------------------------------

    def settle(self) -> None:
        """The action succeeded: the use stands; stamp and signal after commit."""
        if self.state != _TAKEN:
            return
        self.state = _SETTLED
        ticket, request, release = self.ticket, self.request, self.holds_cache_claim

        def after_commit() -> None:
            self.store.stamp(ticket.uuid, USED, ticket.expiry_datetime, release_claim=release)
            ticket_used.send(sender=type(ticket), ticket=ticket, request=request)

        on_ticket_commit(after_commit, ticket)

    def undo(self) -> None:
        """The action failed: make the ticket valid again (unless revoked meanwhile)."""
        if self.state not in (_TAKING, _TAKEN):
            return
        self.state = _UNDONE
        self._release_row()
        # Drop our cache claim, and a "used" stamp that a concurrent request may
        # have written back after seeing our claim in the database.
        self.store.release(self.ticket_uuid, unstamp=True)
        self.holds_cache_claim = False

    def _release_row(self) -> None:
        ticket, alias, ticket_uuid = self.ticket, self._alias, self.ticket_uuid
        if self.claimed_at is None:
            return
        connection = connections[alias]

        def release() -> None:
            # Only our own claim: the WHERE makes a stale release a no-op. A
            # revocation recorded meanwhile stays, so the ticket stays refused.
            self.model._base_manager.using(alias).filter(
                uuid=ticket_uuid, usage_datetime=self.claimed_at
            ).update(usage_datetime=None)
            if ticket is not None:
                ticket.usage_datetime = None

        if self.in_transaction:
            # The claim belongs to the enclosing transaction: if that is broken,
            # its rollback undoes the claim.
            try:
                with transaction.atomic(using=alias):
                    release()
            except DatabaseError:
                logger.info("Ticket %s: claim left to the transaction rollback.", ticket_uuid)
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
            logger.error(
                "Ticket %s stays used although its action failed: the claim could not be "
                "released (%s: %s). Check the ticket; re-issue it if the holder needs it.",
                ticket_uuid,
                type(error).__name__,
                error,
            )
            ticket_release_failed.send(
                sender=self.model, ticket=ticket, error=error, request=self.request
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
    """Consume ``ticket`` now (``Ticket.use()``): at most one caller ever succeeds."""
    claim = Claim(ticket, request=request, cache_claim=False)
    claim.take()
    claim.settle()


def consumes(request: HttpRequest, methods: frozenset[str] | None) -> bool:
    """Tell whether ``request`` consumes its ticket (``methods``: None for all)."""
    method = (request.method or "GET").upper()
    if method in NEVER_CONSUMING_METHODS:
        return False
    return methods is None or method in methods


CLAIM_ATTRIBUTE = "_ticketoffice_claim"
# Set on a stamped view: the methods that consume (None: all but HEAD/OPTIONS).
CONSUMES_ATTRIBUTE = "_ticketoffice_consumes"


def taken_at_admission(request: HttpRequest) -> Claim | None:
    """The claim that admission took for the stamped view, once, if any."""
    claim = getattr(request, CLAIM_ATTRIBUTE, None)
    if claim is None or claim.adopted or claim.state != _TAKEN:
        return None
    if claim.ticket is not getattr(request, "ticket", None):
        return None
    claim.adopted = True
    return claim


def abandon(request: HttpRequest) -> None:
    """Undo a claim taken at admission that no stamped view took over.

    Another decorator between ``@invitation_required`` and
    ``@stamp_invitation`` may answer without calling the view (a login
    redirect): then nothing happened, and the ticket stays valid.
    """
    claim = getattr(request, CLAIM_ATTRIBUTE, None)
    if claim is not None and not claim.adopted:
        claim.undo()


def _claim_for(request: HttpRequest) -> Claim:
    claim = taken_at_admission(request)
    if claim is not None:
        return claim
    claim = Claim.for_request(request)
    try:
        claim.take()  # undoes itself if interrupted
    except TicketError as error:
        raise ClaimRefused(error) from None
    return claim


def run_view(view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    """Run a sync view inside a claim on the request's ticket.

    Raises :class:`ClaimRefused` when the ticket cannot be claimed.
    """
    claim = _claim_for(request)
    try:
        response = view(request, *args, **kwargs)
    except BaseException:
        claim.undo()
        raise
    return claim.finish(response)


async def to_completion(step: Callable[[], T]) -> T:
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
    claim = taken_at_admission(request)
    if claim is None:
        claim = Claim.for_request(request)
        try:
            await to_completion(claim.take)
        except TicketError as error:
            raise ClaimRefused(error) from None
        except BaseException:
            # Cancelled while the claim was being taken: it went on, undo it.
            await to_completion(claim.undo)
            raise
    try:
        response = await view(request, *args, **kwargs)
    except BaseException:
        await to_completion(claim.undo)
        raise
    return await to_completion(functools.partial(claim.finish, response))
