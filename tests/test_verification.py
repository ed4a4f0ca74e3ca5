"""The verification pipeline: typed refusals for every input, cheapest check first."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from django_ticketoffice.exceptions import (
    CredentialsError,
    NoTicketError,
    TicketError,
    TicketExpiredError,
    TicketRevokedError,
    TicketUsedError,
)
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import make_token
from django_ticketoffice.verification import (
    parse_uuid,
    password_credentials,
    verify_password,
    verify_session,
    verify_token,
)

pytestmark = pytest.mark.django_db

PASSWORD = "I love Paris"


@pytest.fixture
def chosen():
    """A 0.2-style ticket with a password chosen by a person."""
    ticket = Ticket(place="louvre", purpose="visit")
    ticket.set_password(PASSWORD)
    ticket.save()
    return ticket


@pytest.fixture
def issued():
    return Ticket.objects.issue("louvre", "visit", lifetime=timedelta(days=1))


BAD_UUIDS = [
    "",
    "foo",
    "x" * 36,
    "1234",
    "12345678-1234-1234-1234-1234567890123",
    "é" * 32,
    "\u0660" * 32,  # Arabic-Indic digits: int() accepts them, a uuid must not
    "\x00" * 32,
    "\ud800" * 32,
    "a" * 65,
    "a" * 10_000,
    42,
    4.2,
    b"bytes",
    ["list"],
    {"dict": 1},
    object(),
]


# parse_uuid / password_credentials ------------------------------------------------


def test_parse_uuid_accepts_0_2_forms():
    value = uuid.uuid4()
    for form in (value, str(value), value.hex, str(value).upper(), value.hex.upper()):
        assert parse_uuid(form) == value


@pytest.mark.parametrize("value", BAD_UUIDS, ids=repr)
def test_parse_uuid_refuses(value):
    with pytest.raises(CredentialsError):
        parse_uuid(value)


def test_password_credentials():
    value = uuid.uuid4()
    credentials = password_credentials(value.hex, PASSWORD)
    assert credentials.uuid == value
    assert credentials.secret == PASSWORD
    assert credentials.signed is False
    with pytest.raises(NoTicketError):
        password_credentials(None, None)
    with pytest.raises(NoTicketError):
        password_credentials("", "")
    for password in ("", None, 42, ["x"], "x" * 1025):
        with pytest.raises(CredentialsError):
            password_credentials(value, password)


# verify_password (0.2 credentials) --------------------------------------------------


def test_verify_password(chosen, django_assert_num_queries):
    for form in (chosen.uuid, str(chosen.uuid), chosen.uuid.hex, str(chosen.uuid).upper()):
        with django_assert_num_queries(1):
            assert verify_password(form, PASSWORD, "louvre", "visit").pk == chosen.pk


@pytest.mark.parametrize("value", BAD_UUIDS, ids=repr)
def test_verify_password_bad_uuid(chosen, value, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(CredentialsError):
        verify_password(value, PASSWORD, "louvre", "visit")


@pytest.mark.parametrize(
    "password",
    ["", None, 42, ["I love Paris"], b"I love Paris", "x" * 1025, "I love Paris\x00"],
    ids=repr,
)
def test_verify_password_bad_password(chosen, password):
    with pytest.raises(CredentialsError):
        verify_password(chosen.uuid, password, "louvre", "visit")


def test_verify_password_unencodable_password(chosen, django_assert_num_queries):
    with pytest.raises(CredentialsError):
        verify_password(chosen.uuid, "\ud800", "louvre", "visit")
    _, _token = Ticket.objects.issue("louvre", "visit")
    ticket = Ticket.objects.latest("pk")
    with pytest.raises(CredentialsError):
        verify_password(ticket.uuid, "\udfff", "louvre", "visit")


def test_verify_password_refusal_query_counts(chosen, django_assert_num_queries):
    with django_assert_num_queries(1), pytest.raises(CredentialsError):
        verify_password(uuid.uuid4(), PASSWORD, "louvre", "visit")
    with django_assert_num_queries(1), pytest.raises(CredentialsError):
        verify_password(chosen.uuid, "wrong", "louvre", "visit")
    with django_assert_num_queries(1), pytest.raises(CredentialsError):
        verify_password(chosen.uuid, PASSWORD, "orsay", "visit")


def test_verify_password_states(chosen):
    Ticket.objects.filter(pk=chosen.pk).update(
        expiry_datetime=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(TicketExpiredError):
        verify_password(chosen.uuid, PASSWORD, "louvre", "visit")
    with pytest.raises(CredentialsError):
        verify_password(chosen.uuid, "wrong", "louvre", "visit")


# verify_token ----------------------------------------------------------------------------


def test_verify_token(issued, django_assert_num_queries):
    ticket, token = issued
    with django_assert_num_queries(1):
        assert verify_token(token, "louvre", "visit").pk == ticket.pk


def test_verify_token_refusals_cost_no_query(issued, django_assert_num_queries):
    _ticket, token = issued
    _expired, expired_token = Ticket.objects.issue(
        "louvre", "visit", expiry_datetime=timezone.now() - timedelta(minutes=1)
    )
    forged = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    cases = [
        (forged, "louvre", "visit", CredentialsError),
        (token[:50], "louvre", "visit", CredentialsError),
        (token, "orsay", "visit", CredentialsError),
        (token, "louvre", "work", CredentialsError),
        (expired_token, "louvre", "visit", TicketExpiredError),
        ("", "louvre", "visit", CredentialsError),
        ("é" * 94, "louvre", "visit", CredentialsError),
        ("A" * 5000, "louvre", "visit", CredentialsError),
        (None, "louvre", "visit", CredentialsError),
    ]
    for value, place, purpose, error in cases:
        with django_assert_num_queries(0), pytest.raises(error):
            verify_token(value, place, purpose)


def test_verify_token_unknown_uuid_costs_one_query(django_assert_num_queries):
    ticket = Ticket(place="louvre", purpose="visit")
    token = make_token(ticket, ticket.generate_password())  # never saved
    with django_assert_num_queries(1), pytest.raises(CredentialsError):
        verify_token(token, "louvre", "visit")


def test_verify_token_after_password_change(issued):
    ticket, token = issued
    ticket.generate_password()
    ticket.save()
    with pytest.raises(CredentialsError):
        verify_token(token, "louvre", "visit")


def test_verify_token_of_moved_ticket(issued):
    ticket, token = issued
    Ticket.objects.filter(pk=ticket.pk).update(place="orsay")
    with pytest.raises(CredentialsError):
        verify_token(token, "louvre", "visit")


@pytest.mark.parametrize(
    ("state", "error"),
    [("used", TicketUsedError), ("revoked", TicketRevokedError)],
)
def test_verify_token_states(
    issued, state, error, stamp_cache, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ticket, token = issued
    with django_capture_on_commit_callbacks(execute=True):
        ticket.use() if state == "used" else ticket.revoke()
    # The stamp cache knows after the commit: refused without a query.
    with django_assert_num_queries(0), pytest.raises(error) as raised:
        verify_token(token, "louvre", "visit")
    assert raised.value.genuine


@pytest.mark.parametrize("state", ["used", "revoked"])
def test_verify_token_cold_cache(
    issued, state, stamp_cache, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ticket, token = issued
    column = "usage_datetime" if state == "used" else "revocation_datetime"
    Ticket.objects.filter(pk=ticket.pk).update(**{column: timezone.now()})
    # The cache does not know (evicted): the database decides, and warms the
    # cache once its transaction commits.
    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_num_queries(1),
        pytest.raises(TicketError) as raised,
    ):
        verify_token(token, "louvre", "visit")
    assert raised.value.reason == state
    with django_assert_num_queries(0), pytest.raises(TicketError) as raised:
        verify_token(token, "louvre", "visit")
    assert raised.value.reason == state


def test_verify_token_expired_in_database(issued):
    ticket, token = issued
    # The database may shorten a ticket's life below its signed expiry.
    Ticket.objects.filter(pk=ticket.pk).update(
        expiry_datetime=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(TicketExpiredError):
        verify_token(token, "louvre", "visit")


# verify_session -------------------------------------------------------------------------


def test_verify_session(issued, django_assert_num_queries):
    ticket, _ = issued
    with django_assert_num_queries(1):
        assert verify_session(str(ticket.uuid), "louvre", "visit").pk == ticket.pk
    with pytest.raises(CredentialsError):
        verify_session(str(ticket.uuid), "orsay", "visit")
    with pytest.raises(CredentialsError):
        verify_session("garbage", "louvre", "visit")
    ticket.use()
    with pytest.raises(TicketUsedError):
        verify_session(str(ticket.uuid), "louvre", "visit")


@pytest.mark.parametrize("value", BAD_UUIDS, ids=repr)
def test_verify_session_bad_values(value):
    with pytest.raises(TicketError):
        verify_session(value, "louvre", "visit")


# Every entry point, every bad input: a TicketError, never anything else --------------


@pytest.mark.parametrize("value", [*BAD_UUIDS, None, "I love Paris\n"], ids=repr)
def test_entry_points_only_raise_ticket_errors(chosen, value):
    calls = [
        lambda: verify_token(value, "louvre", "visit"),
        lambda: verify_password(value, PASSWORD, "louvre", "visit"),
        lambda: verify_password(chosen.uuid, value, "louvre", "visit"),
        lambda: verify_password(value, value, "louvre", "visit"),
        lambda: verify_session(value, "louvre", "visit"),
        lambda: Ticket.objects.authenticate(value, value, "louvre", "visit"),
    ]
    for call in calls:
        with pytest.raises(TicketError) as raised:
            call()
        assert raised.value.message
        assert raised.value.status_code in (401, 403)


class ReplicaRouter:
    """Reads go to a "replica" alias that does not exist; writes to default."""

    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"


def test_verification_reads_the_primary_not_a_replica(settings):
    ticket, token = Ticket.objects.issue("louvre", "visit")
    settings.DATABASE_ROUTERS = ["tests.test_verification.ReplicaRouter"]
    # Reading from the replica would raise ConnectionDoesNotExist.
    assert verify_token(token, "louvre", "visit") == ticket
    ticket.use()
    with pytest.raises(TicketUsedError):
        ticket.use()
