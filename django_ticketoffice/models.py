"""The ticket model: the source of truth for every one-shot credential."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from typing import ClassVar

from django.contrib.auth.hashers import make_password
from django.db import models, router, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import attempts, claims, codes, hashers, revocation
from .conf import app_settings
from .exceptions import TicketUsedError
from .managers import TicketManager, TicketQuerySet, check_limits
from .states import (
    STATUS_EXPIRED,
    STATUS_LOCKED,
    STATUS_REVOKED,
    STATUS_USED,
    STATUS_VALID,
    refusal_for,
    status_of,
)
from .utils import import_member

__all__ = [
    "STATUS_EXPIRED",
    "STATUS_LOCKED",
    "STATUS_REVOKED",
    "STATUS_USED",
    "STATUS_VALID",
    "Ticket",
    "TicketManager",
    "TicketQuerySet",
    "check_limits",
    "refusal_for",
]


def unusable_password() -> str:
    """Default secret of a ticket: nothing authenticates against it."""
    return make_password(None)


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

    objects: ClassVar[TicketManager[Ticket]] = TicketManager()

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
