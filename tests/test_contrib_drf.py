"""Django REST framework integration (contrib.rest_framework), with the real DRF.

The views are in tests/api_views.py, under /api/drf/ in tests/urls.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from django_ticketoffice.contrib.rest_framework import TicketAuthentication
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_admitted, ticket_refused
from django_ticketoffice.stamps import get_store
from django_ticketoffice.tokens import make_token
from tests.conftest import free_port
from tests.models import Visit
from tests.test_concurrency import run_together

DOWNLOAD = "/api/drf/download/"
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


@pytest.fixture
def recorded():
    """Every ticket_admitted and ticket_refused sent during the test."""
    events: list[tuple[str, dict]] = []

    def admitted(sender, **kwargs):
        events.append(("admitted", kwargs))

    def refused(sender, **kwargs):
        events.append(("refused", kwargs))

    ticket_admitted.connect(admitted)
    ticket_refused.connect(refused)
    yield events
    ticket_admitted.disconnect(admitted)
    ticket_refused.disconnect(refused)


# Valid, replayed, revoked, expired ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_valid_ticket_is_used_once(client, recorded):
    ticket, token = issue()
    response = client.post(DOWNLOAD, **auth(token))
    assert response.status_code == 200
    body = response.json()
    assert body["file"] == "report.pdf"
    assert body["uuid"] == str(ticket.uuid)
    assert body["same"] is True  # request.auth is request.ticket
    assert body["authenticated"] is False  # AnonymousUser: a ticket is not an account
    assert state(ticket) == "used"
    assert [kind for kind, _ in recorded] == ["admitted"]

    response = client.post(DOWNLOAD, **auth(token))
    assert response.status_code == 403
    assert response.json() == {"detail": "The ticket has already been used.", "code": "used"}
    assert "WWW-Authenticate" not in response
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    kind, refusal = recorded[-1]
    assert (kind, refusal["reason"], refusal["uuid"]) == ("refused", "used", ticket.uuid)
    assert (refusal["place"], refusal["purpose"]) == ("api", "download")


@pytest.mark.django_db
def test_get_admits_without_using(client):
    ticket, token = issue()
    for _ in range(2):
        assert client.get(DOWNLOAD, **auth(token)).status_code == 200
    assert client.get("/api/drf/peek/", **auth(token)).json() == {"uuid": str(ticket.uuid)}
    assert state(ticket) == "valid"
    assert client.post(DOWNLOAD, **auth(token)).status_code == 200
    assert state(ticket) == "used"


@pytest.mark.django_db
def test_scheme_is_case_insensitive(client):
    _ticket, token = issue()
    assert client.post(DOWNLOAD, **auth(token, "ticket")).status_code == 200


@pytest.mark.django_db
def test_replay_with_redis_costs_no_query(
    client, redis, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ticket, token = issue()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(DOWNLOAD, **auth(token)).status_code == 200
    assert redis.get(get_store().key(ticket.uuid)) == b"used"
    with django_assert_num_queries(0):
        response = client.post(DOWNLOAD, **auth(token))
    assert response.status_code == 403
    assert response.json()["code"] == "used"


@pytest.mark.django_db
def test_revoked_ticket(client):
    ticket, token = issue()
    assert ticket.revoke() is True
    response = client.post(DOWNLOAD, **auth(token))
    assert response.status_code == 403
    assert response.json() == {"detail": "The ticket has been revoked.", "code": "revoked"}
    assert Visit.objects.count() == 0


@pytest.mark.django_db
def test_expired_ticket_is_refused_from_its_signature(client, django_assert_num_queries):
    ticket = Ticket(place="api", purpose="download", expiry_datetime=timezone.now())
    secret = ticket.generate_password()
    ticket.expiry_datetime -= timedelta(hours=1)
    ticket.save()
    with django_assert_num_queries(0):
        response = client.post(DOWNLOAD, **auth(make_token(ticket, secret)))
    assert response.status_code == 403
    assert response.json()["code"] == "expired"


# Forged and missing: 401, and nothing that tells which tickets exist -----------------------------


def forgeries(token: str) -> dict[str, str]:
    deleted, deleted_token = issue()
    deleted.delete()
    _, foreign = issue(place="elsewhere")
    return {
        "tampered": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        "truncated": token[:40],
        "garbage": "not-a-token",
        "foreign place": foreign,
        "deleted ticket": deleted_token,
        "too long": "A" * 300,
    }


@pytest.mark.django_db
def test_forged_tokens_get_one_answer(client, recorded):
    ticket, token = issue()
    for name, forged in forgeries(token).items():
        response = client.post(DOWNLOAD, **auth(forged))
        assert response.status_code == 401, name
        assert response.json() == INVALID, name
        assert response["WWW-Authenticate"] == CHALLENGE, name
    assert state(ticket) == "valid"
    assert Visit.objects.count() == 0
    assert {event["reason"] for kind, event in recorded} == {"invalid"}
    assert all(not event["error"].genuine for _, event in recorded)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer abc", "Basic dXNlcjpwYXNz"],
    ids=["none", "empty", "bearer", "basic"],
)
def test_missing_ticket_is_401_with_a_challenge(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.post(DOWNLOAD, **extra)
    assert response.status_code == 401
    assert response.json()["code"] == "missing"
    assert response["WWW-Authenticate"] == CHALLENGE


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Ticket", "Ticket  ", "Ticket a b", "Ticket \u00e9t\u00e9"],
    ids=["scheme only", "blank", "two", "latin-1"],
)
def test_malformed_header_is_invalid(client, header):
    response = client.post(DOWNLOAD, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json() == INVALID


@pytest.mark.django_db
def test_the_query_string_is_never_read(client):
    ticket, token = issue()
    response = client.post(f"{DOWNLOAD}?ticket={token}")
    assert response.status_code == 401
    assert response.json()["code"] == "missing"
    assert state(ticket) == "valid"


@pytest.mark.django_db
def test_consume_ticket_alone_requires_a_ticket(client):
    response = client.post("/api/drf/unguarded/")
    assert response.status_code == 401
    assert response.json()["code"] == "missing"
    ticket, token = issue()
    assert client.post("/api/drf/unguarded/", **auth(token)).status_code == 200
    assert state(ticket) == "used"


@pytest.mark.django_db
def test_cache_down_with_closed_policy_is_503(client, settings):
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }
    settings.TICKETOFFICE_CACHE = "down"
    settings.TICKETOFFICE_CACHE_FAILURE = "closed"
    ticket, token = issue()
    response = client.post(DOWNLOAD, **auth(token))
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert state(ticket) == "valid"


# Failures undo the claim -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 404, 409, 500])
def test_an_error_status_leaves_the_ticket_valid(client, status):
    ticket, token = issue()
    response = client.post(f"/api/drf/view/?status={status}", **auth(token))
    assert response.status_code == status
    assert state(ticket) == "valid"
    assert client.post("/api/drf/view/", **auth(token)).status_code == 200
    assert state(ticket) == "used"


@pytest.mark.django_db
@pytest.mark.parametrize("status", [201, 204])
def test_any_2xx_uses_the_ticket(client, status):
    ticket, token = issue()
    assert client.post(f"/api/drf/view/?status={status}", **auth(token)).status_code == status
    assert state(ticket) == "used"


@pytest.mark.django_db
@pytest.mark.parametrize("status", [302, 303, 304])
def test_a_redirect_or_not_modified_leaves_the_ticket_valid(client, status):
    ticket, token = issue()
    assert client.post(f"/api/drf/view/?status={status}", **auth(token)).status_code == status
    assert state(ticket) == "valid"


@pytest.mark.django_db
@pytest.mark.parametrize("failure", ["raise", "unrenderable"])
def test_an_exception_or_a_render_failure_leaves_the_ticket_valid(failure):
    client = Client(raise_request_exception=False)
    ticket, token = issue()
    response = client.post(f"/api/drf/view/?{failure}", **auth(token))
    assert response.status_code == 500
    # The view body ran (a Visit), but its response never made it out.
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert state(ticket) == "valid"


@pytest.mark.django_db
def test_options_never_consumes(client):
    ticket, token = issue()
    assert client.options("/api/drf/view/", **auth(token)).status_code == 200
    assert state(ticket) == "valid"


# request.user ------------------------------------------------------------------------------------


class MemberTicket(TicketAuthentication):
    """A project's subclass whose tickets name a user: IsAuthenticated works."""

    place, purpose = "api", "member"

    def get_user(self, ticket, request):
        return get_user_model().objects.get(pk=ticket.data["user_id"])


@api_view(["GET"])
@authentication_classes([MemberTicket])
@permission_classes([IsAuthenticated])
def whoami(request):
    return Response({"user": request.user.get_username(), "ticket": str(request.auth.uuid)})


@pytest.mark.django_db
def test_get_user_hook_makes_a_real_user():
    user = get_user_model().objects.create_user("ada")
    ticket, token = issue("api", "member", data={"user_id": user.pk})
    factory = APIRequestFactory()
    response = whoami(factory.get("/whoami/", **auth(token)))
    assert response.status_code == 200
    assert response.data == {"user": "ada", "ticket": str(ticket.uuid)}
    response = whoami(factory.get("/whoami/"))
    assert response.status_code == 401  # IsAuthenticated; the challenge is ours
    assert response["WWW-Authenticate"] == CHALLENGE


# The OpenAPI schema (drf-spectacular) ------------------------------------------------------------


def test_openapi_schema_names_the_scheme():
    from drf_spectacular.generators import SchemaGenerator

    # tests/settings.py sets REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS to drf-spectacular's.
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert schema["components"]["securitySchemes"]["ticketAuth"] == {
        "type": "http",
        "scheme": "ticket",
        "description": "A django-ticketoffice ticket token: 'Authorization: Ticket <token>'.",
    }
    operation = schema["paths"]["/api/drf/download/"]["post"]
    assert operation["security"] == [{"ticketAuth": []}]
    assert schema["paths"]["/api/drf/view/"]["post"]["security"] == [{"ticketAuth": []}]


# Exactly once under 20 concurrent requests (PostgreSQL) ------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres")
@pytest.mark.parametrize("cache", ["redis", "locmem"])
def test_twenty_concurrent_requests_use_the_ticket_once(request, cache, settings):
    if cache == "redis":
        request.getfixturevalue("redis")
    else:
        settings.TICKETOFFICE_CACHE = "default"
    ticket, token = issue()

    def call():
        return Client().post(DOWNLOAD, **auth(token)).status_code

    statuses = run_together(20, call)
    assert sorted(statuses) == [200] + [403] * 19, statuses
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert state(ticket) == "used"
