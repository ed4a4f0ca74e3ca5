"""A claim on one ticket: take it, then settle it or undo it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from .. import statements
from ..exceptions import CredentialsError, TicketError, TicketUsedError
from ..signals import ticket_used
from ..stamps import SPENT, USED, get_store, on_ticket_commit, write_back
from ..states import refusal_for, refusal_for_state
from ..verification import ticket_by_uuid
from .release import give_back
from .responses import conclude_on
from .sql import (
    claim_any_by_pk,
    claim_any_by_uuid,
    claim_rows,
    claim_single_by_pk,
    claim_single_by_uuid,
)

_NEW, _TAKING, _TAKEN, _SETTLED, _UNDONE = "new", "taking", "taken", "settled", "undone"


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
        self._routed_alias: str | None = None

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

    @property
    def taken(self) -> bool:
        """True between a successful :meth:`take` and its settle or undo."""
        return self.state == _TAKEN

    # Taking ------------------------------------------------------------------

    @property
    def _alias(self) -> str:
        """The database of the claim: routed once, so that settle and undo use the same."""
        alias = self._routed_alias
        if alias is None:
            hints = {"instance": self.ticket} if self.ticket is not None else {}
            alias = self._routed_alias = router.db_for_write(self.model, **hints)
        return alias

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
        elif statements.can_return_rows(alias):
            # Which use we took comes back with the claim (UPDATE ... RETURNING).
            inputs = {"pk": ticket.pk, "now": now}
            fetch = {"uuid": ticket.uuid}
            claimed = statements.update_returning(
                model, claim_any_by_pk, alias, inputs, fetch=ticket_by_uuid, fetch_inputs=fetch
            )
            if claimed is not None:
                ticket.uses, ticket.usage_datetime = claimed.uses, claimed.usage_datetime
                self._claimed(ticket.uses, ticket.usage_datetime)
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

        on_ticket_commit(after_commit, ticket, using=self._alias)

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
        give_back(
            self.model,
            self._alias,
            self.ticket_uuid,
            ticket=self.ticket,
            claimed_at=self.claimed_at,
            single_use=self.single_use,
            in_transaction=self.in_transaction,
            request=self.request,
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
        if self.state == _TAKEN:
            conclude_on(self, response)
        return response


def use(ticket: Any, *, request: HttpRequest | None = None) -> None:
    """Consume ``ticket`` now (``Ticket.use()``): at most one caller ever succeeds."""
    claim = Claim(ticket, request=request, cache_claim=False)
    claim.take()
    claim.settle()
