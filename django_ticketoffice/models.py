"""The ticket model: the source of truth for every one-shot credential."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.contrib.auth.hashers import make_password
from django.db import models, router, transaction
from django.db.models import Case, Q, Value, When
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import attempts, claims, codes, hashers, revocation
from .conf import app_settings
from .exceptions import TicketUsedError
from .signals import ticket_issued
from .stamps import on_ticket_commit
from .states import (
    STATUS_EXPIRED,
    STATUS_LOCKED,
    STATUS_REVOKED,
    STATUS_USED,
    STATUS_VALID,
    refusal_for,
    status_of,
    valid_q,
)
from .tokens import make_token
from .utils import import_member
from .verification import verify_code, verify_password

__all__ = [
    "STATUS_EXPIRED",
    "STATUS_LOCKED",
    "STATUS_REVOKED",
    "STATUS_USED",
    "STATUS_VALID",
    "Ticket",
    "TicketManager",
    "TicketQuerySet",
    "refusal_for",
]


def unusable_password() -> str:
    """Default secret of a ticket: nothing authenticates against it."""
    return make_password(None)


class TicketQuerySet(models.QuerySet["Ticket"]):
    """Querysets of tickets, filtered by state."""

    def valid(self) -> TicketQuerySet:
        """Tickets that are neither used, revoked nor expired."""
        return self.filter(valid_q(timezone.now()))

    def used(self) -> TicketQuerySet:
        """Tickets that were used."""
        return self.filter(usage_datetime__isnull=False)

    def expired(self) -> TicketQuerySet:
        """Tickets whose expiry has passed."""
        return self.filter(expiry_datetime__lt=timezone.now())

    def revoked(self) -> TicketQuerySet:
        """Tickets that were revoked before any use."""
        return self.filter(usage_datetime__isnull=True, revocation_datetime__isnull=False)

    def locked(self) -> TicketQuerySet:
        """Tickets locked after too many failed guesses (whatever else they are)."""
        return self.filter(lock_datetime__isnull=False)

    def in_status(self, status: str) -> TicketQuerySet:
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

    def with_status(self) -> TicketQuerySet:
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
                Ticket._base_manager.using(using)
                .filter(pk__in=[ticket.pk for ticket in locked])
                .update(lock_datetime=None, failed_attempts=0)
            )
            attempts.forget(locked)
        return count

    unlock.queryset_only = True  # type: ignore[attr-defined]


class TicketManager(models.Manager.from_queryset(TicketQuerySet)):  # type: ignore[misc]
    """Manager of tickets: issue them and authenticate credentials (0.2 API).

    The queryset's methods (``valid()``, ``with_status()``, ``revoke()``, ...)
    are available on the manager too.
    """

    def primary(self) -> TicketQuerySet:
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
    ) -> tuple[Ticket, str]:
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
    ) -> tuple[Ticket, str, str]:
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
    ) -> tuple[Ticket, str, str | None]:
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

    def authenticate(self, uuid: Any, password: Any, place: str = "", purpose: str = "") -> Ticket:
        """Return the valid ticket matching the credentials, or raise a TicketError.

        This is the 0.2 API. It runs the same checks as the decorators.
        """
        return verify_password(uuid, password, place, purpose)

    def verify_code(self, uuid: Any, code: Any, place: str = "", purpose: str = "") -> Ticket:
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


class Ticket(models.Model):
    """Tickets are generic one-shot credentials."""

    uuid = models.UUIDField(_("uuid"), default=uuid.uuid4, unique=True, editable=False)
    place = models.CharField(
        _("place"),
        max_length=50,
        blank=True,
        help_text=_("Where the ticket is to be used."),
    )
    purpose = models.CharField(
        _("purpose"),
        max_length=50,
        blank=True,
        db_index=True,
        help_text=_("What the ticket grants access to."),
    )
    password = models.CharField(_("password hash"), max_length=255, default=unusable_password)
    data = models.JSONField(_("data"), default=dict, blank=True)
    creation_datetime = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    expiry_datetime = models.DateTimeField(_("expires"), null=True, blank=True, db_index=True)
    # Not indexed: the claim sets it, and an UPDATE that changes no indexed
    # column can stay on its page (a PostgreSQL HOT update), which keeps the
    # hot path cheap on large tables. The admin's status filters work through
    # the creation index (newest first) and the other columns.
    usage_datetime = models.DateTimeField(_("used"), null=True, blank=True)
    revocation_datetime = models.DateTimeField(_("revoked"), null=True, blank=True, db_index=True)
    uses = models.PositiveIntegerField(
        _("uses"), default=0, editable=False, help_text=_("Stamped uses taken so far.")
    )
    max_uses = models.PositiveIntegerField(
        _("maximum uses"),
        null=True,
        blank=True,
        default=1,
        help_text=_("How many stamped uses the ticket allows; empty for any number until expiry."),
    )
    code_hash = models.CharField(
        _("code hash"), max_length=128, blank=True, default="", editable=False
    )
    failed_attempts = models.PositiveIntegerField(
        _("failed attempts"),
        default=0,
        editable=False,
        help_text=_("Failed guesses of the code or password counted in the database."),
    )
    max_attempts = models.PositiveSmallIntegerField(
        _("maximum failed attempts"),
        null=True,
        blank=True,
        help_text=_("Failed guesses that lock the ticket; empty for TICKETOFFICE_MAX_ATTEMPTS."),
    )
    lock_datetime = models.DateTimeField(_("locked"), null=True, blank=True)

    objects: ClassVar[TicketManager] = TicketManager()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        permissions = [("revoke_ticket", _("Can revoke ticket"))]
        indexes = [
            # Revocation and cleanup by place and purpose; the admin's place filter.
            models.Index(fields=["place", "purpose"], name="ticketoffice_place_purpose"),
        ]

    def __str__(self) -> str:
        label = "/".join(part for part in (self.place, self.purpose) if part) or "ticket"
        return f"{label} {self.uuid}"

    # Secrets -----------------------------------------------------------

    def set_password(self, clear_password: str | None) -> None:
        """Hash and set a password chosen by a person. Does not save.

        Such passwords may be weak, so they go through Django's configured
        password hashers. Generated secrets use :meth:`generate_password`.
        """
        self.password = make_password(clear_password)

    def generate_password(self) -> str:
        """Set a fresh random secret and return it in clear. Does not save.

        The generator is ``TICKETOFFICE_PASSWORD_GENERATOR``; the secret is
        stored with a fast hash, which is safe for high-entropy secrets.
        """
        path, args, kwargs = app_settings.PASSWORD_GENERATOR
        # str(): a generator may return another type; the token carries text.
        clear_password = str(import_member(path)(*args, **kwargs))
        self.password = hashers.hash_secret(clear_password)
        return clear_password

    def check_password(self, clear_password: str | None) -> bool:
        """Tell whether ``clear_password`` is this ticket's secret."""
        return hashers.check_secret(clear_password, self.password)

    authenticate = check_password

    def set_code(self, digits: int = 6) -> str:
        """Set a fresh short code and return it in clear (store only its keyed hash).

        Does not save.
        """
        code = codes.make_code(digits)
        self.code_hash = codes.hash_code(self.uuid, code)
        return code

    def check_code(self, code: str) -> bool:
        """Tell whether ``code`` is this ticket's short code (no attempt is counted)."""
        return codes.check_code(self.uuid, code, self.code_hash)

    # State ---------------------------------------------------------------

    @property
    def used(self) -> bool:
        """True once the ticket was used."""
        return self.usage_datetime is not None

    @property
    def expired(self) -> bool:
        """True once the expiry has passed (a ticket without expiry never expires)."""
        return self.expiry_datetime is not None and self.expiry_datetime < timezone.now()

    @property
    def revoked(self) -> bool:
        """True once the ticket was revoked."""
        return self.revocation_datetime is not None

    @property
    def locked(self) -> bool:
        """True while the ticket is locked after too many failed guesses."""
        return self.lock_datetime is not None

    @property
    def uses_left(self) -> int | None:
        """How many stamped uses remain (None: no limit but the expiry)."""
        if self.max_uses is None:
            return None
        return 0 if self.usage_datetime is not None else max(self.max_uses - self.uses, 0)

    @property
    def status(self) -> str:
        """One of "used", "revoked", "locked", "expired" and "valid"."""
        return status_of(self)

    @status.setter
    def status(self, value: str) -> None:
        # ``TicketQuerySet.with_status()`` annotates "status" and Django sets it on
        # each instance; the fields already say the same, and stay right after
        # ``use()`` or ``revoke()``, so the annotated copy is not kept.
        pass

    def is_valid(self) -> bool:
        """Return True if the ticket is neither used up, revoked, locked nor expired."""
        return not (self.used or self.expired or self.revoked or self.locked)

    def is_appropriate(self, place: str, purpose: str) -> bool:
        """Tell whether the ticket grants ``purpose`` at ``place``.

        >>> Ticket(place='library', purpose='read').is_appropriate('library', 'read')
        True
        >>> Ticket(place='library', purpose='read').is_appropriate('library', 'shout')
        False
        """
        return (place, purpose) == (self.place, self.purpose)

    # Transitions -----------------------------------------------------------

    def use(self, *, request: HttpRequest | None = None) -> None:
        """Take one use of the ticket, atomically: at most ``max_uses`` callers succeed.

        A conditional UPDATE claims the row; the loser of a race gets the
        matching exception. The last use marks the ticket used. The stamp cache
        and ``ticket_used`` follow the commit.
        """
        claims.use(self, request=request)

    def revoke(self, *, request: HttpRequest | None = None) -> bool:
        """Stamp the ticket as revoked. Returns False if it was already used or revoked.

        A ticket whose use is in flight counts as used, but gets its
        revocation recorded all the same: if that use then fails, the ticket
        stays revoked instead of becoming valid again.
        """
        return revocation.revoke_ticket(self, request=request)

    # Re-issue (appended; the admin's "re-issue" button and action) ---------------

    def reissue(self, *, request: HttpRequest | None = None) -> tuple[Ticket, str]:
        """Revoke this ticket and issue a fresh one for the same place, purpose and data.

        The new ticket lives as long as this one was meant to (its expiry minus
        its creation), counted from now; a ticket without expiry gets none.
        Returns the new ticket and its token. A used ticket is not re-issued
        (``TicketUsedError``): its action was done.
        """
        using = router.db_for_write(Ticket, instance=self)
        with transaction.atomic(using=using):
            # Lock the row: a concurrent use() either happened (refused here) or waits.
            current = Ticket.objects.using(using).select_for_update().get(pk=self.pk)
            if current.usage_datetime is not None:
                raise TicketUsedError("A used ticket is not re-issued.", genuine=True)
            lifetime = None
            if current.expiry_datetime is not None:
                lifetime = max(
                    current.expiry_datetime - current.creation_datetime, timedelta(seconds=1)
                )
            if current.revocation_datetime is None:
                current.revoke(request=request)
            self.revocation_datetime = current.revocation_datetime
            return Ticket.objects.db_manager(using).issue(
                current.place,
                current.purpose,
                data=copy.deepcopy(current.data),
                lifetime=lifetime,
                max_uses=current.max_uses,
                max_attempts=current.max_attempts,
            )

    def unlock(self) -> bool:
        """Unlock the ticket and reset its failure count. Returns False if it was not locked."""
        rows = Ticket._base_manager.using(router.db_for_write(Ticket, instance=self)).filter(
            pk=self.pk
        )
        unlocked = rows.filter(lock_datetime__isnull=False).update(
            lock_datetime=None, failed_attempts=0
        )
        if not unlocked:
            rows.update(failed_attempts=0)
        self.lock_datetime, self.failed_attempts = None, 0
        attempts.forget([self])
        return bool(unlocked)
