"""The API integrations and one-click unsubscribe through a real server (gunicorn).

20 clients send the same ticket at once; the view body runs once. Needs
PostgreSQL (the server shares the test database): ``.ci/run`` runs it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store
from tests.models import Visit
from tests.servers import AppServer, burst

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


@pytest.fixture
def server(redis):
    """gunicorn with the suite's Redis as its stamp cache."""
    port = redis.connection_pool.connection_kwargs.get("port", 6379)
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    env = {
        "TEST_TICKETOFFICE_CACHE": "server",
        "TEST_SERVER_REDIS_URL": f"redis://127.0.0.1:{port}/{db}",
    }
    with AppServer("wsgi", env=env) as running:
        yield running


@pytest.mark.parametrize(
    "path", ["/api/drf/download/", "/api/ninja/download", "/api/ninja/async-download"]
)
def test_twenty_concurrent_api_calls_run_the_view_once(server, redis, path):
    ticket, token = Ticket.objects.issue(
        "api", "download", data={"file": "report.pdf"}, lifetime=timedelta(hours=1)
    )
    headers = {"Authorization": f"Ticket {token}"}
    results = burst(20, lambda: server.request(path, "POST", headers))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [403] * 19, (statuses, server.output())
    refusals = [json.loads(body) for status, _, body in results if status == 403]
    assert {r["code"] for r in refusals} == {"used"}
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert redis.get(get_store().key(ticket.uuid)) == b"used"
    status, response_headers, _ = server.request(path, "POST")
    assert status == 401
    assert response_headers["WWW-Authenticate"] == 'Ticket realm="api"'


def test_one_click_unsubscribe_through_gunicorn(server):
    _ticket, token = Ticket.objects.issue(
        "mail", "unsubscribe", data={"recipient": "ada@example.com", "list": "news"}
    )
    path = f"/mail/unsubscribe/?{urlencode({'ticket': token})}"
    body = "List-Unsubscribe=One-Click"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    results = burst(5, lambda: server.request(path, "POST", headers, body))
    # Every click is a 200: the first unsubscribes, the others find it done.
    assert sorted(status for status, _, _ in results) == [200] * 5, server.output()
    assert all("Set-Cookie" not in h and "Location" not in h for _, h, _ in results)
    assert Visit.objects.count() == 1
