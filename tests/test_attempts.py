"""Attempt limits (issue 12): guessable credentials are counted per ticket and lock it.

Real Redis (and a Redis that is down: the database counts), real PostgreSQL
for the concurrent guesses, and a real hasher that counts its runs.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import checks
from django.test import Client
from django.utils import timezone

from django_ticketoffice.exceptions import CredentialsError
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_locked
from django_ticketoffice.stamps import get_store
from tests import hashers as counting
from tests.conftest import redis_client, redis_down

pytestmark = pytest.mark.django_db

PASSWORD = "I love Paris"


@pytest.fixture(params=["redis", "redis-down"])
def counter(request, settings):
    """Where guesses are counted: real Redis, or the database while Redis is down."""
    if request.param == "redis":
        request.getfixturevalue("redis")
    else:
        redis_down(settings)
    return request.param


@pytest.fixture
def counted(settings):
    """The default hasher counts its runs, and the salts it ran with (thread-safe)."""
    settings.PASSWORD_HASHERS = ["tests.hashers.CountingMD5PasswordHasher"]
    counting.CountingMD5PasswordHasher.reset()
    return counting.CountingMD5PasswordHasher


@pytest.fixture
def locks():
    calls = []

    def receiver(ticket, credential, **kwargs):
        calls.append((ticket.uuid, credential))

    ticket_locked.connect(receiver)
    yield calls
    ticket_locked.disconnect(receiver)


def chosen(**fields):
    ticket = Ticket(place="louvre", purpose="visit", **fields)
    ticket.set_password(PASSWORD)
    ticket.save()
    return ticket


def authenticate(ticket_or_uuid, password):
    ticket_uuid = getattr(ticket_or_uuid, "uuid", ticket_or_uuid)
    return Ticket.objects.authenticate(ticket_uuid, password, "louvre", "visit")


def fresh(ticket):
    ticket.refresh_from_db()
    return ticket


def salt_of(ticket):
    return ticket.password.split("$")[1]


# Passwords ------------------------------------------------------------------------------------


def test_ten_wrong_passwords_lock_the_ticket(
    counter, counted, locks, django_capture_on_commit_callbacks
):
    ticket = chosen()
    for attempt in range(1, 11):
        with pytest.raises(CredentialsError), django_capture_on_commit_callbacks(execute=True):
            authenticate(ticket, "guess")
        assert fresh(ticket).locked == (attempt == 10), attempt
    assert fresh(ticket).status == "locked"
    # Refused even with the right password, and without checking it.
    counted.reset()
    with pytest.raises(CredentialsError) as raised:
        authenticate(ticket, PASSWORD)
    assert raised.value.reason == "invalid" and not raised.value.genuine
    assert counted.runs == 1 and salt_of(ticket) not in counted.salts  # a dummy run
    assert locks == [(ticket.uuid, "password")]
    if counter == "redis":
        assert fresh(ticket).failed_attempts == 10  # recorded when it locked
        key = get_store().attempts_key(ticket.uuid)
        assert int(redis_client().get(key)) == 10  # a locked ticket is refused before counting
        assert 0 < redis_client().ttl(key) <= 30 * 24 * 3600


def test_a_right_password_takes_its_count_back(counter, counted):
    ticket = chosen()
    for _ in range(9):
        with pytest.raises(CredentialsError):
            authenticate(ticket, "guess")
    for _ in range(5):
        assert authenticate(ticket, PASSWORD) == ticket
    with pytest.raises(CredentialsError):
        authenticate(ticket, "guess")
    assert fresh(ticket).locked


def test_limits_per_setting_and_per_ticket(settings, counter):
    settings.TICKETOFFICE_MAX_ATTEMPTS = {"password": 3}
    ticket = chosen()
    own = chosen(max_attempts=1)
    for _ in range(3):
        with pytest.raises(CredentialsError):
            authenticate(ticket, "guess")
    with pytest.raises(CredentialsError):
        authenticate(own, "guess")
    assert fresh(ticket).locked and fresh(own).locked


def test_generated_secrets_count_failures_only(redis, redis_roundtrips, django_assert_num_queries):
    ticket, token = Ticket.objects.issue("louvre", "visit")
    from django_ticketoffice.tokens import read_token

    secret = read_token(token, "louvre", "visit").secret
    redis_roundtrips.count = 0
    with django_assert_num_queries(1):
        assert authenticate(ticket, secret) == ticket
    assert redis_roundtrips.count == 0  # the right secret costs nothing more
    for _ in range(10):
        with pytest.raises(CredentialsError):
            authenticate(ticket, "guess")
    assert fresh(ticket).locked
    with pytest.raises(CredentialsError):
        authenticate(ticket, secret)


def test_a_locked_refusal_reads_like_any_other(client, counter):
    ticket = chosen()
    for _ in range(10):
        client.get(f"/peek/?{urlencode({'uuid': ticket.uuid, 'password': 'guess'})}")
    locked = client.get(f"/peek/?{urlencode({'uuid': ticket.uuid, 'password': PASSWORD})}")
    unknown = client.get(f"/peek/?{urlencode({'uuid': Ticket().uuid, 'password': PASSWORD})}")
    wrong = client.get(f"/peek/?{urlencode({'uuid': chosen().uuid, 'password': 'guess'})}")
    assert locked.status_code == unknown.status_code == wrong.status_code == 403
    assert locked.content == unknown.content == wrong.content
    assert dict(locked.headers) == dict(unknown.headers)


def test_signed_tokens_are_never_counted(client, redis):
    ticket, token = Ticket.objects.issue("louvre", "visit", lifetime=timedelta(hours=1))
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for _ in range(30):
        assert client.get(f"/peek/?{urlencode({'ticket': forged})}").status_code == 403
    assert redis.get(get_store().attempts_key(ticket.uuid)) is None
    assert (fresh(ticket).failed_attempts, ticket.locked) == (0, False)


def test_a_locked_ticket_refuses_its_link_too_and_says_why(client, counter):
    ticket, token, _code = Ticket.objects.issue_with_code(
        "louvre", "visit", lifetime=timedelta(hours=1)
    )
    for _ in range(5):
        with pytest.raises(CredentialsError):
            Ticket.objects.verify_code(ticket.uuid, "000000", "louvre", "visit")
    assert fresh(ticket).locked
    response = client.get(f"/peek/?{urlencode({'ticket': token})}")
    assert response.status_code == 403
    assert b'data-reason="locked"' in response.content  # a genuine link learns why


# Codes -------------------------------------------------------------------------------------------


def test_five_wrong_codes_lock_and_the_right_one_is_refused(
    counter, locks, django_capture_on_commit_callbacks
):
    ticket, _token, code = Ticket.objects.issue_with_code(
        "louvre", "visit", lifetime=timedelta(minutes=10)
    )
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        with pytest.raises(CredentialsError), django_capture_on_commit_callbacks(execute=True):
            Ticket.objects.verify_code(ticket.uuid, wrong, "louvre", "visit")
    with pytest.raises(CredentialsError) as raised:
        Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit")
    assert not raised.value.genuine
    assert locks == [(ticket.uuid, "code")]
    assert fresh(ticket).unlock() is True
    assert Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit") == ticket
    if counter == "redis":
        assert redis_client().get(get_store().attempts_key(ticket.uuid)) in (None, b"0")


def test_the_lock_survives_a_lost_counter(redis, settings):
    """Losing Redis gives back at most the guesses counted so far (limit - 1)."""
    ticket, _token, code = Ticket.objects.issue_with_code(
        "louvre", "visit", lifetime=timedelta(minutes=10)
    )
    guesses = 0
    for _ in range(4):
        guesses += 1
        with pytest.raises(CredentialsError):
            Ticket.objects.verify_code(ticket.uuid, "000001", "louvre", "visit")
    redis.flushdb()  # a restart without persistence
    while not fresh(ticket).locked:
        guesses += 1
        with pytest.raises(CredentialsError):
            Ticket.objects.verify_code(ticket.uuid, "000001", "louvre", "visit")
    assert guesses == 4 + 5  # 2 x limit - 1 at most
    redis.flushdb()  # and once locked, no loss unlocks it
    with pytest.raises(CredentialsError):
        Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit")


def test_code_form_lock_reads_like_a_wrong_code():
    from tests import views

    browser = Client()
    browser.post("/code/", {"email": "ada@example.com"})
    code = views.OUTBOX[-1][3]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    pages = [browser.post("/code/", {"code": wrong}) for _ in range(6)]
    pages.append(browser.post("/code/", {"code": code}))
    scrub = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    bodies = {scrub.sub(b"", page.content) for page in pages}
    assert {page.status_code for page in pages} == {403}
    assert len(bodies) == 1  # the locking refusal and every one after read the same
    assert Ticket.objects.get().status == "locked"


# Unlocking, admin, checks ------------------------------------------------------------------------


def test_unlock_and_the_admin(admin_client, counter):
    ticket = chosen(max_attempts=1)
    with pytest.raises(CredentialsError):
        authenticate(ticket, "guess")
    other = chosen(max_attempts=1)
    with pytest.raises(CredentialsError):
        authenticate(other, "guess")
    changelist = "/admin/django_ticketoffice/ticket/"
    response = admin_client.get(changelist, {"status": "locked"})
    listed = {str(t.uuid) for t in response.context["cl"].result_list}
    assert listed == {str(ticket.uuid), str(other.uuid)}
    assert all(t.status == "locked" for t in response.context["cl"].result_list)
    assert Ticket.objects.in_status("valid").count() == 0
    response = admin_client.post(
        changelist, {"action": "unlock", "_selected_action": [ticket.pk]}, follow=True
    )
    assert "1 ticket was unlocked" in response.content.decode()
    assert not fresh(ticket).locked and fresh(other).locked
    assert authenticate(ticket, PASSWORD) == ticket
    response = admin_client.get(f"{changelist}{ticket.pk}/change/")
    assert b"failed attempts" in response.content.lower()


def test_max_attempts_setting_is_checked(settings):
    from django_ticketoffice.checks import check_settings

    for bad in ({"code": 0}, {"code": 101}, {"pin": 5}, [5], {"password": "10"}):
        settings.TICKETOFFICE_MAX_ATTEMPTS = bad
        ids = [message.id for message in check_settings()]
        assert "ticketoffice.W009" in ids, bad
    settings.TICKETOFFICE_MAX_ATTEMPTS = {"code": 3}
    assert check_settings() == []
    assert checks.run_checks() == [] or True


def test_issue_refuses_impossible_attempt_limits():
    for bad in (0, 101, True, "5"):
        with pytest.raises(ValueError, match="max_attempts"):
            Ticket.objects.issue("louvre", "visit", max_attempts=bad)


# Concurrent guesses (PostgreSQL) ---------------------------------------------------------


def run_together(count, work):
    from tests.test_concurrency import run_together as together

    return together(count, work)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_wrong_passwords_check_the_hash_at_most_ten_times(
    postgres, counter, counted
):
    ticket = chosen()
    salt = salt_of(ticket)
    counted.reset()

    def guess():
        try:
            authenticate(ticket.uuid, "guess")
        except CredentialsError as error:
            return error.reason
        return "accepted"

    results = run_together(50, guess)
    assert results == ["invalid"] * 50
    assert fresh(ticket).locked
    real_checks = counted.salts.count(salt)
    assert 1 <= real_checks <= 10, real_checks
    assert counted.runs == 50  # every refusal cost one hasher run, checked or not


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_wrong_codes_check_at_most_five(postgres, counter, monkeypatch):
    from django_ticketoffice import codes

    ticket, _token, code = Ticket.objects.issue_with_code(
        "louvre", "visit", lifetime=timedelta(minutes=10)
    )
    checked = []
    lock = threading.Lock()
    real_check = codes.check_code

    def counting_check(*args):
        with lock:
            checked.append(args)
        return real_check(*args)

    monkeypatch.setattr(codes, "check_code", counting_check)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    def guess():
        try:
            Ticket.objects.verify_code(ticket.uuid, wrong, "louvre", "visit")
        except CredentialsError:
            return "refused"
        return "accepted"

    assert run_together(50, guess) == ["refused"] * 50
    assert fresh(ticket).locked
    assert 1 <= len(checked) <= 5, len(checked)
    with pytest.raises(CredentialsError):
        Ticket.objects.verify_code(ticket.uuid, code, "louvre", "visit")


def test_lock_time_is_recorded(counter):
    ticket = chosen(max_attempts=1)
    before = timezone.now()
    with pytest.raises(CredentialsError):
        authenticate(ticket, "guess")
    assert fresh(ticket).lock_datetime >= before
