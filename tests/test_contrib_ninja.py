"""Django Ninja integration (django_ticketoffice.contrib.ninja), with the real Ninja.

The operations are in tests/api_views.py, under /api/ninja/ in tests/urls.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from ninja import NinjaAPI

from django_ticketoffice.contrib.ninja import TicketAuth, consume_ticket
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import make_token
from tests.models import Visit
from tests.test_concurrency import run_together

API = "/api/ninja"
INVALID = {"detail": "Invalid ticket.", "code": "invalid"}
CHALLENGE = 'Ticket realm="api"'


def issue(place="api", purpose="download", **kwargs):
    kwargs.setdefault("data", {"file": "report.pdf"})
    return Ticket.objects.issue(place, purpose, **kwargs)


def auth(token, scheme="Ticket"):
    return {"HTTP_AUTHORIZATION": f"{scheme} {token}"}


def state(ticket):
    ticket.refresh_from_db()
    return ticket.status


@pytest.mark.django_db
@pytest.mark.parametrize("operation", ["download", "async-download"])
def test_a_valid_ticket_is_used_once(client, operation):
    ticket, token = issue()
    response = client.post(f"{API}/{operation}", **auth(token))
    assert response.status_code == 200
    assert response.json()["file"] == "report.pdf"
    assert state(ticket) == "used"
    response = client.post(f"{API}/{operation}", **auth(token))
    assert response.status_code == 403
    assert response.json() == {"detail": "The ticket has already been used.", "code": "used"}
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1


@pytest.mark.django_db
def test_request_auth_is_the_ticket(client):
    _ticket, token = issue()
    assert client.post(f"{API}/download", **auth(token)).json()["same"] is True
    _, other = issue()
    assert client.get(f"{API}/peek", **auth(other)).json() == {"uuid": str(_.uuid)}
    assert state(_) == "valid"  # no consume_ticket: admitted only


@pytest.mark.django_db
def test_replay_with_redis_costs_no_query(
    client, redis, django_assert_num_queries, django_capture_on_commit_callbacks
):
    _ticket, token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/download", **auth(token)).status_code == 200
    with django_assert_num_queries(0):
        response = client.post(f"{API}/download", **auth(token))
    assert response.status_code == 403
    assert response.json()["code"] == "used"


@pytest.mark.django_db
def test_revoked_and_expired(client):
    revoked, revoked_token = issue()
    revoked.revoke()
    response = client.post(f"{API}/download", **auth(revoked_token))
    assert (response.status_code, response.json()["code"]) == (403, "revoked")

    expired = Ticket(place="api", purpose="download", expiry_datetime=timezone.now())
    secret = expired.generate_password()
    expired.expiry_datetime -= timedelta(minutes=1)
    expired.save()
    response = client.post(f"{API}/download", **auth(make_token(expired, secret)))
    assert (response.status_code, response.json()["code"]) == (403, "expired")
    assert Visit.objects.count() == 0


@pytest.mark.django_db
def test_forged_tokens_get_one_answer(client):
    ticket, token = issue()
    deleted, deleted_token = issue()
    deleted.delete()
    _, foreign = issue(place="elsewhere")
    for forged in (token[:-3] + "AAA", token[:50], "x", foreign, deleted_token, "Ticket a b"):
        response = client.post(f"{API}/download", **auth(forged))
        assert response.status_code == 401, forged
        assert response.json() == INVALID, forged
        assert response["WWW-Authenticate"] == CHALLENGE
    assert state(ticket) == "valid"


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer abc", "Basic dXNlcjpwYXNz"])
def test_missing_ticket_is_401_with_a_challenge(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.post(f"{API}/download", **extra)
    assert response.status_code == 401
    assert response.json()["code"] == "missing"
    assert response["WWW-Authenticate"] == CHALLENGE


@pytest.mark.django_db
def test_the_query_string_is_never_read(client):
    ticket, token = issue()
    response = client.post(f"{API}/download?ticket={token}")
    assert response.status_code == 401
    assert state(ticket) == "valid"


@pytest.mark.django_db
def test_bearer_variant(client):
    ticket, token = issue()
    # The Ticket scheme is not this operation's: no ticket.
    assert client.post(f"{API}/bearer", **auth(token)).status_code == 401
    assert state(ticket) == "valid"
    response = client.post(f"{API}/bearer", **auth(token, "Bearer"))
    assert response.status_code == 200
    assert state(ticket) == "used"
    response = client.post(f"{API}/bearer", **auth(token, "Bearer"))
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("status", [302, 304, 400, 404, 409, 500])
def test_an_error_or_a_redirect_leaves_the_ticket_valid(client, status):
    ticket, token = issue()
    assert client.post(f"{API}/fail/{status}", **auth(token)).status_code == status
    assert state(ticket) == "valid"
    assert client.post(f"{API}/fail/201", **auth(token)).status_code == 201
    assert state(ticket) == "used"
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 2


@pytest.mark.django_db
def test_an_exception_leaves_the_ticket_valid():
    ticket, token = issue()
    response = Client(raise_request_exception=False).post(f"{API}/boom", **auth(token))
    assert response.status_code == 500
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert state(ticket) == "valid"


@pytest.mark.django_db
def test_an_operation_without_ticket_auth_is_refused_by_consume_ticket():
    api = NinjaAPI(urls_namespace="tests-ninja-unguarded")

    @api.post("/open")
    @consume_ticket
    def open_operation(request):
        return {"ok": True}

    from django.test import RequestFactory

    patterns, _app, _namespace = api.urls
    match = next(m for m in (p.resolve("open") for p in patterns) if m is not None)
    response = match.func(RequestFactory().post("/open"))
    assert response.status_code == 401
    # This API did not call handle_refusals(): Ninja's own handler, same status.
    assert json.loads(response.content) == {
        "detail": "A ticket is required in the Authorization header."
    }


def test_openapi_schema_names_the_scheme(client):
    schema = client.get(f"{API}/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TicketAuth"] == {"type": "http", "scheme": "ticket"}
    assert schemes["TicketBearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ticket",
    }
    assert schema["paths"]["/api/ninja/download"]["post"]["security"] == [{"TicketAuth": []}]
    assert schema["paths"]["/api/ninja/bearer"]["post"]["security"] == [{"TicketBearerAuth": []}]


def test_a_subclass_names_its_own_scheme():
    class VisitAuth(TicketAuth):
        place, purpose = "museum", "visit"

    auth_instance = VisitAuth()
    assert (auth_instance.place, auth_instance.purpose) == ("museum", "visit")
    assert auth_instance.openapi_security_schema == {"type": "http", "scheme": "ticket"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres")
@pytest.mark.parametrize("operation", ["download", "async-download"])
def test_twenty_concurrent_requests_use_the_ticket_once(redis, operation):
    ticket, token = issue()

    def call():
        return Client().post(f"{API}/{operation}", **auth(token)).status_code

    statuses = run_together(20, call)
    assert sorted(statuses) == [200] + [403] * 19, statuses
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert state(ticket) == "used"
