"""Tickets presented in the ``Authorization`` header, for the API integrations.

What the Django REST framework and Django Ninja integrations share, without
importing either: reading ``Authorization: Ticket <token>``, verifying the
token with the signals the decorators send, and the refusal an API answers.

An API answers refusals in two ways. A credential that is not ours (missing,
malformed, forged, for another place, or for a ticket that does not exist)
gets 401 and the code ``invalid`` or ``missing``: it says nothing about which
tickets exist. A credential whose signature proves we issued it, but whose
ticket is used, revoked or expired, gets 403 and that reason, as the refusal
pages do for genuine links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from ..claims import Claim
from ..exceptions import (
    CredentialsError,
    NoTicketError,
    TicketError,
    TicketServiceUnavailable,
)
from ..signals import send_refused, ticket_admitted
from ..tokens import MAX_TOKEN_LENGTH, read_token
from ..verification import verify

DEFAULT_KEYWORD = "Ticket"
DEFAULT_REALM = "api"
INVALID_MESSAGE = "Invalid ticket."
MISSING_MESSAGE = "A ticket is required in the Authorization header."


@dataclass(frozen=True)
class Refusal:
    """What an API answers for a refused ticket: status, message and stable code."""

    status_code: int
    detail: str
    code: str

    def as_dict(self) -> dict[str, str]:
        """The JSON body: ``{"detail": ..., "code": ...}``."""
        return {"detail": self.detail, "code": self.code}


class ApiClaim(Claim):
    """A claim that an API call settles only on a 2xx response.

    A redirect or a ``304 Not Modified`` did not perform the call's action,
    so they undo the claim as an error does (a browser view settles on any
    status below 400).
    """

    def conclude(self, status_code: int) -> None:
        """Settle on 2xx, undo otherwise."""
        if 200 <= status_code < 300:
            self.settle()
        else:
            self.undo()


def refusal_for_error(error: TicketError) -> Refusal:
    """Map a refusal to what an API may say about it, without an existence oracle."""
    if isinstance(error, TicketServiceUnavailable):
        return Refusal(503, error.message, error.reason)
    if isinstance(error, NoTicketError):
        return Refusal(401, MISSING_MESSAGE, error.reason)
    if error.genuine and error.status_code == 403:
        return Refusal(403, error.message, error.reason)
    return Refusal(401, INVALID_MESSAGE, CredentialsError.reason)


def www_authenticate(keyword: str = DEFAULT_KEYWORD, realm: str = DEFAULT_REALM) -> str:
    """The ``WWW-Authenticate`` value of a 401: ``Ticket realm="api"``."""
    return f'{keyword} realm="{realm}"'


def token_from_header(value: str | bytes | None, keyword: str = DEFAULT_KEYWORD) -> str | None:
    """Return the token of ``<keyword> <token>``; None when the header is another scheme.

    The scheme is case-insensitive (RFC 9110). Raises :class:`CredentialsError`
    when the scheme is ours but the rest is not one token.
    """
    if not value:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != keyword.lower():
        return None
    token = rest.strip()
    if not token or " " in token or len(token) > MAX_TOKEN_LENGTH:
        raise CredentialsError("Malformed Authorization header.")
    return token


def refused(
    request: HttpRequest | None,
    error: TicketError,
    place: str,
    purpose: str,
    ticket_uuid: Any = None,
) -> Refusal:
    """Send ``ticket_refused`` for ``error`` and return what the API answers."""
    send_refused(error, place=place, purpose=purpose, request=request, ticket_uuid=ticket_uuid)
    return refusal_for_error(error)


def admit_token(request: HttpRequest | None, token: str, place: str, purpose: str) -> Any:
    """Verify ``token`` for ``place`` and ``purpose``, sending ``ticket_admitted``.

    Raises a :class:`TicketError`; the caller answers it (see :func:`refused`).
    """
    credentials = read_token(token, place, purpose)
    try:
        ticket = verify(credentials, place, purpose)
    except TicketError as error:
        # The signature was ours: name the ticket, as the decorators do.
        error.ticket_uuid = error.ticket_uuid or credentials.uuid
        raise
    ticket_admitted.send(sender=type(ticket), ticket=ticket, request=request)
    return ticket
