"""Short codes beside the link (issue 12): one ticket, two credentials, bound to a session."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.test import Client
from django.utils.log import AdminEmailHandler

from django_ticketoffice import codes
from django_ticketoffice.code_views import pending_key
from django_ticketoffice.decorators import session_key
from django_ticketoffice.exceptions import CredentialsError, TicketUsedError
from django_ticketoffice.models import Ticket
from tests import views
from tests.models import Visit

pytestmark = pytest.mark.django_db

SESSION_KEY = session_key("louvre", "visit")
PENDING = pending_key("louvre", "visit")


def issue(**kwargs):
    kwargs.setdefault("lifetime", timedelta(minutes=10))
    return Ticket.objects.issue_with_code("louvre", "visit", **kwargs)


def other(code):
    """A different code of the same length."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


@pytest.fixture(autouse=True)
def _empty_outbox():
    views.OUTBOX.clear()


# Issuing and storing --------------------------------------------------------------------------


@pytest.mark.parametrize("digits", [6, 8, 10])
def test_issue_with_code(digits):
    ticket, _token, code = issue(digits=digits, data={"a": 1}, max_uses=2)
    assert len(code) == digits and code.isdigit()
    ticket.refresh_from_db()
    assert (ticket.data, ticket.max_uses) == ({"a": 1}, 2)
    # Never in clear, nor as a plain hash that a million tries would reverse.
    row = {f.attname: str(getattr(ticket, f.attname)) for f in Ticket._meta.concrete_fields}
    assert not any(code in value for value in row.values())
    assert ticket.code_hash != hashlib.sha256(code.encode()).hexdigest()
    assert len(ticket.code_hash) == 64
    assert ticket.check_code(code) and not ticket.check_code(other(code))


@pytest.mark.parametrize("digits", [5, 11, True, "6"])
def test_code_length_is_6_to_10_digits(digits):
    with pytest.raises((ValueError, TypeError)):
        issue(digits=digits)
    assert not Ticket.objects.exists()


def test_codes_are_uniform_and_keep_leading_zeros(monkeypatch):
    monkeypatch.setattr(codes.secrets, "randbelow", lambda n: 42)
    assert codes.make_code(6) == "000042"


def test_the_code_hash_is_keyed_and_follows_key_rotation(settings):
    ticket, _token, code = issue()
    settings.SECRET_KEY = "a-new-key"
    assert not Ticket.objects.get(pk=ticket.pk).check_code(code)
    settings.SECRET_KEY_FALLBACKS = ["tests-secret-key-not-for-production"]
    assert Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit") == ticket
    settings.TICKETOFFICE_SECRET_KEY = "dedicated"
    assert not Ticket.objects.get(pk=ticket.pk).check_code(code)


# verify_code -----------------------------------------------------------------------------------


def test_verify_code(django_assert_num_queries):
    ticket, _token, code = issue()
    with django_assert_num_queries(1):
        assert Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit") == ticket
    spaced = f"{code[:3]} {code[3:]}"
    assert Ticket.objects.verify_code(str(ticket.uuid), spaced, "louvre", "visit") == ticket
    with pytest.raises(CredentialsError):
        Ticket.objects.verify_code(ticket.uuid, other(code), "louvre", "visit")
    with pytest.raises(CredentialsError):
        Ticket.objects.verify_code(ticket.uuid, code, "orsay", "visit")


@pytest.mark.parametrize("bad", ["", "12345", "12345678901", "abcdef", "١٢٣٤٥٦", None, 123456])
def test_malformed_codes_are_refused_before_any_lookup(bad, django_assert_num_queries):
    ticket, _token, _code = issue()
    with django_assert_num_queries(0), pytest.raises(CredentialsError):
        Ticket.objects.verify_code(ticket.uuid, bad, "louvre", "visit")
    ticket.refresh_from_db()
    assert ticket.failed_attempts == 0


def test_a_ticket_without_a_code_matches_no_code():
    ticket, _token = Ticket.objects.issue("louvre", "visit")
    with pytest.raises(CredentialsError):
        Ticket.objects.verify_code(ticket.uuid, "000000", "louvre", "visit")


def test_link_first_then_the_code_finds_it_used(client):
    ticket, token, code = issue()
    assert client.get(f"/race/?{urlencode({'ticket': token})}").status_code == 200
    # The holder of the right code is told that the ticket is used.
    with pytest.raises(TicketUsedError):
        Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit")


def test_code_first_then_the_link_finds_it_used():
    browser = Client()
    browser.post("/code/", {"email": "ada@example.com"})
    _email, pending, token, code = views.OUTBOX[-1]
    assert browser.post("/code/", {"code": code}).status_code == 303
    assert browser.get("/race/").status_code == 200
    response = Client().get(f"/race/?{urlencode({'ticket': token})}")
    assert response.status_code == 403 and b'data-reason="used"' in response.content
    assert Ticket.objects.get(uuid=pending).status == "used"


# The web flow -----------------------------------------------------------------------------------


def scrub(content: bytes) -> bytes:
    """The page without its per-response CSRF token."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


def test_sign_in_with_a_code(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    browser = Client()
    response = browser.get("/code/")
    assert response.status_code == 200 and b'name="email"' in response.content
    response = browser.post("/code/", {"email": "ada@example.com"})
    assert response.status_code == 200 and b'name="code"' in response.content
    assert "no-store" in response["Cache-Control"]
    (email, pending, _token, code) = views.OUTBOX[-1]
    assert email == "ada@example.com"
    assert browser.session[PENDING] == pending
    old_key = browser.session.session_key

    response = browser.post("/code/", {"code": code})
    assert response.status_code == 303
    assert response["Location"] == "/race/"
    session = browser.session
    assert session[SESSION_KEY] == pending and PENDING not in session
    assert session.session_key != old_key  # rotated, as a link's admission rotates it
    assert code not in str(dict(session))

    assert browser.get("/race/").status_code == 200
    assert Visit.objects.filter(ticket_uuid=pending).count() == 1
    assert browser.get("/race/").status_code == 403


def test_a_code_typed_in_another_session_is_refused():
    owner, attacker = Client(), Client()
    owner.post("/code/", {"email": "ada@example.com"})
    _email, pending, _token, code = views.OUTBOX[-1]
    # The attacker has the code (shoulder-surfed, phished), not the owner's session.
    attacker.get("/code/")
    refused = attacker.post("/code/", {"code": code})
    assert refused.status_code == 403
    assert SESSION_KEY not in attacker.session
    # It reads like any wrong code.
    wrong = owner.post("/code/", {"code": other(code)})
    assert wrong.status_code == 403
    assert scrub(refused.content) == scrub(wrong.content)
    # The owner still signs in.
    assert owner.post("/code/", {"code": code}).status_code == 303
    assert owner.session[SESSION_KEY] == pending


def test_an_unknown_address_gets_the_same_pages():
    known, unknown = Client(), Client()
    known_page = known.post("/code/", {"email": "ada@example.com"})
    unknown_page = unknown.post("/code/", {"email": "nobody@example.com"})
    assert len(views.OUTBOX) == 1
    assert scrub(known_page.content) == scrub(unknown_page.content)
    assert Ticket.objects.count() == 1
    wrong = known.post("/code/", {"code": "123456"})
    nothing = unknown.post("/code/", {"code": "123456"})
    assert (wrong.status_code, nothing.status_code) == (403, 403)
    assert scrub(wrong.content) == scrub(nothing.content)


def test_a_malformed_code_is_a_form_error_not_a_guess():
    browser = Client()
    browser.post("/code/", {"email": "ada@example.com"})
    response = browser.post("/code/", {"code": "12ab"})
    assert response.status_code == 400
    assert b"6 to 10 digits" in response.content
    assert Ticket.objects.get().failed_attempts == 0


@pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer")
def test_the_code_never_reaches_an_error_report(client, settings):
    import django

    settings.ADMINS = ["ops@example.com"] if django.VERSION >= (6, 0) else [("Ops", "o@e.com")]
    handler = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.raise_request_exception = False
        client.post("/broken-code/", {"email": "ada@example.com"})
        _email, _pending, _token, code = views.OUTBOX[-1]
        assert client.post("/broken-code/", {"code": code}).status_code == 500
    finally:
        logger.removeHandler(handler)
    assert mail.outbox
    for message in mail.outbox:
        text = message.subject + message.body
        text += "".join(content for content, _ in getattr(message, "alternatives", []))
        assert "a bug after the code was checked" in text
        assert code not in text


def test_every_code_refusal_sends_ticket_refused():
    from django_ticketoffice.signals import ticket_refused

    seen = []

    def receiver(reason, uuid, request, **kwargs):
        seen.append((reason, uuid, request.path))

    browser = Client()
    browser.post("/code/", {"email": "ada@example.com"})
    _email, pending, _token, code = views.OUTBOX[-1]
    ticket_refused.connect(receiver)
    try:
        browser.post("/code/", {"code": other(code)})
        Client().post("/code/", {"code": code})  # no pending ticket in that session
    finally:
        ticket_refused.disconnect(receiver)
    assert [(reason, str(u) if u else None) for reason, u, _ in seen] == [
        ("invalid", pending),
        ("invalid", None),
    ]
    assert code not in repr(seen)
