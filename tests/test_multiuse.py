"""Multi-use tickets (issue 12): exactly ``max_uses`` stamped uses, under any concurrency.

The cache only ever refuses a used-up ticket; undoing a use gives exactly one
back; the single-use hot path keeps its counts (tests/test_stamps.py).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from django_ticketoffice import claims
from django_ticketoffice.decorators import stamp_invitation
from django_ticketoffice.exceptions import TicketUsedError
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_used
from django_ticketoffice.stamps import get_store
from tests.conftest import REDIS_STAMP_CACHES, free_port, redis_down
from tests.models import Visit
from tests.servers import AppServer, burst

pytestmark = pytest.mark.django_db


def issue(max_uses=3, **kwargs):
    if "expiry_datetime" not in kwargs:
        kwargs.setdefault("lifetime", timedelta(hours=1))
    return Ticket.objects.issue("louvre", "visit", max_uses=max_uses, **kwargs)


def link(path, token):
    return f"{path}?{urlencode({'ticket': token})}"


def fresh(ticket):
    ticket.refresh_from_db()
    return ticket


def claim_on(ticket, rf):
    request = rf.get("/")
    request.ticket = Ticket.objects.get(pk=ticket.pk)
    claim = claims.Claim.for_request(request)
    claim.take()
    return claim


@pytest.fixture
def uses_signalled():
    calls = []

    def receiver(ticket, use_number, **kwargs):
        calls.append(use_number)

    ticket_used.connect(receiver)
    yield calls
    ticket_used.disconnect(receiver)


# Issuing -----------------------------------------------------------------------------------


def test_default_is_single_use_and_existing_api_too():
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    legacy = Ticket.objects.create(place="louvre", purpose="visit")
    for t in (fresh(ticket), fresh(legacy)):
        assert (t.uses, t.max_uses, t.uses_left) == (0, 1, 1)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3"])
def test_issue_refuses_impossible_limits(bad):
    with pytest.raises(ValueError, match="max_uses"):
        issue(max_uses=bad)
    assert not Ticket.objects.exists()


def test_unlimited_uses_need_an_expiry():
    with pytest.raises(ValueError, match="needs an expiry"):
        Ticket.objects.issue("louvre", "visit", max_uses=None)
    ticket, _ = Ticket.objects.issue("louvre", "visit", max_uses=None, lifetime=timedelta(days=1))
    assert fresh(ticket).max_uses is None


# Uses ---------------------------------------------------------------------------------------


def test_each_use_counts_and_the_last_one_marks_it_used(
    stamp_cache, uses_signalled, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ticket, _ = issue(max_uses=3)
    store = get_store()
    for number in (1, 2, 3):
        assert fresh(ticket).status == "valid"
        with django_capture_on_commit_callbacks(execute=True):
            ticket.use()
        assert fresh(ticket).uses == number
        # Stamped only once used up: the cache never refuses a ticket with uses left.
        assert store.lookup(ticket.uuid) == (None if number < 3 else "used")
    assert uses_signalled == [1, 2, 3]
    assert ticket.status == "used" and ticket.usage_datetime is not None
    assert ticket.uses_left == 0
    with pytest.raises(TicketUsedError):
        ticket.use()
    assert fresh(ticket).uses == 3


def test_replays_are_accepted_until_used_up_then_refused_with_no_sql(
    client,
    stamp_cache,
    redis_roundtrips,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    ticket, token = issue(max_uses=3)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert client.get(link("/race/", token)).status_code == 200
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 3
    redis_roundtrips.count = 0
    with django_assert_num_queries(0):
        response = client.get(link("/race/", token))
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content
    assert redis_roundtrips.count == (1 if stamp_cache in REDIS_STAMP_CACHES else 0)
    assert Visit.objects.count() == 3


def test_a_use_that_leaves_uses_takes_no_cache_claim_and_writes_nothing(
    redis, client, redis_roundtrips, django_capture_on_commit_callbacks
):
    ticket, token = issue(max_uses=2)
    redis_roundtrips.count = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(link("/race/", token)).status_code == 200
    # One GET (the stamp lookup): no SET NX claim, nothing written after the commit.
    assert redis_roundtrips.count == 1
    assert redis.keys("*") == []
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(link("/race/", token)).status_code == 200
    # "spent": refused like "used", never kept in process memory (a use in flight
    # may still give its use back).
    assert redis.get(get_store().key(ticket.uuid)) == b"spent"
    assert redis.get(get_store().claim_key(ticket.uuid)) is None


def test_unlimited_ticket_is_never_stamped(stamp_cache, django_capture_on_commit_callbacks):
    ticket, _ = issue(max_uses=None)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(12):
            ticket.use()
    ticket = fresh(ticket)
    assert (ticket.uses, ticket.status, ticket.uses_left) == (12, "valid", None)
    assert get_store().lookup(ticket.uuid) is None


def test_expired_or_revoked_multi_use_ticket_is_refused(stamp_cache):
    ticket, _ = issue(max_uses=5)
    ticket.use()
    assert ticket.revoke() is True  # a use left: revocable
    with pytest.raises(Exception) as raised:
        ticket.use()
    assert raised.value.reason == "revoked"
    expired, _ = issue(max_uses=5, expiry_datetime=timezone.now() + timedelta(seconds=1))
    Ticket.objects.filter(pk=expired.pk).update(expiry_datetime=timezone.now())
    with pytest.raises(Exception) as raised:
        fresh(expired).use()
    assert raised.value.reason == "expired"


# Undoing a use --------------------------------------------------------------------------------


def test_a_failed_view_gives_its_use_back(client, stamp_cache):
    ticket, token = issue(max_uses=2)
    assert client.get(link("/race/", token)).status_code == 200
    assert client.get(link("/fail/500/", token)).status_code == 302
    assert client.get("/fail/500/").status_code == 500
    assert fresh(ticket).uses == 1
    assert client.get(link("/race/", token)).status_code == 200
    assert fresh(ticket).status == "used"


def test_undo_among_uses_in_flight_gives_back_exactly_one(
    rf, stamp_cache, django_capture_on_commit_callbacks
):
    ticket, _ = issue(max_uses=3)
    store = get_store()
    with django_capture_on_commit_callbacks(execute=True):
        a, b, c = (claim_on(ticket, rf) for _ in range(3))
        assert [a.use_number, b.use_number, c.use_number] == [1, 2, 3]
        assert c.exhausts and fresh(ticket).status == "used"
        a.undo()  # the first view fails: its use is given back
        a.undo()  # a second undo of the same claim changes nothing
        b.settle()
        c.settle()  # stamps "used" after the commit... unless the undo holds it off
    ticket = fresh(ticket)
    assert (ticket.uses, ticket.status) == (2, "valid")
    assert store.lookup(ticket.uuid) is None  # never refused with a use left
    claim_on(ticket, rf).settle()
    assert fresh(ticket).status == "used" and ticket.uses == 3


def test_an_interrupted_claim_never_gives_back_more_than_it_took(rf):
    from django_ticketoffice.statements import can_return_rows

    ticket, _ = issue(max_uses=3)
    ticket.use()
    returning = can_return_rows("default")
    uses = connection.ops.quote_name("uses")

    def interrupt(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if returning and sql.startswith("UPDATE") and "RETURNING" in sql:
            raise KeyboardInterrupt  # after the claim, before it knows its use
        # Without RETURNING: the read-back of the claimed use (any backend's quoting).
        if not returning and sql.startswith("SELECT") and uses in sql.split(" FROM ")[0]:
            raise KeyboardInterrupt  # inside the claim's transaction: it rolls back
        return result

    with connection.execute_wrapper(interrupt), pytest.raises(KeyboardInterrupt):
        claim_on(ticket, rf)
    # Never below the truth: the rolled-back claim took nothing; the committed one
    # cannot tell which use was its own, so it keeps it (too strict, never lenient).
    assert fresh(ticket).uses == (2 if returning else 1)


def test_revocation_during_a_multi_use_claim_wins(rf):
    ticket, _ = issue(max_uses=3)
    claim = claim_on(ticket, rf)
    assert Ticket.objects.get(pk=ticket.pk).revoke() is True
    claim.undo()
    ticket = fresh(ticket)
    assert (ticket.uses, ticket.status) == (0, "revoked")


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_gives_the_use_back_on_a_new_connection(postgres):
    ticket, _ = issue(max_uses=3)
    ticket.use()

    @stamp_invitation
    def terminated(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return HttpResponse("never")

    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.ticket = Ticket.objects.get(pk=ticket.pk)
    with pytest.raises(Exception, match="terminat"):
        terminated(request)
    assert fresh(ticket).uses == 1


# Exactly max_uses under concurrency (PostgreSQL) ----------------------------------------------


@pytest.fixture(params=["redis", "redis-down"])
def race_cache(request, settings):
    if request.param == "redis":
        request.getfixturevalue("redis")
    else:
        redis_down(settings)
    return request.param


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_three_uses(postgres, race_cache):
    from tests.test_concurrency import run_together

    ticket, token = issue(max_uses=3)
    address = link("/race/", token)
    statuses = run_together(20, lambda: Client().get(address).status_code)
    assert sorted(statuses) == [200] * 3 + [403] * 17, statuses
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 3
    ticket = fresh(ticket)
    assert (ticket.uses, ticket.status) == (3, "used")
    if race_cache == "redis":
        assert get_store().lookup(ticket.uuid) == "used"


@pytest.fixture(params=["redis-up", "redis-down"])
def server_redis(request, redis):
    if request.param == "redis-up":
        kwargs = redis.connection_pool.connection_kwargs
        return f"redis://127.0.0.1:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_through_gunicorn_three_uses(postgres, server_redis):
    ticket, token = issue(max_uses=3)
    env = {"TEST_TICKETOFFICE_CACHE": "server", "TEST_SERVER_REDIS_URL": server_redis}
    with AppServer("wsgi", env=env) as server:
        results = burst(20, lambda: server.request(link("/race/", token))[0])
        log = server.output()
    assert sorted(results) == [200] * 3 + [403] * 17, (results, log)
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 3
    assert (fresh(ticket).uses, ticket.status) == (3, "used")


# Admin and command ---------------------------------------------------------------------------


def test_admin_shows_uses_and_issues_multi_use_tickets(admin_client):
    ticket, _ = issue(max_uses=3)
    ticket.use()
    issue(max_uses=None)
    response = admin_client.get("/admin/django_ticketoffice/ticket/")
    assert b"1/3" in response.content and "0/∞".encode() in response.content
    response = admin_client.post(
        "/admin/django_ticketoffice/ticket/add/",
        {"place": "louvre", "purpose": "visit", "data": "", "lifetime": "1d", "max_uses": "4"},
    )
    # The credential page is the answer to the POST itself.
    assert response.status_code == 200 and b"Ticket issued" in response.content
    assert Ticket.objects.order_by("-pk").first().max_uses == 4
    count = Ticket.objects.count()
    response = admin_client.post(
        "/admin/django_ticketoffice/ticket/add/",
        {"place": "louvre", "purpose": "visit", "never_expires": "on", "unlimited_uses": "on"},
    )
    assert response.status_code == 200 and Ticket.objects.count() == count
    assert "needs an expiry or a lifetime" in response.content.decode()
    response = admin_client.post(
        "/admin/django_ticketoffice/ticket/add/",
        {"place": "louvre", "purpose": "visit", "lifetime": "2h", "unlimited_uses": "on"},
    )
    assert response.status_code == 200 and b"Ticket issued" in response.content
    assert Ticket.objects.order_by("-pk").first().max_uses is None


def test_issue_command_max_uses(capsys):
    call_command("ticketoffice_issue", "--place=louvre", "--purpose=visit", "--max-uses=5")
    assert Ticket.objects.get().max_uses == 5
    where = ["--place=louvre", "--purpose=visit"]
    call_command("ticketoffice_issue", *where, "--max-uses=unlimited", "--lifetime=1d")
    assert Ticket.objects.filter(max_uses__isnull=True).count() == 1
    with pytest.raises(CommandError, match="needs a --lifetime"):
        call_command("ticketoffice_issue", *where, "--max-uses=unlimited", "--no-expiry")
    with pytest.raises(CommandError, match="positive integer"):
        call_command("ticketoffice_issue", *where, "--max-uses=0")
    with pytest.raises(CommandError, match="max-attempts"):
        call_command("ticketoffice_issue", *where, "--max-attempts=101")
    assert Ticket.objects.count() == 2
