"""Property-based tests: random credentials only ever meet the library's exceptions.

Every entry point either returns a ticket or raises a TicketError; over HTTP,
every request is answered 401 or 403 (the test client re-raises any exception
a view lets through, so a would-be 500 fails the test).
"""

from __future__ import annotations

from urllib.parse import quote, quote_from_bytes

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_ticketoffice.exceptions import TicketError
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token
from django_ticketoffice.verification import verify_password, verify_session, verify_token

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text including lone surrogates, which Python strings allow and UTF-8 refuses.
any_text = st.text(st.characters(exclude_categories=()), max_size=300)
web_text = st.text(max_size=300)
anything = st.one_of(
    any_text,
    st.binary(max_size=300),
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.uuids(),
    st.lists(st.text(max_size=10), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
token_alphabet = st.sampled_from(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=%+/ é"
)


@pytest.fixture
def ticket_and_token():
    return Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})


def mutate(token: str, data) -> str:
    """A token with a few random edits: the hardest inputs are the near misses."""
    chars = list(token)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, max(0, len(chars) - 1)))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        if action == "delete" and chars:
            del chars[index]
        elif action == "insert":
            chars.insert(index, data.draw(token_alphabet))
        elif chars:
            chars[index] = data.draw(token_alphabet)
    return "".join(chars)


# Python API ---------------------------------------------------------------------------


@FUZZ
@given(value=anything, place=st.sampled_from(["louvre", "", "orsay"]))
@example(value="", place="louvre")
@example(value="\ud800", place="louvre")
def test_read_token_raises_only_ticket_errors(value, place):
    with pytest.raises(TicketError):
        read_token(value, place, "visit")


@FUZZ
@given(data=st.data())
def test_mutated_tokens_are_refused(ticket_and_token, data):
    _ticket, token = ticket_and_token
    mutated = mutate(token, data)
    if mutated == token:
        return
    with pytest.raises(TicketError):
        verify_token(mutated, "louvre", "visit")


@FUZZ
@given(uuid=anything, password=anything)
@example(uuid="", password="")
@example(uuid=None, password="\ud800")
def test_verify_password_raises_only_ticket_errors(uuid, password):
    with pytest.raises(TicketError):
        verify_password(uuid, password, "louvre", "visit")
    with pytest.raises(TicketError):
        Ticket.objects.authenticate(uuid, password, "louvre", "visit")


@FUZZ
@given(password=anything)
@example(password="\udfff")
def test_random_password_for_a_real_uuid(ticket_and_token, password):
    ticket, _ = ticket_and_token
    for uuid in (ticket.uuid, str(ticket.uuid), ticket.uuid.hex):
        with pytest.raises(TicketError):
            verify_password(uuid, password, "louvre", "visit")


@FUZZ
@given(value=anything)
def test_verify_session_raises_only_ticket_errors(value):
    with pytest.raises(TicketError):
        verify_session(value, "louvre", "visit")


# HTTP -----------------------------------------------------------------------------------


def query_value(value) -> str:
    if isinstance(value, bytes):
        return quote_from_bytes(value)  # possibly invalid UTF-8
    return quote(value)


http_value = st.one_of(web_text, st.binary(max_size=300))
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"])


@FUZZ
@given(
    ticket=st.one_of(st.none(), http_value),
    uuid=st.one_of(st.none(), http_value),
    password=st.one_of(st.none(), http_value),
    extra=st.one_of(st.none(), web_text),
    method=methods,
)
@example(ticket=None, uuid=b"\xff" * 32, password=b"\xc3", extra=None, method="GET")
def test_random_query_strings_never_500(ticket, uuid, password, extra, method):
    params = {"ticket": ticket, "uuid": uuid, "password": password, "page": extra}
    query = "&".join(f"{name}={query_value(v)}" for name, v in params.items() if v is not None)
    client = Client()
    for path in ("/peek/", "/louvre/", "/confirm/", "/async/"):
        response = client.generic(method, path, QUERY_STRING=query)
        if ticket is None and uuid is None and password is None:
            assert response.status_code == 401
        else:
            assert response.status_code in (401, 403)
        assert response["Cache-Control"].count("no-store") == 1


@FUZZ
@given(data=st.data(), method=methods)
def test_mutated_token_links_never_500(ticket_and_token, data, method):
    ticket, token = ticket_and_token
    mutated = mutate(token, data)
    if mutated == token:
        return
    response = Client().generic(method, "/louvre/", QUERY_STRING=f"ticket={quote(mutated)}")
    assert response.status_code == 403
    assert not Ticket.objects.get(pk=ticket.pk).used


@FUZZ
@given(password=http_value, method=methods)
def test_random_password_for_a_real_ticket_never_500(ticket_and_token, password, method):
    ticket, _ = ticket_and_token
    query = f"uuid={ticket.uuid.hex}&password={query_value(password)}"
    response = Client().generic(method, "/louvre/", QUERY_STRING=query)
    assert response.status_code in (401, 403)
    assert not Ticket.objects.get(pk=ticket.pk).used
