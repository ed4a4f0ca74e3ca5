"""The hot path (issue 10): precompiled statements, claim-and-fetch, one round trip.

Counts, not times: statements per path and Redis round trips per path. The
times are in the benchmark suite (``python -m benchmarks``).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.db import connection, connections
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_ticketoffice import statements
from django_ticketoffice.claims import claim_single_by_uuid as claim_by_uuid
from django_ticketoffice.decorators import invitation_required, session_key, stamp_invitation
from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store
from django_ticketoffice.verification import fetch_ticket, ticket_by_uuid

pytestmark = pytest.mark.django_db


def issue(**kwargs):
    kwargs.setdefault("data", {"first_name": "Léonard", "rooms": [1, 2]})
    kwargs.setdefault("lifetime", timedelta(hours=1))
    return Ticket.objects.issue("louvre", "visit", **kwargs)


def link(path, token):
    return f"{path}?{urlencode({'ticket': token})}"


def fields(ticket):
    return {f.attname: getattr(ticket, f.attname) for f in Ticket._meta.concrete_fields}


# Precompiled statements --------------------------------------------------------------------


def test_precompiled_lookup_builds_the_same_ticket_as_the_orm():
    ticket, _token = issue()
    Ticket.objects.filter(pk=ticket.pk).update(revocation_datetime=timezone.now())
    orm = Ticket.objects.get(pk=ticket.pk)
    fetched = fetch_ticket(ticket.uuid, "louvre", "visit")
    assert fields(fetched) == fields(orm)
    assert {k: type(v) for k, v in fields(fetched).items()} == {
        k: type(v) for k, v in fields(orm).items()
    }
    assert fetched._state.db == "default" and fetched._state.adding is False


def test_precompiled_statements_are_compiled_once_and_counted():
    ticket, _token = issue()
    alias = "default"
    with CaptureQueriesContext(connection) as first:
        fetch_ticket(ticket.uuid, "louvre", "visit")
    compiled = statements._cache[connections[alias]]
    assert ticket_by_uuid in [key[0] for key in compiled if compiled[key] is not None]
    with CaptureQueriesContext(connection) as second:
        fetch_ticket(ticket.uuid, "louvre", "visit")
    # Seen by query counting, and the very statement the ORM would run.
    assert len(first) == len(second) == 1
    orm_sql, _ = Ticket.objects.filter(uuid=ticket.uuid)[:1].query.get_compiler(alias).as_sql()
    template = statements._cache[connections[alias]]
    assert any(s is not None and s.sql == orm_sql for s in template.values())


def test_each_model_gets_its_own_statement():
    """Compiled from the model: another table and other fields give another statement."""
    from tests.models import Pass

    ticket, _token = issue()
    other = Pass.objects.create(uuid=uuid.uuid4(), note="side door")
    with CaptureQueriesContext(connection) as queries:
        assert statements.select_first(Ticket, ticket_by_uuid, "default", {"uuid": ticket.uuid})
        found = statements.select_first(Pass, ticket_by_uuid, "default", {"uuid": other.uuid})
    assert found == other and found.note == "side door"
    assert Ticket._meta.db_table in queries[0]["sql"]
    assert "tests_custom_pass" in queries[1]["sql"]
    assert connection.ops.quote_name("note") in queries[1]["sql"]


def returning(inputs):
    return statements.update_returning(
        Ticket,
        claim_by_uuid,
        "default",
        inputs,
        fetch=ticket_by_uuid,
        fetch_inputs={"uuid": inputs["uuid"]},
    )


def test_claim_by_uuid_returns_the_claimed_row_in_one_statement():
    ticket, _token = issue()
    now = timezone.now()
    inputs = {"uuid": ticket.uuid, "place": "louvre", "purpose": "visit", "now": now}
    with CaptureQueriesContext(connection) as queries:
        claimed = returning(inputs)
    if statements.can_return_rows("default"):
        assert len(queries) == 1 and "RETURNING" in queries[0]["sql"]
    else:  # MySQL, MariaDB: the exact fallback
        assert [q["sql"].split()[0] for q in queries] == ["UPDATE", "SELECT"]
    assert claimed.pk == ticket.pk and claimed.usage_datetime == now
    assert claimed.data == {"first_name": "Léonard", "rooms": [1, 2]}
    # The second time the WHERE refuses: no row.
    assert returning(inputs) is None


def test_the_fallback_without_returning_is_exact(monkeypatch):
    """MySQL and MariaDB: UPDATE then SELECT, with the same outcome as RETURNING."""
    monkeypatch.setattr(statements, "can_return_rows", lambda alias: False)
    ticket, token = issue()
    client_ticket = None
    from django.test import Client

    client = Client()
    assert client.get(link("/louvre/", token)).status_code == 302
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/louvre/")
    assert response.status_code == 200
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE", "SELECT"]
    client_ticket = Ticket.objects.get(pk=ticket.pk)
    assert client_ticket.used
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/louvre/").status_code == 403


# The follow-up request -----------------------------------------------------------------------


@pytest.mark.parametrize("state", ["used", "revoked", "expired", "other place"])
def test_follow_up_refusals_tell_why_with_a_second_statement(client, state):
    ticket, token = issue()
    assert client.get(link("/louvre/", token)).status_code == 302
    now = timezone.now()
    if state == "used":
        Ticket.objects.filter(pk=ticket.pk).update(usage_datetime=now)
    elif state == "revoked":
        Ticket.objects.filter(pk=ticket.pk).update(revocation_datetime=now)
    elif state == "expired":
        Ticket.objects.filter(pk=ticket.pk).update(expiry_datetime=now - timedelta(seconds=1))
    else:
        Ticket.objects.filter(pk=ticket.pk).update(place="orsay")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/louvre/")
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE", "SELECT"]
    assert response.status_code == 403
    reason = "invalid" if state == "other place" else state
    assert f'data-reason="{reason}"'.encode() in response.content


@login_required
def _members_only(request):
    return HttpResponse("members")


guarded = invitation_required("louvre", "visit")(login_required(stamp_invitation(_members_only)))


def test_a_claim_no_stamped_view_took_over_is_undone(rf):
    """A decorator between the two answers by itself: the ticket stays valid."""
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    ticket, _token = issue()
    request = rf.get("/members/")
    request.session = SessionStore()
    request.session[session_key("louvre", "visit")] = str(ticket.uuid)
    request.user = AnonymousUser()
    response = guarded(request)
    assert response.status_code == 302  # to the login page
    ticket.refresh_from_db()
    assert ticket.status == "valid"
    assert get_store().lookup(ticket.uuid) is None


def test_an_admission_claim_cancelled_midway_is_undone():
    """The async follow-up claims while it admits: a cancellation there undoes it."""
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    ticket, _token = issue()
    ran = []
    waiting, proceed = threading.Event(), threading.Event()

    def slow_claim(execute, sql, params, many, context):
        if sql.startswith("UPDATE") and "usage_datetime" in sql and "IS NULL" in sql:
            waiting.set()
            proceed.wait(10)
        return execute(sql, params, many, context)

    @invitation_required("louvre", "visit")
    @stamp_invitation
    async def view(request):
        ran.append(True)
        return HttpResponse("ran")

    async def scenario():
        request = RequestFactory().get("/")
        request.session = SessionStore()
        request.session[session_key("louvre", "visit")] = str(ticket.uuid)
        task = asyncio.ensure_future(view(request))
        await asyncio.get_running_loop().run_in_executor(None, waiting.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        proceed.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    with connection.execute_wrapper(slow_claim):
        async_to_sync(scenario)()
    assert ran == []
    ticket.refresh_from_db()
    assert ticket.status == "valid"


def test_a_deleted_ticket_in_session_costs_two_statements(client):
    ticket, token = issue()
    assert client.get(link("/louvre/", token)).status_code == 302
    Ticket.objects.filter(pk=ticket.pk).delete()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/louvre/")
    assert response.status_code == 403
    assert b'data-reason="invalid"' in response.content
    assert len(queries) == 2


# Final refusals in process memory ---------------------------------------------------------


def test_a_replay_in_the_same_process_costs_no_round_trip(
    client, redis, redis_roundtrips, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ticket, token = issue()
    assert client.get(link("/louvre/", token)).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get("/louvre/").status_code == 200
    redis_roundtrips.count = 0
    with django_assert_num_queries(0):
        response = client.get(link("/louvre/", token))
    assert response.status_code == 403 and b'data-reason="used"' in response.content
    assert redis_roundtrips.count == 0
    # Another process (an empty memory) asks Redis once, then knows too.
    get_store().local.discard(ticket.uuid)
    with django_assert_num_queries(0):
        assert client.get(link("/louvre/", token)).status_code == 403
    assert redis_roundtrips.count == 1
    assert client.get(link("/louvre/", token)).status_code == 403
    assert redis_roundtrips.count == 1


def test_a_revocation_is_known_at_once_in_the_revoking_process(
    client, redis, redis_roundtrips, django_capture_on_commit_callbacks
):
    ticket, token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        assert ticket.revoke()
    redis_roundtrips.count = 0
    response = client.get(link("/louvre/", token))
    assert b'data-reason="revoked"' in response.content
    assert redis_roundtrips.count == 0


def test_a_used_stamp_is_not_written_back_while_a_claim_is_in_flight(
    rf, redis, django_capture_on_commit_callbacks
):
    from django_ticketoffice.claims import Claim
    from django_ticketoffice.exceptions import TicketUsedError
    from django_ticketoffice.verification import verify_token

    ticket, token = issue()
    request = rf.get("/")
    request.ticket = ticket
    claim = Claim.for_request(request)
    claim.take()  # in flight: the row says used, the claim key exists
    store = get_store()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TicketUsedError):
        verify_token(token, "louvre", "visit")  # another request sees the claimed row
    assert redis.get(store.key(ticket.uuid)) is None  # refused: it could revert
    assert store.local.get(ticket.uuid) is None
    claim.undo()  # the view failed
    assert verify_token(token, "louvre", "visit").pk == ticket.pk


def test_a_used_stamp_is_written_back_when_no_claim_is_in_flight(
    redis, fresh_process, django_capture_on_commit_callbacks
):
    from django_ticketoffice.exceptions import TicketUsedError
    from django_ticketoffice.verification import verify_token

    ticket, token = issue()
    Ticket.objects.filter(pk=ticket.pk).update(usage_datetime=timezone.now())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TicketUsedError):
        verify_token(token, "louvre", "visit")
    assert redis.get(get_store().key(ticket.uuid)) == b"used"


def test_local_stamps_are_bounded_and_expire():
    import time

    from django_ticketoffice.stamps.local import LocalStamps

    local = LocalStamps(size=2, ttl=0.05)
    first, second, third = (uuid.uuid4() for _ in range(3))
    local.put(first, "used")
    local.put(second, "revoked")
    local.put(third, "used")
    assert len(local) == 2 and local.get(first) is None  # the oldest went first
    assert local.get(second) == "revoked"
    time.sleep(0.1)
    assert local.get(third) is None and len(local) == 1
    off = LocalStamps(size=0, ttl=60)
    off.put(first, "used")
    assert off.get(first) is None
