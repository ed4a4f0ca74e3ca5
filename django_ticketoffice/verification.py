"""The verification pipeline: one path for every credential, cheapest check first.

1. signature (tokens only), signed expiry and place/purpose: pure CPU, no I/O;
2. the stamp store: one cache round trip, refuses used and revoked tickets;
3. the database: one SELECT by uuid;
4. the hash of the secret.

Only the database may accept a ticket; the cache may only refuse one.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

from .exceptions import (
    CredentialsError,
    NoTicketError,
    TicketError,
    TicketRevokedError,
    TicketUsedError,
)
from .models import Ticket, refusal_for, write_back
from .stamps import REVOKED, USED, get_store
from .tokens import Credentials, read_token

# Longer values are garbage; refuse them before any hashing.
MAX_PASSWORD_LENGTH = 1024
MAX_UUID_LENGTH = 64


def parse_uuid(value: Any) -> uuid_module.UUID:
    """Return ``value`` as a UUID, or raise :class:`CredentialsError`.

    Hyphenated, plain 32-hex and upper-case forms are accepted, as in 0.2.
    """
    if isinstance(value, uuid_module.UUID):
        return value
    # ASCII only: int() reads the digits of other scripts (32 Arabic-Indic zeros
    # would be the nil uuid).
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_UUID_LENGTH
        or not value.isascii()
    ):
        raise CredentialsError("Invalid ticket uuid.")
    try:
        return uuid_module.UUID(value)
    except ValueError:
        raise CredentialsError("Invalid ticket uuid.") from None


def password_credentials(uuid: Any, password: Any) -> Credentials:
    """Build credentials from 0.2's ``uuid`` + ``password`` pair, validating both."""
    if uuid in (None, "") and password in (None, ""):
        raise NoTicketError("No ticket credentials were provided.")
    ticket_uuid = parse_uuid(uuid)
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_LENGTH:
        raise CredentialsError("Invalid ticket password.")
    return Credentials(uuid=ticket_uuid, secret=password, signed=False)


def check_stamps(ticket_uuid: uuid_module.UUID, *, genuine: bool) -> None:
    """Refuse a ticket that the stamp store knows as used or revoked."""
    state = get_store().lookup(ticket_uuid)
    if state == USED:
        raise TicketUsedError("The ticket has already been used.", genuine=genuine)
    if state == REVOKED:
        raise TicketRevokedError("The ticket has been revoked.", genuine=genuine)


def fetch_ticket(ticket_uuid: uuid_module.UUID, place: str, purpose: str) -> Ticket:
    """Load a ticket by uuid (one SELECT, on the primary) and check that it belongs here."""
    # The primary, not a replica: the database decides with its freshest state.
    # [:1] rather than first(): no ORDER BY on a unique lookup.
    ticket = next(iter(Ticket.objects.primary().filter(uuid=ticket_uuid)[:1]), None)
    if ticket is None or not ticket.is_appropriate(place, purpose):
        raise CredentialsError("No ticket matches these credentials.")
    return ticket


def _refuse_from_database(ticket: Ticket, error: TicketError) -> TicketError:
    write_back(ticket, error)
    return error


def verify(credentials: Credentials, place: str = "", purpose: str = "") -> Ticket:
    """Carry checked-format credentials through the stamp, database and hash checks."""
    try:
        check_stamps(credentials.uuid, genuine=credentials.signed)
    except (TicketUsedError, TicketRevokedError) as stamped:
        if credentials.signed:
            raise
        # 0.2 reveals the state only to the holder of the password: prove it first,
        # so that the answer does not depend on whether the cache is warm.
        if not fetch_ticket(credentials.uuid, place, purpose).check_password(credentials.secret):
            raise CredentialsError("No ticket matches these credentials.") from None
        stamped.genuine = True
        raise
    ticket = fetch_ticket(credentials.uuid, place, purpose)
    error = refusal_for(ticket)
    if error is not None and credentials.signed:
        raise _refuse_from_database(ticket, error)
    if not ticket.check_password(credentials.secret):
        raise CredentialsError("No ticket matches these credentials.")
    if error is not None:
        # 0.2 reveals "used" or "expired" only to the holder of the password.
        raise _refuse_from_database(ticket, error)
    return ticket


def verify_token(token: Any, place: str = "", purpose: str = "") -> Ticket:
    """Return the valid ticket behind a signed token, or raise a TicketError."""
    return verify(read_token(token, place, purpose), place, purpose)


def verify_password(uuid: Any, password: Any, place: str = "", purpose: str = "") -> Ticket:
    """Return the valid ticket behind 0.2's uuid + password, or raise a TicketError."""
    return verify(password_credentials(uuid, password), place, purpose)


def verify_session(ticket_uuid: Any, place: str = "", purpose: str = "") -> Ticket:
    """Re-check a ticket whose secret was verified earlier in this session."""
    parsed = parse_uuid(ticket_uuid)
    check_stamps(parsed, genuine=True)
    ticket = fetch_ticket(parsed, place, purpose)
    error = refusal_for(ticket)
    if error is not None:
        raise _refuse_from_database(ticket, error)
    return ticket
