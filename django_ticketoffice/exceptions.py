"""Exceptions raised when a ticket is refused.

All derive from :class:`TicketError`, so ``except TicketError`` catches every
refusal. ``reason`` is a stable code for templates and signals; ``genuine``
tells whether the credential was proven to come from us (a valid signature or
password), in which case the exact reason may be shown to the visitor.
"""

from __future__ import annotations

import uuid


class TicketError(Exception):
    """Base class of every refusal."""

    reason = "invalid"
    status_code = 403
    default_message = "The ticket was refused."
    # The place and purpose of the view that refused it, set before the refusal
    # handler runs (refusal pages offer a "request a new link" URL per place).
    place: str | None = None
    purpose: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        genuine: bool = False,
        ticket_uuid: uuid.UUID | bytes | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.genuine = genuine
        self._ticket_uuid = ticket_uuid
        super().__init__(self.message)

    @property
    def ticket_uuid(self) -> uuid.UUID | None:
        """The ticket the refusal is about, when known (never a secret)."""
        value = self._ticket_uuid
        if isinstance(value, bytes):
            # A token's 16 raw bytes: made a UUID only if someone asks (a flood
            # of expired links is refused without building one each).
            value = self._ticket_uuid = uuid.UUID(bytes=value)
        return value

    @ticket_uuid.setter
    def ticket_uuid(self, value: uuid.UUID | None) -> None:
        self._ticket_uuid = value

    @property
    def names_ticket(self) -> bool:
        """True when the refusal knows its ticket, without building its UUID."""
        return self._ticket_uuid is not None


class NoTicketError(TicketError):
    """No ticket provided."""

    reason = "missing"
    status_code = 401
    default_message = "No ticket was provided."


class CredentialsError(TicketError):
    """No ticket matches the credentials (uuid, secret, place and purpose)."""

    reason = "invalid"
    default_message = "The ticket credentials are invalid."


class TicketExpiredError(TicketError):
    """Ticket found, but expired."""

    reason = "expired"
    default_message = "The ticket has expired."


class TicketUsedError(TicketError):
    """Ticket found, but was already used."""

    reason = "used"
    default_message = "The ticket has already been used."


class TicketRevokedError(TicketError):
    """Ticket found, but was revoked."""

    reason = "revoked"
    default_message = "The ticket has been revoked."


class TicketLockedError(TicketError):
    """Ticket found, but locked after too many failed guesses of its code or password.

    Raised only to holders of a proven credential (a signed token, a session
    admitted earlier). A guess at a code or password on a locked ticket gets a
    plain :class:`CredentialsError`, so the answer tells nothing.
    """

    reason = "locked"
    default_message = "The ticket is locked after too many failed attempts."


class TicketServiceUnavailable(TicketError):
    """The stamp cache is down and TICKETOFFICE_CACHE_FAILURE is "closed"."""

    reason = "unavailable"
    status_code = 503
    default_message = "Tickets cannot be checked right now. Please try again later."


class RequestTooLongError(TicketError):
    """A valid credential in a URL too long to redirect to without it."""

    reason = "too_long"
    status_code = 400
    default_message = "The address is too long."
