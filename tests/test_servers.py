"""Exactly once through real servers, under the failures production brings (issue 9).

gunicorn and uvicorn serve tests.settings against the PostgreSQL test
database (SQLite in memory cannot be shared with a server process, so these
tests need ``DATABASE_URL=postgres://...``; .ci/run runs them).
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from urllib.parse import urlencode

import django
import psycopg
import pytest
from django.db import connection

from django_ticketoffice.models import Ticket
from tests.conftest import free_port
from tests.models import Visit
from tests.servers import APPLICATION_NAME, AppServer, RedisServer, burst

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


def issue():
    return Ticket.objects.issue(
        "louvre", "visit", data={"first_name": "Ada"}, lifetime=timedelta(hours=1)
    )


def link(path, token, **params):
    return f"{path}?{urlencode({'ticket': token, **params})}"


def status(ticket):
    ticket.refresh_from_db()
    return ticket.status


def side_connection():
    """A connection of our own to the test database, outside Django's."""
    s = connection.settings_dict
    return psycopg.connect(
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
        user=s.get("USER") or "postgres",
        dbname=s["NAME"],
        autocommit=True,
    )


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# Exactly once with 50 concurrent requests -----------------------------------------------


@pytest.fixture(params=["redis-up", "redis-down", "redis-killed"])
def stamps_server(request, redis):
    """The Redis that the server's stamp cache uses: up, down, or killed mid-burst."""
    if request.param == "redis-up":
        url = redis.connection_pool.connection_kwargs
        yield f"redis://127.0.0.1:{url.get('port', 6379)}/{url.get('db', 0)}", None
    elif request.param == "redis-down":
        yield f"redis://127.0.0.1:{free_port()}/0", None
    else:
        own = RedisServer(free_port())
        own.start()
        yield f"redis://127.0.0.1:{own.port}/0", own
        own.stop()


def test_fifty_concurrent_requests_through_gunicorn_run_the_view_once(stamps_server):
    redis_url, killable = stamps_server
    env = {"TEST_TICKETOFFICE_CACHE": "server", "TEST_SERVER_REDIS_URL": redis_url}
    ticket, token = issue()
    with AppServer("wsgi", env=env) as server:
        kill = None
        if killable is not None:

            def kill():
                time.sleep(0.01)
                killable.process.kill()

        results = burst(50, lambda: server.request(link("/race/", token))[0], extra=kill)
        log = server.output()
    assert all(isinstance(code, int) for code in results), results
    assert sorted(set(results)) <= [200, 403], (results, log)
    assert results.count(200) == 1, (results, log)
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert status(ticket) == "used"


# A database connection lost inside the view ------------------------------------------------


def test_backends_terminated_mid_request_leave_the_ticket_valid():
    ticket, token = issue()
    with AppServer("wsgi", workers=1, threads=4) as server, side_connection() as side:
        first = {}

        def slow_request():
            first["status"] = server.request(link("/slow/", token, sleep=2))[0]

        thread = threading.Thread(target=slow_request)
        thread.start()
        # The claim is taken (and committed: autocommit) before the view sleeps.
        assert wait_until(lambda: status(ticket) == "used")
        side.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = %s",
            [APPLICATION_NAME],
        )
        thread.join(30)
        assert first["status"] == 500
        assert status(ticket) == "valid", server.output()

        assert server.request(link("/slow/", token))[0] == 200
        assert server.request(link("/slow/", token))[0] == 403
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert status(ticket) == "used"


# A client that disconnects while the claim waits on the row lock -------------------------------


@pytest.mark.skipif(django.VERSION < (5, 0), reason="Django cancels on disconnect from 5.0")
def test_client_disconnecting_while_the_claim_waits_leaves_the_ticket_valid():
    ticket, token = issue()
    with AppServer("asgi") as server, side_connection() as locker, side_connection() as side:
        # Hold the row, as a slow concurrent transaction would.
        locker.execute("BEGIN")
        locker.execute(
            "SELECT id FROM django_ticketoffice_ticket WHERE id = %s FOR UPDATE", [ticket.pk]
        )
        client = socket.create_connection(("127.0.0.1", server.port))
        client.sendall(
            f"GET {link('/async-race/', token)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )

        def claim_waits():
            row = side.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'UPDATE%%django_ticketoffice_ticket%%'"
            ).fetchone()
            return row[0] == 1

        assert wait_until(claim_waits), server.output()
        client.close()  # the visitor gives up: the view's task is cancelled
        time.sleep(0.3)
        locker.execute("COMMIT")  # the claim now succeeds, for a task that is gone
        # The claim is undone: valid again, and the view never ran.
        assert wait_until(lambda: status(ticket) == "valid"), server.output()
        assert Visit.objects.count() == 0

        assert server.request(link("/async-race/", token))[0] == 200
        assert server.request(link("/async-race/", token))[0] == 403
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
