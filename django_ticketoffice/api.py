"""Shortcuts kept from 0.2: ``from django_ticketoffice.api import ...``."""

from __future__ import annotations

from .decorators import invitation_required, stamp_invitation
from .exceptions import (
    CredentialsError,
    NoTicketError,
    TicketError,
    TicketExpiredError,
    TicketRevokedError,
    TicketUsedError,
)
from .links import ticket_url
from .models import Ticket
from .tokens import make_token, read_token

__all__ = [
    "CredentialsError",
    "NoTicketError",
    "Ticket",
    "TicketError",
    "TicketExpiredError",
    "TicketRevokedError",
    "TicketUsedError",
    "invitation_required",
    "make_token",
    "read_token",
    "stamp_invitation",
    "ticket_url",
]
