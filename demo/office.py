"""How the museum issues its tickets. Used by the views and by ``python -m demo``."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket

INVITATION_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=1)


def issue_invitation(first_name: str) -> str:
    """Issue a one-shot invitation to visit the museum and return its one-link URL."""
    _ticket, token = Ticket.objects.issue(
        "museum", "visit", data={"first_name": first_name}, lifetime=INVITATION_LIFETIME
    )
    return ticket_url("visit", token)


def issue_password_reset(user: AbstractBaseUser) -> str:
    """Issue a password-reset ticket for ``user`` and return its one-link URL.

    Older reset links of the same account are revoked, so only the newest works.
    """
    with transaction.atomic():
        Ticket.objects.filter(
            place="accounts", purpose="password-reset", data__user_id=user.pk
        ).valid().revoke()
        _ticket, token = Ticket.objects.issue(
            "accounts", "password-reset", data={"user_id": user.pk}, lifetime=RESET_LIFETIME
        )
    return ticket_url("password-reset-confirm", token)
