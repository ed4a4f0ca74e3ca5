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
from django.db.models import Case, F, Q, Value, When
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from . import statements
from .exceptions import CredentialsError, TicketError, TicketUsedError
from .signals import ticket_release_failed, ticket_used
from .stamps import SPENT, USED, get_store, on_ticket_commit, write_back
from .states import refusal_for, refusal_for_state, valid_q
from .verification import ticket_by_uuid

logger = logging.getLogger("django_ticketoffice.claims")

T = TypeVar("T")

# Browsers never navigate with these, link checkers and prefetchers send them:
# they never consume a ticket.
NEVER_CONSUMING_METHODS = frozenset({"HEAD", "OPTIONS", "TRACE"})

_NEW, _TAKING, _TAKEN, _SETTLED, _UNDONE = "new", "taking", "taken", "settled", "undone"

# For claim_statement(): the row's own max_uses decides (the ticket is not loaded).
ANY_USES = -1

# The claim, in one place for every caller ----------------------------------------


def claim_statement(
    rows: models.QuerySet[Any], now: datetime, max_uses: int | None = 1
) -> tuple[models.QuerySet[Any], dict[str, Any]]:
    """THE claim: the UPDATE that takes one use of each valid row of ``rows`` with uses left.

    Returns the queryset and the values to update. The limit is in the WHERE,
    so concurrent claims never take more than ``max_uses``; the use that
    reaches it stamps ``usage_datetime`` (the ticket is used up).
    ``max_uses`` is the tickets' own (it never changes once issued): it only
    picks the cheapest statement that says so; ``ANY_USES`` lets each row's
    own limit decide, for a ticket known only by its uuid. Every claim is
    built here, and run by :mod:`.statements`, compiled once.
    """
    valid = valid_q(now)
    if max_uses == 1:
        # The hot path: a single-use ticket's only use is its last.
        return rows.filter(valid, max_uses=1, uses=0), {"usage_datetime": now, "uses": 1}
    if max_uses is None:
        # No limit but the expiry: nothing to count against, never used up.
        return rows.filter(valid, max_uses__isnull=True), {"uses": F("uses") + 1}
    if max_uses == ANY_USES:
        rows = rows.filter(valid, Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
    else:
        rows = rows.filter(valid, uses__lt=F("max_uses"))
    return rows, {
        # Before ``uses``: MySQL assigns left to right, so this reads the count
        # before the claim, as every other database does. NULL <= n is not
        # true: an unlimited ticket is never used up.
        "usage_datetime": Case(
            When(max_uses__lte=F("uses") + 1, then=Value(now)),
            default=Value(None),
            output_field=models.DateTimeField(),
        ),
        "uses": F("uses") + 1,
    }


def claim_rows(rows: models.QuerySet[Any], now: datetime, max_uses: int | None = 1) -> int:
    """Run :func:`claim_statement` through the ORM; return the number of rows claimed."""
    queryset, values = claim_statement(rows, now, max_uses)
    return int(queryset.update(**values))


def release_rows(rows: models.QuerySet[Any]) -> int:
    """Give back one use of each row of ``rows``: the undo of a claim.

    The ticket has a use left again, so it is no longer used up. A
    revocation recorded meanwhile stays, and keeps the ticket refused.
    """
    return int(rows.filter(uses__gt=0).update(uses=F("uses") - 1, usage_datetime=None))


def takes_cache_claim(ticket: Any) -> bool:
    """Tell whether a claim on ``ticket`` takes the fast first-writer-wins cache key.

    Only single-use tickets do: for them the first writer is the only one
    that can win. Concurrent uses of a multi-use ticket are all legitimate
    until the limit, which only the database claim counts.
    """
    return getattr(ticket, "max_uses", 1) == 1


# Statements compiled once by :mod:`.statements` (each function names its statement).


def claim_single_by_pk(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim a loaded single-use ticket."""
    return claim_statement(model._base_manager.filter(pk=inputs["pk"]), inputs["now"], 1)


def _by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    return model._base_manager.filter(
        uuid=inputs["uuid"], place=inputs["place"], purpose=inputs["purpose"]
    )


def claim_single_by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim a single-use ticket known by uuid, for its place and purpose only."""
    return claim_statement(_by_uuid(model, inputs), inputs["now"], 1)


def claim_any_by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim one use of a ticket known by uuid, whatever its limit."""
    return claim_statement(_by_uuid(model, inputs), inputs["now"], ANY_USES)


class ClaimRefused(Exception):
    """A claim could not be taken; ``error`` is the refusal to answer with."""

    def __init__(self, error: TicketError) -> None:
        super().__init__(error.message)
        self.error = error


class Claim:
    """One attempt to consume one use of a ticket: :meth:`take`, then :meth:`settle` or
    :meth:`undo`.

    ``cache_claim`` also takes a first-writer-wins key in the stamp cache for
    a single-use ticket, so that concurrent requests are turned away without
    waiting on the row lock.
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
        self.single_use = getattr(ticket, "max_uses", 1) == 1
        self.cache_claim = cache_claim and self.single_use
        self.store = get_store()
        self.state = _NEW
        self.holds_cache_claim = False
        self.claimed_at: datetime | None = None
        self.in_transaction = False
        # Which use this claim took (1 for the first), and whether it used the ticket up.
        self.use_number = 0
        self.exhausts = False
        self.row_claimed = False  # multi-use: the claim's UPDATE is ours to give back
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
        """Claim the loaded ticket, or raise the :class:`TicketError` that refuses it."""
        if self.cache_claim:
            self._refuse_if_held(self.store.claim(self.ticket_uuid))
        self._taking(self._claim_loaded)

    def take_remembered(self, place: str, purpose: str, *, single_use: bool = True) -> Any:
        """Claim a ticket known by uuid and fetch it, in one statement where possible.

        For the request that follows admission: the session remembers the
        uuid (and whether the ticket is single-use), and the ticket's row comes
        back from the claim itself (``UPDATE ... RETURNING``), after one cache
        call that checks the stamp and, for a single-use ticket, takes the
        cache claim. Returns the ticket; raises the :class:`TicketError` that
        refuses it.
        """
        if single_use:
            state, fast = self.store.check_and_claim(self.ticket_uuid)
        else:
            state, fast = self.store.lookup(self.ticket_uuid), None
        error = refusal_for_state(state, self.ticket_uuid) if state is not None else None
        if error is not None:
            raise error
        self._refuse_if_held(fast)
        where = {"place": place, "purpose": purpose}
        self._taking(lambda: self._claim_remembered(where, single_use))
        return self.ticket

    def _refuse_if_held(self, fast: bool | None) -> None:
        if fast is False:
            raise TicketUsedError(
                "The ticket is being used by another request.",
                genuine=True,
                ticket_uuid=self.ticket_uuid,
            )
        self.holds_cache_claim = bool(fast)

    def _taking(self, claim_row: Callable[[], None]) -> None:
        self.state = _TAKING
        try:
            claim_row()
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

    def _start(self) -> tuple[Any, str, datetime]:
        alias = self._alias
        now = timezone.now()
        # Known before the UPDATE runs, so that undo() can tell our claim apart.
        self.claimed_at = now
        self.in_transaction = connections[alias].in_atomic_block
        return self.model, alias, now

    def _claimed(self, uses: int, usage: datetime | None) -> None:
        self.use_number, self.exhausts = uses, usage is not None
        self.row_claimed = True

    def _claim_loaded(self) -> None:
        ticket = self.ticket
        model, alias, now = self._start()
        if self.single_use:
            inputs = {"pk": ticket.pk, "now": now}
            if statements.update(model, claim_single_by_pk, alias, inputs):
                ticket.uses, ticket.usage_datetime = 1, now
                self._claimed(1, now)
                return
        else:
            rows = model._base_manager.using(alias).filter(pk=ticket.pk)
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
                self._claimed(ticket.uses, ticket.usage_datetime)
                return
        self._refuse(model, alias)

    def _claim_remembered(self, where: dict[str, str], single_use: bool) -> None:
        model, alias, now = self._start()
        inputs = {"uuid": self.ticket_uuid, "now": now, **where}
        build = claim_single_by_uuid if single_use else claim_any_by_uuid
        fetch: dict[str, Any] = {
            "fetch": ticket_by_uuid,
            "fetch_inputs": {"uuid": self.ticket_uuid},
        }
        if single_use or statements.can_return_rows(alias):
            ticket = statements.update_returning(model, build, alias, inputs, **fetch)
        else:
            # UPDATE then SELECT (MySQL, MariaDB): in one transaction, so that the
            # row lock makes the count we read the one we wrote.
            with transaction.atomic(using=alias):
                ticket = statements.update_returning(model, build, alias, inputs, **fetch)
        if ticket is not None:
            self.ticket, self.single_use = ticket, ticket.max_uses == 1
            self._claimed(ticket.uses, ticket.usage_datetime)
            return
        self._refuse(model, alias, retry_multi_use=single_use, **where)
        # A valid multi-use ticket that the session remembered as single-use (an
        # old session has no mark): claim it as what it is.
        self._drop_cache_claim()
        self._claim_remembered(where, single_use=False)

    def _refuse(
        self, model: Any, alias: str, *, retry_multi_use: bool = False, **where: str
    ) -> None:
        """After a claim that took nothing: raise why, with a second statement.

        With ``retry_multi_use``, returns instead when nothing refuses a
        multi-use ticket (claimed with a single-use statement): claim again.
        """
        current = statements.select_first(model, ticket_by_uuid, alias, {"uuid": self.ticket_uuid})
        if current is None or (where and not current.is_appropriate(**where)):
            raise CredentialsError(
                "No ticket matches these credentials.", ticket_uuid=self.ticket_uuid
            )
        if self.ticket is not None:
            for name in (
                "uses",
                "usage_datetime",
                "revocation_datetime",
                "lock_datetime",
                "expiry_datetime",
            ):
                setattr(self.ticket, name, getattr(current, name))
        error = refusal_for(current)
        if error is None and retry_multi_use and current.max_uses != 1:
            return
        if error is None:
            error = TicketUsedError(
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
        use_number, exhausts = self.use_number, self.exhausts

        def after_commit() -> None:
            # Only a used-up ticket is stamped: one with uses left is never refused.
            if exhausts:
                # A multi-use ticket's last use is not final while others are in flight.
                state = USED if ticket.max_uses == 1 else SPENT
                self.store.stamp(ticket.uuid, state, ticket.expiry_datetime, release_claim=release)
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
            self.store.release(self.ticket_uuid, unstamp=True)
        elif self.ticket is not None and self.ticket.max_uses is not None:
            # Another use in flight may have used the ticket up, and stamp it after
            # this undo gave a use back: overwrite the stamp with a marker that
            # keeps such a stamp out for a while (see StampStore.hold_off).
            self.store.hold_off(self.ticket_uuid)
        self.holds_cache_claim = False

    def _release_row(self) -> None:
        if self.claimed_at is None or not (self.single_use or self.row_claimed):
            return
        ticket, alias, ticket_uuid = self.ticket, self._alias, self.ticket_uuid
        connection = connections[alias]
        rows = self.model._base_manager.using(alias).filter(uuid=ticket_uuid)

        def release() -> None:
            # A revocation recorded meanwhile stays, so the ticket stays refused.
            if self.single_use:
                # Only our own claim: the WHERE makes a repeated release a no-op.
                released = release_rows(rows.filter(usage_datetime=self.claimed_at))
            else:
                # Several uses may be in flight: any one of them is ours to give
                # back, but only once (see below).
                released = release_rows(rows)
            if released and ticket is not None:
                ticket.uses, ticket.usage_datetime = max(ticket.uses - 1, 0), None

        if self.in_transaction:
            # The claim belongs to the enclosing transaction: if that is broken,
            # its rollback undoes the claim.
            try:
                with transaction.atomic(using=alias):
                    release()
            except DatabaseError:
                logger.info("Ticket %s: claim left to the transaction rollback.", ticket_uuid)
            return
        if not self.single_use:
            # A decrement is not idempotent: if a release failed after the server
            # ran it, a retry would give back a use that was not ours. So find a
            # dead connection *before* releasing (the view may have lost it), and
            # release once; a failure then keeps the use (too strict, never lenient).
            try:
                if connection.connection is not None and not connection.is_usable():
                    logger.warning(
                        "Ticket %s: releasing its claim on a new connection.", ticket_uuid
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
            logger.warning("Ticket %s: releasing its claim on a new connection.", ticket_uuid)
        try:
            if not connection.in_atomic_block:
                connection.close()
            release()
        except Exception as error:
            self._release_failed(error)

    def _release_failed(self, error: Exception) -> None:
        logger.error(
            "Ticket %s keeps a use although its action failed: the claim could not be "
            "released (%s: %s). Check the ticket; re-issue it if the holder needs it.",
            self.ticket_uuid,
            type(error).__name__,
            error,
        )
        ticket_release_failed.send(
            sender=self.model, ticket=self.ticket, error=error, request=self.request
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
