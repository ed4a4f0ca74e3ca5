"""Tickets behind Django's own password-reset views: :class:`TicketTokenGenerator`.

Give it to the views as their ``token_generator``::

    generator = TicketTokenGenerator()
    path("password_reset/", PasswordResetView.as_view(token_generator=generator), ...)
    path(
        "reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(token_generator=generator),
        ...
    )

``make_token(user)`` issues a ticket for the user (revoking the user's older
reset tickets) that expires after ``PASSWORD_RESET_TIMEOUT``; the token is a
signed ticket token, URL-safe and accepted by Django's ``<token>`` URL
pattern. ``check_token(user, token)`` verifies it, as Django calls it on every
GET and POST of the confirmation view. The ticket is used when the new
password is saved: at that moment one conditional UPDATE claims it, so two
concurrent submissions cannot both set a password (the second gets a 403).
A link is also refused once the user's password, email or last login
changed, as with Django's own tokens, so a link stays dead even if the new
password is changed back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.db.models.signals import pre_save
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from ..exceptions import TicketError
from ..models import Ticket
from ..signals import send_refused
from ..verification import verify_token

__all__ = ["PasswordResetRefused", "TicketTokenGenerator"]

# Where check_token() leaves the verified ticket on the user instance that the
# confirmation view then gives to its form: the password change consumes it.
PENDING_ATTRIBUTE = "_ticketoffice_reset_ticket"


class PasswordResetRefused(PermissionDenied):
    """The reset ticket was used (or revoked) while the form was submitted: Django answers 403."""

    def __init__(self, error: TicketError) -> None:
        super().__init__(error.message)
        self.error = error


class TicketTokenGenerator:
    """A ``token_generator`` for ``PasswordResetView``, ``PasswordResetConfirmView`` and
    ``PasswordResetForm.save()`` whose links are tickets.
    """

    place = "auth"
    purpose = "password-reset"
    key_salt = "django_ticketoffice.contrib.auth.TicketTokenGenerator"

    def __init__(self, place: str | None = None, purpose: str | None = None) -> None:
        if place is not None:
            self.place = place
        if purpose is not None:
            self.purpose = purpose

    # Tokens ------------------------------------------------------------------

    def make_token(self, user: Any) -> str:
        """Issue a reset ticket for ``user``, revoking the older ones, and return its token."""
        lifetime = timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
        user_key = str(user.pk)
        alias = router.db_for_write(Ticket)
        user_model = type(user)
        with transaction.atomic(using=alias):
            if router.db_for_write(user_model, instance=user) == alias:
                # One issue at a time per user (a row lock on the user), so that
                # two concurrent requests cannot both leave a valid link.
                list(
                    user_model._default_manager.using(alias)
                    .select_for_update()
                    .filter(pk=user.pk)
                    .values_list("pk", flat=True)
                )
            self.tickets_of(user).valid().revoke()
            _ticket, token = Ticket.objects.issue(
                self.place,
                self.purpose,
                data={"user": user_key, "state": self._state(user, settings.SECRET_KEY)},
                lifetime=lifetime,
            )
        return token

    def check_token(self, user: Any, token: Any) -> bool:
        """Tell whether ``token`` is a valid reset link for ``user``, and mark it pending.

        The ticket is consumed only when the user's new password is saved.
        """
        if not (user and token) or not isinstance(token, str):
            return False
        try:
            ticket = verify_token(token, self.place, self.purpose)
        except TicketError as error:
            send_refused(error, place=self.place, purpose=self.purpose)
            return False
        data = ticket.data if isinstance(ticket.data, dict) else {}
        if data.get("user") != str(user.pk) or not self._state_matches(user, data.get("state")):
            return False
        # A PASSWORD_RESET_TIMEOUT lowered since the link was sent applies too.
        timeout = timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
        if ticket.creation_datetime + timeout < timezone.now():
            return False
        user.__dict__[PENDING_ATTRIBUTE] = ticket
        _watch(type(user))
        return True

    def tickets_of(self, user: Any) -> Any:
        """The reset tickets issued for ``user`` by this generator's place and purpose."""
        return Ticket.objects.filter(
            place=self.place, purpose=self.purpose, data__user=str(user.pk)
        )

    # The user's state when the link was sent ------------------------------------

    def _state(self, user: Any, secret: str) -> str:
        """A keyed digest of what a reset changes: the password hash, last login, email."""
        last_login = user.last_login
        login = "" if last_login is None else last_login.replace(microsecond=0, tzinfo=None)
        email = getattr(user, user.get_email_field_name(), "") or ""
        value = f"{user.pk}\x00{user.password}\x00{login}\x00{email}"
        return salted_hmac(self.key_salt, value, secret=secret, algorithm="sha256").hexdigest()[:32]

    def _state_matches(self, user: Any, state: Any) -> bool:
        if not isinstance(state, str):
            return False
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        return any(constant_time_compare(self._state(user, key), state) for key in secrets)


_watched: set[type] = set()


def _watch(user_model: type) -> None:
    """Connect the receiver that consumes reset tickets, once per user model."""
    if user_model not in _watched:
        pre_save.connect(_use_on_password_change, sender=user_model, dispatch_uid=PENDING_ATTRIBUTE)
        _watched.add(user_model)


def _use_on_password_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Consume the reset ticket of a user whose new password is being saved."""
    ticket = instance.__dict__.get(PENDING_ATTRIBUTE)
    if ticket is None or getattr(instance, "_password", None) is None:
        return  # not a reset, or this save does not change the password
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "password" not in update_fields:
        return
    del instance.__dict__[PENDING_ATTRIBUTE]
    try:
        ticket.use()  # one conditional UPDATE: a concurrent submission loses here
    except TicketError as error:
        send_refused(error, place=ticket.place, purpose=ticket.purpose, ticket_uuid=ticket.uuid)
        raise PasswordResetRefused(error) from None
