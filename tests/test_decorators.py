"""The web layer: @invitation_required, @stamp_invitation and the CBV mixin, over HTTP."""

from __future__ import annotations

import inspect
import json
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import AsyncClient
from django.utils import timezone

from django_ticketoffice import views as ticket_views
from django_ticketoffice.decorators import invitation_required, session_key, stamp_invitation
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_refused
from django_ticketoffice.stamps import get_store
from django_ticketoffice.statements import can_return_rows
from tests import views
from tests.models import Visit

pytestmark = pytest.mark.django_db

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
PASSWORD = "I love Paris"
SESSION_KEY = session_key("louvre", "visit")


def issue(place="louvre", purpose="visit", **kwargs):
    kwargs.setdefault("data", {"first_name": "Léonard"})
    return Ticket.objects.issue(place, purpose, **kwargs)


def chosen(place="louvre", purpose="visit", **fields):
    ticket = Ticket(place=place, purpose=purpose, data={"first_name": "Léonard"}, **fields)
    ticket.set_password(PASSWORD)
    ticket.save()
    return ticket


def call(method, *args, **kwargs):
    """Run one AsyncClient call to completion from a sync test."""

    async def request():
        return await method(*args, **kwargs)

    return async_to_sync(request)()


def url(path, **params):
    return f"{path}?{urlencode(params)}" if params else path


def template_names(response):
    return [template.name for template in response.templates]


def assert_protected(response, policy="no-referrer"):
    assert response["Referrer-Policy"] == policy
    assert "no-store" in response["Cache-Control"]
    assert "no-cache" in response["Cache-Control"]


def assert_page(response, template_name):
    """The response is that template: rendered now, or served from the page cache."""
    if template_name in template_names(response):
        return
    if response.request["REQUEST_METHOD"] == "HEAD":
        assert response.content == b""  # the test client drops HEAD bodies, as servers do
        return
    cached = {page for (name, *_), page in ticket_views._pages.items() if name == template_name}
    assert response.content in cached, (template_name, response.content)


def assert_refused(response, status, reason):
    assert response.status_code == status, response.content
    assert_page(response, f"ticketoffice/{status}.html")
    assert_protected(response)
    if reason is not None and response.content:
        assert f'data-reason="{reason}"'.encode() in response.content


def enter(client, path, token, **params):
    """Follow a one-link URL: the redirect, then the clean URL."""
    response = client.get(url(path, ticket=token, **params))
    assert response.status_code == 302, response.content
    return client.get(response["Location"])


def stored(ticket):
    return Ticket.objects.get(pk=ticket.pk)


# Refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_no_credentials_is_401_for_every_method(client, method, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.generic(method, "/peek/")
    assert_refused(response, 401, "missing")
    if method != "HEAD":
        assert b"A ticket is required" in response.content


def test_unrelated_parameters_are_not_credentials(client):
    assert_refused(client.get("/peek/?page=2"), 401, "missing")


@pytest.mark.parametrize("method", METHODS)
def test_invalid_credentials_are_403_for_every_method(client, method):
    ticket, token = issue()
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for params in [
        {"ticket": forged},
        {"ticket": ""},
        {"ticket": "garbage"},
        {"ticket": token[:40]},
        {"uuid": str(ticket.uuid)},
        {"password": "I love Paris"},
        {"uuid": "foo", "password": "bar"},
        {"uuid": str(uuid.uuid4()), "password": "bar"},
        {"uuid": str(ticket.uuid), "password": "wrong"},
        {"uuid": "é" * 32, "password": "bar"},
    ]:
        response = client.generic(method, url("/peek/", **params))
        assert_refused(response, 403, "invalid")
    assert not stored(ticket).used


def test_forged_credentials_never_reveal_state(client):
    ticket, token = issue()
    ticket.use()
    forged = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    response = client.get(url("/peek/", ticket=forged))
    assert_refused(response, 403, "invalid")
    assert b"This link has already been used" not in response.content
    # Wrong password, used ticket: still the generic page (0.2 semantics).
    legacy = chosen()
    legacy.use()
    response = client.get(url("/peek/", uuid=legacy.uuid, password="wrong"))
    assert_refused(response, 403, "invalid")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("state", ["used", "revoked", "expired"])
def test_genuine_refusals_name_the_reason(client, method, state):
    ticket, token = issue()
    legacy = chosen()
    for each in (ticket, legacy):
        if state == "used":
            each.use()
        elif state == "revoked":
            each.revoke()
        else:
            Ticket.objects.filter(pk=each.pk).update(
                expiry_datetime=timezone.now() - timedelta(seconds=1)
            )
    response = client.generic(method, url("/peek/", ticket=token))
    assert_refused(response, 403, state)
    response = client.generic(method, url("/peek/", uuid=legacy.uuid, password=PASSWORD))
    assert_refused(response, 403, state)
    assert client.session.get(SESSION_KEY) is None


def test_signed_expiry_is_refused_without_query(client, django_assert_num_queries):
    _, token = issue(expiry_datetime=timezone.now() - timedelta(minutes=1))
    with django_assert_num_queries(0):
        response = client.get(url("/peek/", ticket=token))
    assert_refused(response, 403, "expired")
    assert b"This link has expired" in response.content


def test_refusal_query_counts(
    client, django_assert_num_queries, stamp_cache, django_capture_on_commit_callbacks
):
    ticket, token = issue()
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    with django_assert_num_queries(0):
        assert_refused(client.get(url("/peek/", ticket=forged)), 403, "invalid")
    with django_assert_num_queries(0):
        assert_refused(client.get(url("/peek/", ticket=token[:60])), 403, "invalid")
    with django_assert_num_queries(0):
        assert_refused(client.get(url("/orsay/", ticket=token)), 403, "invalid")
    with django_assert_num_queries(0):
        assert_refused(client.get(url("/peek/", uuid="foo", password="x")), 403, "invalid")
    with django_assert_num_queries(1):
        response = client.get(url("/peek/", uuid=uuid.uuid4(), password="x"))
    assert_refused(response, 403, "invalid")
    # A used ticket: the database says so once, the stamp cache afterwards.
    Ticket.objects.filter(pk=ticket.pk).update(usage_datetime=timezone.now())
    # The stamp is written back after the commit.
    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_num_queries(1),
    ):
        assert_refused(client.get(url("/peek/", ticket=token)), 403, "used")
    with django_assert_num_queries(0):
        assert_refused(client.get(url("/peek/", ticket=token)), 403, "used")


def test_refusal_sends_signal(client):
    ticket, token = issue()
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    ticket_refused.connect(receiver)
    try:
        client.get("/peek/")
        client.get(url("/orsay/", uuid=ticket.uuid, password="x"))
    finally:
        ticket_refused.disconnect(receiver)
    assert [r["reason"] for r in received] == ["missing", "invalid"]
    assert received[0]["uuid"] is None
    assert received[1]["uuid"] == ticket.uuid
    assert received[1]["place"] == "orsay"
    assert all(token not in repr(r) for r in received)


# Admission: redirect, session, view ---------------------------------------------------


def test_valid_token_redirects_to_clean_url(client, django_assert_num_queries):
    ticket, token = issue()
    with django_assert_num_queries(1):
        response = client.get(url("/peek/", page="2", ticket=token, q="x y"))
    assert response.status_code == 302
    assert response["Location"] == "/peek/?page=2&q=x+y"
    assert token not in response["Location"]
    assert_protected(response)
    assert client.session[SESSION_KEY] == str(ticket.uuid)
    assert not stored(ticket).used
    with django_assert_num_queries(1):
        response = client.get(response["Location"])
    assert response.status_code == 200
    assert response.content == f"peek {ticket.uuid} 2".encode()
    assert_protected(response, "same-origin")


def test_redirect_drops_every_credential_parameter(client):
    ticket, token = issue()
    response = client.get(
        f"/peek/?ticket={token}&uuid={ticket.uuid}&password=x&ticket={token}&a=1&a=2"
    )
    assert response.status_code == 302
    assert response["Location"] == "/peek/?a=1&a=2"


def test_redirect_without_other_parameters(client):
    _, token = issue()
    response = client.get(url("/peek/", ticket=token))
    assert response["Location"] == "/peek/"


def test_head_with_token_redirects(client):
    _, token = issue()
    response = client.head(url("/peek/", ticket=token))
    assert response.status_code == 302
    assert response["Location"] == "/peek/"


def test_redirect_never_points_to_another_host(client):
    _, token = issue()
    response = client.get(
        url("/x/anywhere/", ticket=token, page="1"), PATH_INFO="//evil.example/x/anywhere/"
    )
    assert response.status_code == 302
    location = response["Location"]
    assert not location.startswith("//")
    assert location == "/%2Fevil.example/x/anywhere/?page=1"
    # The escaped path still reaches the same view, on the same host.
    assert client.get(location).status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_non_get_with_credentials_redirects_307(client, method):
    ticket, token = issue()
    response = client.generic(
        method,
        url("/inspect/", ticket=token, keep="me"),
        "note=hello",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 307
    assert response["Location"] == "/inspect/?keep=me"
    assert_protected(response)
    assert client.session[SESSION_KEY] == str(ticket.uuid)
    response = client.post(response["Location"], {"note": "hello"})
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["method"] == "POST"
    assert body["note"] == "hello"
    assert body["query"] == "keep=me"


def test_post_307_can_be_followed_by_the_client(client):
    _, token = issue()
    response = client.post(url("/inspect/", ticket=token), {"note": "kept"}, follow=True)
    assert response.redirect_chain == [("/inspect/", 307)]
    assert json.loads(response.content)["note"] == "kept"


def test_0_2_uuid_and_password_credentials(client, django_assert_num_queries):
    ticket = chosen()
    for form in (str(ticket.uuid), ticket.uuid.hex, str(ticket.uuid).upper()):
        client.cookies.clear()
        with django_assert_num_queries(1):
            response = client.get(url("/peek/", uuid=form, password=PASSWORD, page="3"))
        assert response.status_code == 302
        assert response["Location"] == "/peek/?page=3"
        assert client.session[SESSION_KEY] == str(ticket.uuid)
        response = client.get(response["Location"])
        assert response.status_code == 200
        assert response.content == f"peek {ticket.uuid} 3".encode()


def test_session_reuse_and_per_place_keys(client):
    ticket, token = issue()
    enter(client, "/peek/", token)
    # Another view of the same place and purpose: no credentials needed.
    response = client.get("/inspect/")
    assert response.status_code == 200
    assert json.loads(response.content)["uuid"] == str(ticket.uuid)
    assert client.get("/peek/").status_code == 200
    # Another place has its own session key.
    assert_refused(client.get("/orsay/"), 401, "missing")
    # A fresh browser has no session.
    client.cookies.clear()
    assert_refused(client.get("/peek/"), 401, "missing")


def test_two_places_in_one_session(client):
    louvre, louvre_token = issue()
    orsay, orsay_token = issue(place="orsay")
    enter(client, "/peek/", louvre_token)
    assert enter(client, "/orsay/", orsay_token).status_code == 200
    assert client.session[SESSION_KEY] == str(louvre.uuid)
    assert client.session[session_key("orsay", "visit")] == str(orsay.uuid)
    assert client.get("/peek/").status_code == 200
    assert client.get("/orsay/").status_code == 200


def test_new_credentials_replace_the_session_ticket(client):
    _first, first_token = issue()
    second, second_token = issue()
    enter(client, "/peek/", first_token)
    response = enter(client, "/inspect/", second_token)
    assert json.loads(response.content)["uuid"] == str(second.uuid)
    assert client.session[SESSION_KEY] == str(second.uuid)


def test_bad_credentials_win_over_a_good_session(client):
    _, token = issue()
    enter(client, "/peek/", token)
    assert_refused(client.get(url("/peek/", ticket="forged")), 403, "invalid")


def test_session_ticket_revoked_later(client):
    ticket, token = issue()
    enter(client, "/peek/", token)
    ticket.revoke()
    assert_refused(client.get("/peek/"), 403, "revoked")


def test_session_ticket_expired_later(client):
    ticket, token = issue(lifetime=timedelta(hours=1))
    enter(client, "/peek/", token)
    Ticket.objects.filter(pk=ticket.pk).update(
        expiry_datetime=timezone.now() - timedelta(seconds=1)
    )
    assert_refused(client.get("/peek/"), 403, "expired")


def test_garbage_in_session_is_refused(client, settings):
    session = client.session
    session[SESSION_KEY] = "not-a-uuid"
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert_refused(client.get("/peek/"), 403, "invalid")


def test_request_attributes(client):
    ticket, token = issue()
    response = enter(client, "/inspect/", token)
    body = json.loads(response.content)
    assert body["uuid"] == str(ticket.uuid)
    assert body["same"] is True
    assert body["user"] is None


def test_authenticated_user_is_untouched(client):
    user = get_user_model().objects.create_user("mona", password="x")
    client.force_login(user)
    _, token = issue()
    response = enter(client, "/inspect/", token)
    assert json.loads(response.content)["user"] == "mona"


def test_redirect_false_runs_the_view_directly(client, django_assert_num_queries):
    ticket, token = issue()
    with django_assert_num_queries(3):  # SELECT, claim UPDATE, INSERT Visit
        response = client.get(url("/race/", ticket=token))
    assert response.status_code == 200
    assert response.content == b"raced"
    assert_protected(response)
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert stored(ticket).used
    assert SESSION_KEY not in client.session
    assert_refused(client.get(url("/race/", ticket=token)), 403, "used")
    assert Visit.objects.count() == 1


def test_redirect_setting_off(client, settings):
    settings.TICKETOFFICE_REDIRECT = False
    ticket, token = issue()
    response = client.get(url("/peek/", ticket=token, page="4"))
    assert response.status_code == 200
    assert response.content == f"peek {ticket.uuid} 4".encode()
    assert SESSION_KEY not in client.session


def test_without_session_middleware(client, settings):
    settings.MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
    ticket, token = issue()
    response = client.get(url("/louvre/", ticket=token))
    assert response.status_code == 200
    assert response.content == "Welcome to the Louvre museum Léonard".encode()
    assert_protected(response)
    assert stored(ticket).used
    assert_refused(client.get("/louvre/"), 401, "missing")
    assert_refused(client.get(url("/louvre/", ticket=token)), 403, "used")


def test_custom_token_parameter(client, settings):
    settings.TICKETOFFICE_TOKEN_PARAMETER = "t"
    _, token = issue()
    response = client.get(url("/peek/", t=token, ticket="kept"))
    assert response.status_code == 302
    assert response["Location"] == "/peek/?ticket=kept"


# Stamping -----------------------------------------------------------------------------


def test_stamp_on_success(client, django_assert_num_queries, django_capture_on_commit_callbacks):
    ticket, token = issue()
    response = client.get(url("/louvre/", ticket=token))
    assert response.status_code == 302
    assert not stored(ticket).used
    # One statement: the claim, UPDATE ... RETURNING the ticket (MySQL and
    # MariaDB have no UPDATE ... RETURNING: UPDATE, then SELECT).
    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_num_queries(1 if can_return_rows("default") else 2),
    ):
        response = client.get(response["Location"])
    assert response.status_code == 200
    assert response.content == "Welcome to the Louvre museum Léonard".encode()
    assert_protected(response, "same-origin")
    assert stored(ticket).used
    # The stamp cache knows now: refused without a query.
    with django_assert_num_queries(0):
        assert_refused(client.get("/louvre/"), 403, "used")
    assert_refused(client.get(url("/louvre/", ticket=token)), 403, "used")


@pytest.mark.parametrize("status", [200, 201, 204, 302, 399])
def test_stamped_below_400(client, status):
    ticket, token = issue()
    response = client.get(url(f"/fail/{status}/", ticket=token))
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == status
    assert stored(ticket).used


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_not_stamped_from_400(client, status):
    ticket, token = issue()
    enter_response = client.get(url(f"/fail/{status}/", ticket=token))
    assert enter_response.status_code == 302
    response = client.get(enter_response["Location"])
    assert response.status_code == status
    assert_protected(response, "same-origin")
    assert not stored(ticket).used
    # The ticket is still good: the same session can try again, and succeed.
    assert client.get(enter_response["Location"]).status_code == status
    response = client.get("/louvre/")
    assert response.status_code == 200
    assert stored(ticket).used


def test_not_stamped_when_the_view_raises(client):
    ticket, token = issue()
    assert client.get(url("/boom/", ticket=token)).status_code == 302
    with pytest.raises(RuntimeError, match="the view failed"):
        client.get("/boom/")
    assert not stored(ticket).used
    with pytest.raises(RuntimeError):
        client.get("/boom/")
    assert client.get("/louvre/").status_code == 200
    assert stored(ticket).used


def test_not_stamped_when_the_view_raises_with_redis(client, redis):
    ticket, token = issue()
    client.get(url("/boom/", ticket=token))
    with pytest.raises(RuntimeError):
        client.get("/boom/")
    assert not stored(ticket).used
    assert redis.keys("*") == []  # the claim was released
    assert client.get("/louvre/").status_code == 200


def test_stamp_only_on_post(client):
    ticket, token = issue()
    response = enter(client, "/confirm/", token)
    assert response.content == b"please confirm"
    assert client.get("/confirm/").content == b"please confirm"
    assert client.head("/confirm/").status_code == 200
    assert not stored(ticket).used
    response = client.post("/confirm/")
    assert response.status_code == 200
    assert response.content == b"confirmed"
    assert stored(ticket).used
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert_refused(client.post("/confirm/"), 403, "used")
    assert_refused(client.get("/confirm/"), 403, "used")
    assert Visit.objects.count() == 1


def test_stamp_without_invitation_required(client):
    with pytest.raises(ImproperlyConfigured, match="invitation_required"):
        client.get("/unguarded/")


def test_claim_held_by_a_concurrent_request(client, redis):
    """While another request holds the Redis claim, this one is refused and its view never runs."""
    ticket, token = issue()
    store = get_store()
    assert store.claim(ticket.uuid) is True  # the other request is running the view
    assert_refused(client.get(url("/race/", ticket=token)), 403, "used")
    assert Visit.objects.count() == 0
    assert not stored(ticket).used
    store.release(ticket.uuid)  # the other request failed and let go
    assert client.get(url("/race/", ticket=token)).status_code == 200
    assert Visit.objects.count() == 1


def test_claim_lost_in_the_database(rf):
    """Another request used the ticket between admission and claim: 403, view not run."""
    _ticket, token = issue()
    ran = []

    @stamp_invitation
    def inner(request):
        ran.append(True)
        return HttpResponse("ran")

    def racing(request):
        Ticket.objects.filter(pk=request.ticket.pk).update(usage_datetime=timezone.now())
        return inner(request)

    view = invitation_required("louvre", "visit", redirect=False)(racing)
    response = view(rf.post(url("/", ticket=token)))
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content
    assert_protected(response)
    assert ran == []


# Refusal handlers ----------------------------------------------------------------------


def test_refusal_handler_setting(client, settings):
    settings.TICKETOFFICE_REFUSAL_HANDLER = "tests.views.custom_refusal"
    response = client.get("/peek/")
    assert response.status_code == 401
    assert response.content == b"custom missing"
    assert response.templates == []
    assert_protected(response)
    response = client.post(url("/peek/", ticket="forged"))
    assert response.status_code == 403
    assert response.content == b"custom invalid"


def test_refusal_handler_argument(client):
    response = client.get("/handled/")
    assert (response.status_code, response.content) == (401, b"custom missing")
    assert_protected(response)
    ticket, token = issue()
    ticket.use()
    response = client.get(url("/handled/", ticket=token))
    assert (response.status_code, response.content) == (403, b"custom used")


def test_refusal_handler_callable_setting(client, settings):
    settings.TICKETOFFICE_REFUSAL_HANDLER = views.custom_refusal
    assert client.get("/peek/").content == b"custom missing"


def test_refusal_templates_can_be_overridden(client, settings, tmp_path):
    (tmp_path / "ticketoffice").mkdir()
    (tmp_path / "ticketoffice" / "401.html").write_text("our own 401 {{ reason }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    response = client.get("/peek/")
    assert response.status_code == 401
    assert response.content == b"our own 401 missing"


# Decorator mechanics -------------------------------------------------------------------


def test_functools_wraps_metadata():
    assert views.visit_louvre.__name__ == "visit_louvre"
    assert views.visit_louvre.__module__ == "tests.views"
    assert views.inspect.__doc__ == "Report what the decorator attached to the request."
    assert views.inspect.__wrapped__.__name__ == "inspect"
    assert inspect.unwrap(views.visit_louvre).__qualname__ == "visit_louvre"
    assert views.confirm.__name__ == "confirm"
    assert iscoroutinefunction(views.async_visit)
    assert iscoroutinefunction(views.async_stamp)
    assert not iscoroutinefunction(views.peek)


def test_decorator_keeps_no_per_request_state():
    decorator = invitation_required("louvre", "visit")
    first = decorator(lambda request: None)
    second = decorator(lambda request: None)
    assert first is not second
    assert not hasattr(decorator, "ticket")


# Async views ----------------------------------------------------------------------------


def test_async_view():
    client = AsyncClient()
    ticket, token = issue()
    response = call(client.get, url("/async/", ticket=token))
    assert response.status_code == 302
    assert response["Location"] == "/async/"
    response = call(client.get, "/async/")
    assert response.status_code == 200
    assert response.content == f"async {ticket.uuid}".encode()
    assert_protected(response, "same-origin")
    assert call(AsyncClient().get, "/async/").status_code == 401


def test_async_stamp():
    client = AsyncClient()
    ticket, token = issue()
    assert call(client.get, url("/async-stamp/", ticket=token)).status_code == 302
    response = call(client.get, "/async-stamp/")
    assert response.status_code == 200
    assert response.content == b"async stamped"
    assert stored(ticket).used
    response = call(client.get, "/async-stamp/")
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content
    assert_protected(response)


def test_async_refusals():
    client = AsyncClient()
    response = call(client.post, "/async/")
    assert response.status_code == 401
    response = call(client.get, url("/async/", ticket="forged"))
    assert response.status_code == 403
    assert "ticketoffice/403.html" in template_names(response)


# Class-based views ----------------------------------------------------------------------


def test_cbv_mixin(client):
    ticket, token = issue()
    response = client.get(url("/cbv/", ticket=token))
    assert response.status_code == 302
    assert response["Location"] == "/cbv/"
    response = client.get("/cbv/")
    assert response.status_code == 200
    assert response.content == "cbv Léonard".encode()
    assert_protected(response, "same-origin")
    assert stored(ticket).used
    assert_refused(client.get("/cbv/"), 403, "used")
    assert_refused(client.post("/cbv/"), 403, "used")
