"""Signed one-link tokens: pure computation, no I/O."""

from __future__ import annotations

import string
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.test import override_settings
from django.utils import timezone

from django_ticketoffice.exceptions import CredentialsError, TicketExpiredError
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import make_token, read_token
from django_ticketoffice.verification import verify_token

pytestmark = pytest.mark.django_db

B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
OLD_KEY = "tests-secret-key-not-for-production"  # tests.settings.SECRET_KEY


def unsaved(place="louvre", purpose="visit", **fields):
    """A ticket and its token, without touching the database."""
    ticket = Ticket(place=place, purpose=purpose, **fields)
    password = ticket.generate_password()
    return ticket, password, make_token(ticket, password)


def flip(char: str) -> str:
    """Another base64url character whose top four bits differ (see test_tamper)."""
    if char not in B64:
        return "A"
    return B64[(B64.index(char) + 4) % 64]


def test_round_trip(django_assert_num_queries):
    ticket, password, token = unsaved()
    with django_assert_num_queries(0):
        credentials = read_token(token, "louvre", "visit")
    assert credentials.uuid == ticket.uuid
    assert credentials.secret == password
    assert credentials.expiry is None
    assert credentials.signed is True
    assert ticket.check_password(credentials.secret)


def test_default_token_format():
    _, _, token = unsaved()
    assert len(token) == 94
    assert len(token) <= 100
    assert set(token) <= set(B64 + ".")
    assert token.count(".") == 1


def test_tokens_differ_per_ticket():
    tokens = {unsaved()[2] for _ in range(20)}
    assert len(tokens) == 20


@pytest.mark.parametrize(
    "password",
    ["I love Paris", "J'aime Paris, été comme hiver", "a", "x" * 40, "AAAA", "AB=="],
)
def test_chosen_passwords_round_trip(password):
    ticket = Ticket(place="louvre", purpose="visit", expiry_datetime=timezone.now() + timedelta(1))
    ticket.set_password(password)
    token = make_token(ticket, password)
    # Up to 21 bytes of chosen password (e.g. "I love Paris") fit in 100 characters.
    if len(password.encode()) <= 21:
        assert len(token) <= 100, (password, len(token))
    credentials = read_token(token, "louvre", "visit")
    assert credentials.secret == password
    assert ticket.check_password(credentials.secret)


def test_seed_password_token_is_short():
    ticket = Ticket(place="louvre", purpose="visit", expiry_datetime=timezone.now() + timedelta(5))
    ticket.set_password("I love Paris")
    assert len(make_token(ticket, "I love Paris")) <= 100


def test_expiry_round_trip():
    expiry = timezone.now() + timedelta(days=5)
    _ticket, _, token = unsaved(expiry_datetime=expiry)
    credentials = read_token(token, "louvre", "visit")
    assert credentials.expiry is not None
    # Whole seconds, never earlier than the database's expiry: the token may only
    # refuse what the database refuses too.
    assert expiry <= credentials.expiry < expiry + timedelta(seconds=1)


def test_signed_expiry_never_precedes_database_expiry():
    expiry = datetime(2030, 1, 1, 12, 0, 0, 999_999, tzinfo=dt_timezone.utc)
    _, _, token = unsaved(expiry_datetime=expiry)
    assert read_token(token, "louvre", "visit").expiry >= expiry


def test_signed_expiry(django_assert_num_queries):
    ticket, _, token = unsaved(expiry_datetime=timezone.now() - timedelta(seconds=2))
    with django_assert_num_queries(0), pytest.raises(TicketExpiredError) as raised:
        read_token(token, "louvre", "visit")
    assert raised.value.genuine
    assert raised.value.reason == "expired"
    # Carried as the token's raw bytes, a UUID once read.
    assert raised.value.names_ticket
    assert raised.value.ticket_uuid == ticket.uuid
    assert isinstance(raised.value.ticket_uuid, uuid.UUID)


def test_signed_expiry_refused_before_database(django_assert_num_queries):
    _ticket, token = Ticket.objects.issue(
        "louvre", "visit", expiry_datetime=timezone.now() - timedelta(hours=1)
    )
    with django_assert_num_queries(0), pytest.raises(TicketExpiredError):
        verify_token(token, "louvre", "visit")


def test_expired_but_forged_is_invalid():
    # Expiry is read only after the signature: a forgery never learns "expired".
    _, _, token = unsaved(expiry_datetime=timezone.now() - timedelta(days=1))
    with pytest.raises(CredentialsError):
        read_token(token[:-1] + flip(token[-1]), "louvre", "visit")
    with pytest.raises(CredentialsError):
        read_token(token, "orsay", "visit")


def test_tamper_every_character():
    _, _, token = unsaved(expiry_datetime=timezone.now() + timedelta(days=1))
    for index, char in enumerate(token):
        # A shift by 4 changes the top four bits of the sextet, so even the last
        # signature character (4 significant bits) decodes to different bytes.
        tampered = token[:index] + flip(char) + token[index + 1 :]
        assert tampered != token
        with pytest.raises(CredentialsError):
            read_token(tampered, "louvre", "visit")


def test_every_other_last_character_is_refused():
    # The last signature character has two spare bits: only the minted one is accepted.
    _, _, token = unsaved()
    for char in B64:
        if char != token[-1]:
            with pytest.raises(CredentialsError):
                read_token(token[:-1] + char, "louvre", "visit")
    assert read_token(token, "louvre", "visit")


def test_tamper_payload_fields():
    _ticket, _password, token = unsaved()
    _other, _other_password, other_token = unsaved()
    payload, signature = token.split(".")
    other_payload, other_signature = other_token.split(".")
    for forged in (
        f"{other_payload}.{signature}",
        f"{payload}.{other_signature}",
        f"{payload}{payload}.{signature}",
        f"{payload}.{signature}{signature}",
        f"{payload}.{signature}.{signature}",
        f"{payload}",
        f".{signature}",
        f"{payload}.",
        f"{payload}={signature}",
        token + "A",
        "A" + token,
        token.upper(),
        token.swapcase(),
    ):
        with pytest.raises(CredentialsError):
            read_token(forged, "louvre", "visit")


def test_truncation_at_every_length():
    _, _, token = unsaved(expiry_datetime=timezone.now() + timedelta(days=1))
    for length in range(len(token)):
        with pytest.raises(CredentialsError):
            read_token(token[:length], "louvre", "visit")
    for start in range(1, len(token)):
        with pytest.raises(CredentialsError):
            read_token(token[start:], "louvre", "visit")


@pytest.mark.parametrize(
    ("place", "purpose"),
    [("orsay", "visit"), ("louvre", "work"), ("", ""), ("louvre", ""), ("Louvre", "visit")],
)
def test_wrong_place_or_purpose(place, purpose):
    _, _, token = unsaved()
    with pytest.raises(CredentialsError):
        read_token(token, place, purpose)


def test_place_purpose_boundary_is_unambiguous():
    # ("a:b", "c") and ("a", "b:c") must not share a signing salt.
    _, _, token = unsaved(place="a:b", purpose="c")
    assert read_token(token, "a:b", "c")
    with pytest.raises(CredentialsError):
        read_token(token, "a", "b:c")


def test_key_rotation_with_secret_key_fallbacks():
    _, password, token = unsaved()
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[OLD_KEY]):
        assert read_token(token, "louvre", "visit").secret == password
        # New tokens are signed with the new key...
        _, new_password, new_token = unsaved()
        assert read_token(new_token, "louvre", "visit").secret == new_password
    # ... which the old configuration does not know.
    with pytest.raises(CredentialsError):
        read_token(new_token, "louvre", "visit")
    # Once the old key is dropped from the fallbacks, its tokens are refused.
    with (
        override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]),
        pytest.raises(CredentialsError),
    ):
        read_token(token, "louvre", "visit")


def test_token_from_unknown_key_is_refused():
    with override_settings(SECRET_KEY="someone-elses-key"):
        _, _, token = unsaved()
    with pytest.raises(CredentialsError):
        read_token(token, "louvre", "visit")
    with (
        override_settings(SECRET_KEY="another", SECRET_KEY_FALLBACKS=["yet-another"]),
        pytest.raises(CredentialsError),
    ):
        read_token(token, "louvre", "visit")


def test_dedicated_secret_key(settings):
    _, _, django_token = unsaved()
    settings.TICKETOFFICE_SECRET_KEY = "ticketoffice-only"
    _, password, token = unsaved()
    assert read_token(token, "louvre", "visit").secret == password
    # With a dedicated key, Django's SECRET_KEY no longer signs tickets.
    with pytest.raises(CredentialsError):
        read_token(django_token, "louvre", "visit")
    # Rotation of the dedicated key.
    settings.TICKETOFFICE_SECRET_KEY = "ticketoffice-next"
    settings.TICKETOFFICE_SECRET_KEY_FALLBACKS = ["ticketoffice-only"]
    assert read_token(token, "louvre", "visit").secret == password
    settings.TICKETOFFICE_SECRET_KEY_FALLBACKS = []
    with pytest.raises(CredentialsError):
        read_token(token, "louvre", "visit")
    # Changing SECRET_KEY does not affect tokens signed with the dedicated key.
    settings.TICKETOFFICE_SECRET_KEY = "ticketoffice-only"
    settings.SECRET_KEY = "rotated-django-key"
    assert read_token(token, "louvre", "visit").secret == password


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "x",
        "a" * 94,
        "é" * 94,
        "tïcket.signature",
        "\x00" * 10,
        "\ud800.abc",
        "A" * 257,
        "A" * 10_000,
        None,
        42,
        4.2,
        b"bytes.token",
        ["list"],
        {"dict": 1},
        uuid.uuid4(),
    ],
)
def test_malformed_input(value, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(CredentialsError):
        read_token(value, "louvre", "visit")


def test_oversized_token_with_valid_prefix():
    _, _, token = unsaved()
    with pytest.raises(CredentialsError):
        read_token(token + "A" * 300, "louvre", "visit")


def test_expiry_out_of_range_cannot_be_minted():
    ticket = Ticket(expiry_datetime=datetime(2200, 1, 1, tzinfo=dt_timezone.utc))
    with pytest.raises(ValueError, match="expiry"):
        make_token(ticket, ticket.generate_password())
    ticket = Ticket(expiry_datetime=datetime(1960, 1, 1, tzinfo=dt_timezone.utc))
    with pytest.raises(ValueError, match="expiry"):
        make_token(ticket, ticket.generate_password())


def test_signature_checks_agree_with_itsdangerous(settings):
    """Our check (keyed HMACs, copied per call) accepts exactly what itsdangerous's
    Signer accepts, over the signing key and its fallbacks."""
    import hashlib

    from itsdangerous import Signer

    from django_ticketoffice.tokens import _salt, _verify

    settings.SECRET_KEY_FALLBACKS = ["older-key", "oldest-key"]
    reference = Signer(
        [*reversed(settings.SECRET_KEY_FALLBACKS), settings.SECRET_KEY],
        salt=_salt("louvre", "visit"),
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )
    for key in (settings.SECRET_KEY, "older-key", "oldest-key", "unknown-key"):
        minting = Signer(
            key, salt=_salt("louvre", "visit"), key_derivation="hmac", digest_method=hashlib.sha256
        )
        for value in (b"", b"a", b"x" * 70, bytes(range(256))):
            signed = minting.sign(value)
            body, _, signature = signed.rpartition(b".")
            expected = reference.verify_signature(body, signature)
            assert expected is (key != "unknown-key")
            assert _verify("louvre", "visit", body, signature) is expected
            assert _verify("louvre", "visit", body + b"!", signature) is False
            assert _verify("orsay", "visit", body, signature) is False


def test_refusal_uuid_from_raw_bytes_is_built_once_and_can_be_replaced():
    ticket_uuid = uuid.uuid4()
    error = TicketExpiredError(ticket_uuid=ticket_uuid.bytes)
    assert error.names_ticket
    first = error.ticket_uuid
    assert first == ticket_uuid and error.ticket_uuid is first
    other = uuid.uuid4()
    error.ticket_uuid = other
    assert error.ticket_uuid == other
    nameless = CredentialsError()
    assert not nameless.names_ticket and nameless.ticket_uuid is None
