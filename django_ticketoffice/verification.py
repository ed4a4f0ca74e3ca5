"""The verification pipeline: one path for every credential, cheapest check first.

1. signature (tokens only), signed expiry and place/purpose: pure CPU, no I/O;
2. the stamp store (tokens and session tickets): one cache round trip,
   refuses used and revoked tickets;
3. the database: one SELECT by uuid, on the primary;
4. the hash of the secret.

Only the database may accept a ticket; the cache may only refuse one.

0.2's ``uuid`` + ``password`` credentials and short codes skip the cache:
their state is told only to the holder of the secret, so the SELECT and the
check run anyway. Both can be guessed, so their failures are counted per
ticket, and too many lock it (:mod:`django_ticketoffice.attempts`); a guess
at a locked ticket gets the same answer as any wrong guess. Every failed
password check costs one run of Django's default password hasher, as
:class:`django.contrib.auth.backends.ModelBackend` does for unknown users, so
that timing does not tell which uuids exist, nor which tickets are locked.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

from django.apps import apps
from django.db import router

from . import attempts, codes, hashers, statements
from .exceptions import CredentialsError, NoTicketError
from .stamps import get_store, write_back
from .states import refusal_for, refusal_for_state
from .tokens import Credentials, read_token

# Longer values are garbage; refuse them before any hashing.
MAX_PASSWORD_LENGTH = 1024
MAX_UUID_LENGTH = 64


def ticket_model() -> Any:
    """The Ticket model, looked up in the app registry (models.py builds on this module)."""
    return apps.get_model("django_ticketoffice", "Ticket")


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


def check_stamps(ticket_uuid: uuid_module.UUID) -> None:
    """Refuse a ticket that the stamp store knows as used or revoked."""
    state = get_store().lookup(ticket_uuid)
    if state is not None:
        error = refusal_for_state(state, ticket_uuid)
        if error is not None:
            raise error


def ticket_by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    """The lookup of a ticket by uuid (precompiled by :mod:`.statements`)."""
    # [:1] rather than first(): no ORDER BY on a unique lookup.
    return model._default_manager.filter(uuid=inputs["uuid"])[:1]


def fetch_ticket(ticket_uuid: uuid_module.UUID, place: str, purpose: str) -> Any:
    """Load a ticket by uuid (one SELECT, on the primary) and check that it belongs here."""
    model = ticket_model()
    # The primary, not a replica: the database decides with its freshest state.
    alias = router.db_for_write(model)
    ticket = statements.select_first(model, ticket_by_uuid, alias, {"uuid": ticket_uuid})
    if ticket is None or not ticket.is_appropriate(place, purpose):
        raise CredentialsError("No ticket matches these credentials.")
    return ticket


def _refuse_if_not_valid(ticket: Any) -> None:
    error = refusal_for(ticket)
    if error is not None:
        write_back(ticket, error)
        raise error


def _verify_signed(credentials: Credentials, place: str, purpose: str) -> Any:
    check_stamps(credentials.uuid)
    ticket = fetch_ticket(credentials.uuid, place, purpose)
    _refuse_if_not_valid(ticket)
    if not ticket.check_password(credentials.secret):
        raise CredentialsError("No ticket matches these credentials.")
    return ticket


def _no_match() -> CredentialsError:
    return CredentialsError("No ticket matches these credentials.")


def _verify_password(credentials: Credentials, place: str, purpose: str) -> Any:
    secret = credentials.secret
    try:
        ticket = fetch_ticket(credentials.uuid, place, purpose)
    except CredentialsError:
        hashers.spend_like_a_check(secret)
        raise
    if ticket.lock_datetime is not None:
        hashers.spend_like_a_check(secret)
        raise _no_match()
    if hashers.is_fast(ticket.password):
        # A generated secret cannot be guessed: count failures only, after the check.
        if not ticket.check_password(secret):
            attempts.count_failure(ticket, attempts.PASSWORD)
            hashers.spend_like_a_check(secret)
            raise _no_match()
    else:
        attempt = attempts.Attempt(ticket, attempts.PASSWORD)
        if not attempt.reserve():
            hashers.spend_like_a_check(secret)
            raise _no_match()
        if not ticket.check_password(secret):  # the hasher runs once
            attempt.failed()
            raise _no_match()
        attempt.succeeded()
    # 0.2 reveals "used" or "expired" only to the holder of the password.
    _refuse_if_not_valid(ticket)
    return ticket


def verify(credentials: Credentials, place: str = "", purpose: str = "") -> Any:
    """Carry checked-format credentials through the stamp, database and hash checks."""
    if credentials.signed:
        return _verify_signed(credentials, place, purpose)
    return _verify_password(credentials, place, purpose)


def verify_token(token: Any, place: str = "", purpose: str = "") -> Any:
    """Return the valid ticket behind a signed token, or raise a TicketError."""
    return verify(read_token(token, place, purpose), place, purpose)


def verify_password(uuid: Any, password: Any, place: str = "", purpose: str = "") -> Any:
    """Return the valid ticket behind 0.2's uuid + password, or raise a TicketError."""
    return verify(password_credentials(uuid, password), place, purpose)


def verify_code(uuid: Any, code: Any, place: str = "", purpose: str = "") -> Any:
    """Return the valid ticket whose short code is ``code``, or raise a TicketError.

    Every wrong code counts against the ticket; past its limit the ticket is
    locked, and every answer about it reads like a wrong code.
    """
    ticket_uuid = parse_uuid(uuid)
    clean = codes.clean_code(code)
    ticket = fetch_ticket(ticket_uuid, place, purpose)
    if ticket.lock_datetime is not None or not ticket.code_hash:
        raise _no_match()
    attempt = attempts.Attempt(ticket, attempts.CODE)
    if not attempt.reserve():
        raise _no_match()
    if not codes.check_code(ticket.uuid, clean, ticket.code_hash):
        attempt.failed()
        raise _no_match()
    attempt.succeeded()
    _refuse_if_not_valid(ticket)
    return ticket


def verify_session(ticket_uuid: Any, place: str = "", purpose: str = "") -> Any:
    """Re-check a ticket whose secret was verified earlier in this session."""
    parsed = parse_uuid(ticket_uuid)
    check_stamps(parsed)
    ticket = fetch_ticket(parsed, place, purpose)
    _refuse_if_not_valid(ticket)
    return ticket
