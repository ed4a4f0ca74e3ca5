"""Querysets and the manager of tickets: filter them by state, issue and check them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import models, router, transaction
from django.db.models import Case, Q, Value, When
from django.http import HttpRequest
from django.utils import timezone

from . import attempts, revocation
from .signals import ticket_issued
from .stamps import on_ticket_commit
from .states import (
    STATUS_EXPIRED,
    STATUS_LOCKED,
    STATUS_REVOKED,
    STATUS_USED,
    STATUS_VALID,
    valid_q,
)
from .tokens import make_token
from .verification import verify_code, verify_password

# The ticket model (``Ticket``): named by type only, so that this module needs no models.
_T = TypeVar("_T", bound=models.Model)


class TicketQuerySet(models.QuerySet[_T]):
    """Querysets of tickets, filtered by state."""

    def valid(self) -> TicketQuerySet[_T]:
        """Tickets that are neither used, revoked nor expired."""
        return self.filter(valid_q(timezone.now()))

    def used(self) -> TicketQuerySet[_T]:
        """Tickets that were used."""
        return self.filter(usage_datetime__isnull=False)

    def expired(self) -> TicketQuerySet[_T]:
        """Tickets whose expiry has passed."""
        return self.filter(expiry_datetime__lt=timezone.now())

    def revoked(self) -> TicketQuerySet[_T]:
        """Tickets that were revoked before any use."""
        return self.filter(usage_datetime__isnull=True, revocation_datetime__isnull=False)

    def locked(self) -> TicketQuerySet[_T]:
        """Tickets locked after too many failed guesses (whatever else they are)."""
        return self.filter(lock_datetime__isnull=False)

    def in_status(self, status: str) -> TicketQuerySet[_T]:
        """Tickets in one status, as :meth:`with_status` names it.

        Filters on the indexed columns rather than on the computed CASE, so the
        database can use its indexes on large tables.
        """
        now = timezone.now()
        unused = Q(usage_datetime__isnull=True, revocation_datetime__isnull=True)
        filters = {
            STATUS_USED: Q(usage_datetime__isnull=False),
            STATUS_REVOKED: Q(usage_datetime__isnull=True, revocation_datetime__isnull=False),
            STATUS_LOCKED: unused & Q(lock_datetime__isnull=False),
            STATUS_EXPIRED: unused & Q(lock_datetime__isnull=True, expiry_datetime__lt=now),
            STATUS_VALID: valid_q(now),
        }
        if status not in filters:
            raise ValueError(f"Unknown ticket status {status!r}")
        return self.filter(filters[status])

    def with_status(self) -> TicketQuerySet[Any]:
        """Annotate ``status``: "used", "revoked", "locked", "expired" or "valid", in SQL."""
        return self.annotate(
            status=Case(
                When(usage_datetime__isnull=False, then=Value(STATUS_USED)),
                When(revocation_datetime__isnull=False, then=Value(STATUS_REVOKED)),
                When(lock_datetime__isnull=False, then=Value(STATUS_LOCKED)),
                When(expiry_datetime__lt=timezone.now(), then=Value(STATUS_EXPIRED)),
                default=Value(STATUS_VALID),
                output_field=models.CharField(),
            )
        )

    def revoke(self, *, request: HttpRequest | None = None, batch_size: int = 1000) -> int:
        """Revoke every ticket of this queryset that is not used or revoked yet.

        Stamps the database at once and the stamp cache after commit. Returns
        the number of tickets revoked by this call. Used tickets of the
        queryset get their revocation recorded too, so that a use in flight
        whose action then fails cannot make its ticket valid again. The
        tickets are those that match when the call starts.
        """
        return revocation.revoke_tickets(self, request=request, batch_size=batch_size)

    # Like delete(): not on the manager, so that Ticket.objects.revoke() cannot
    # revoke every ticket by accident. Say Ticket.objects.all().revoke().
    revoke.queryset_only = True  # type: ignore[attr-defined]

    def unlock(self) -> int:
        """Unlock the locked tickets of this queryset and reset their failure counts.

        Returns the number of tickets unlocked.
        """
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using):
            locked = list(self.filter(lock_datetime__isnull=False).select_for_update())
            count = (
                self.model._base_manager.using(using)
                .filter(pk__in=[ticket.pk for ticket in locked])
                .update(lock_datetime=None, failed_attempts=0)
            )
            attempts.forget(locked)
        return count

    unlock.queryset_only = True  # type: ignore[attr-defined]


class TicketManager(models.Manager.from_queryset(TicketQuerySet), Generic[_T]):  # type: ignore[misc]
    """Manager of tickets: issue them and authenticate credentials (0.2 API).

    The queryset's methods (``valid()``, ``with_status()``, ``revoke()``, ...)
    are available on the manager too.
    """

    def primary(self) -> TicketQuerySet[_T]:
        """Tickets read from the database that takes writes, never from a replica.

        A replica may not have a fresh use or revocation yet; checks read here.
        """
        return self.get_queryset().using(router.db_for_write(self.model))

    def issue(
        self,
        place: str = "",
        purpose: str = "",
        *,
        data: Any = None,
        expiry_datetime: datetime | None = None,
        lifetime: timedelta | None = None,
        max_uses: int | None = 1,
        max_attempts: int | None = None,
    ) -> tuple[_T, str]:
        """Create a ticket with a generated secret, and return it with its token.

        The clear secret exists only inside the returned token: keep the token,
        it cannot be recovered later. ``lifetime`` is an alternative to
        ``expiry_datetime``, counted from now. ``max_uses`` is how many stamped
        uses the ticket allows (``None``: any number until it expires, so it
        needs an expiry). ``max_attempts`` overrides
        ``TICKETOFFICE_MAX_ATTEMPTS`` for this ticket's code or password.
        """
        ticket, token, _code = self._issue(
            place,
            purpose,
            data=data,
            expiry_datetime=expiry_datetime,
            lifetime=lifetime,
            max_uses=max_uses,
            max_attempts=max_attempts,
        )
        return ticket, token

    def issue_with_code(
        self, place: str = "", purpose: str = "", *, digits: int = 6, **kwargs: Any
    ) -> tuple[_T, str, str]:
        """Issue a ticket that also has a short code, and return ``(ticket, token, code)``.

        The link and the code redeem the same ticket: whichever comes first
        consumes it. ``code`` is ``digits`` decimal digits (6 to 10), stored
        only as a keyed hash. Takes the keyword arguments of :meth:`issue`.
        Give it a short lifetime: a code is guessable, within its attempt limit.
        """
        ticket, token, code = self._issue(place, purpose, code_digits=digits, **kwargs)
        assert code is not None
        return ticket, token, code

    def _issue(
        self,
        place: str,
        purpose: str,
        *,
        data: Any = None,
        expiry_datetime: datetime | None = None,
        lifetime: timedelta | None = None,
        max_uses: int | None = 1,
        max_attempts: int | None = None,
        code_digits: int | None = None,
    ) -> tuple[_T, str, str | None]:
        if expiry_datetime is not None and lifetime is not None:
            raise ValueError("Pass expiry_datetime or lifetime, not both.")
        if lifetime is not None:
            if lifetime <= timedelta(0):
                raise ValueError("The lifetime must be positive.")
            expiry_datetime = timezone.now() + lifetime
        check_limits(max_uses, max_attempts, expiry_datetime)
        ticket = self.model(
            place=place,
            purpose=purpose,
            data={} if data is None else data,
            expiry_datetime=expiry_datetime,
            max_uses=max_uses,
            max_attempts=max_attempts,
        )
        code = None if code_digits is None else ticket.set_code(code_digits)
        password = ticket.generate_password()
        # Before saving: an expiry the token cannot carry must not leave a ticket behind.
        token = make_token(ticket, password)
        ticket.save(using=self._db)
        on_ticket_commit(lambda: ticket_issued.send(sender=self.model, ticket=ticket), ticket)
        return ticket, token, code

    def authenticate(self, uuid: Any, password: Any, place: str = "", purpose: str = "") -> _T:
        """Return the valid ticket matching the credentials, or raise a TicketError.

        This is the 0.2 API. It runs the same checks as the decorators.
        """
        return verify_password(uuid, password, place, purpose)

    def verify_code(self, uuid: Any, code: Any, place: str = "", purpose: str = "") -> _T:
        """Return the valid ticket whose short code is ``code``, or raise a TicketError.

        Like :meth:`authenticate`: each wrong code counts against the ticket,
        which is locked past ``TICKETOFFICE_MAX_ATTEMPTS["code"]`` failures.
        """
        return verify_code(uuid, code, place, purpose)


def check_limits(
    max_uses: int | None, max_attempts: int | None, expiry_datetime: datetime | None
) -> None:
    """Refuse use and attempt limits that a ticket cannot have, with a clear ValueError."""
    if max_uses is None:
        if expiry_datetime is None:
            raise ValueError("A ticket with unlimited uses (max_uses=None) needs an expiry.")
    elif isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 1:
        raise ValueError(f"max_uses must be a positive integer or None, not {max_uses!r}.")
    if max_attempts is not None and (
        isinstance(max_attempts, bool)
        or not isinstance(max_attempts, int)
        or not 1 <= max_attempts <= attempts.MAX_LIMIT
    ):
        raise ValueError(
            f"max_attempts must be an integer from 1 to {attempts.MAX_LIMIT} "
            f"(NIST SP 800-63B §5.2.2), not {max_attempts!r}."
        )
