"""Where the library meets Django's machinery (issue 9), in process.

Sessions, lazy responses, interrupted claims, error reports, HEAD and OPTIONS,
a revocation during a claim, tokens too long, 0.2 refusal timing, oversized
URLs. The same promises through real servers are in tests/test_servers.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta
from importlib import import_module
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.utils.log import AdminEmailHandler

from django_ticketoffice import claims
from django_ticketoffice.credentials import MASK, conceal_credentials
from django_ticketoffice.decorators import session_key, stamp_invitation
from django_ticketoffice.exceptions import TicketError
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_used
from django_ticketoffice.stamps import get_store
from django_ticketoffice.tokens import MAX_TOKEN_LENGTH, make_token, token_length
from tests import hashers as counting
from tests.models import Visit

pytestmark = pytest.mark.django_db

PASSWORD = "I love Paris"
SESSION_KEY = session_key("louvre", "visit")


def issue(**kwargs):
    kwargs.setdefault("data", {"first_name": "Léonard"})
    kwargs.setdefault("lifetime", timedelta(hours=1))
    return Ticket.objects.issue("louvre", "visit", **kwargs)


def link(path, token, **params):
    return f"{path}?{urlencode({'ticket': token, **params})}"


def state(ticket):
    ticket.refresh_from_db()
    return ticket.status


# 1. Session fixation ------------------------------------------------------------------

ENGINES = [
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cache",
    "django.contrib.sessions.backends.cached_db",
    "django.contrib.sessions.backends.signed_cookies",
]


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.rsplit(".", 1)[1])
def test_a_planted_session_id_never_gains_the_ticket(settings, engine):
    settings.SESSION_ENGINE = engine
    # The attacker makes a session of his own and plants its id in the victim's browser.
    planted = import_module(engine).SessionStore()
    planted["theme"] = "dark"
    planted.save()
    attacker_key = planted.session_key
    cookie = django_settings.SESSION_COOKIE_NAME
    victim, attacker = Client(), Client()
    victim.cookies[cookie] = attacker_key
    attacker.cookies[cookie] = attacker_key

    ticket, token = issue()
    response = victim.get(link("/louvre/", token))
    assert response.status_code == 302
    victim_key = victim.cookies[cookie].value
    assert victim_key != attacker_key  # rotated, as login() does

    assert attacker.get("/peek/").status_code == 401
    assert attacker.get("/louvre/").status_code == 401
    assert state(ticket) == "valid"
    if engine.endswith(".db"):
        assert not Session.objects.filter(session_key=attacker_key).exists()

    response = victim.get("/louvre/")
    assert response.status_code == 200
    assert state(ticket) == "used"
    # The rest of the session survives the rotation.
    assert import_module(engine).SessionStore(victim_key)["theme"] == "dark"


def test_a_fresh_session_is_not_rotated_for_nothing(settings):
    from django.test.utils import CaptureQueriesContext

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    _ticket, token = issue()
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(link("/peek/", token)).status_code == 302
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    # Django's own creation of the new session (one INSERT), no create + delete.
    assert statements.count("INSERT") == 1 and "DELETE" not in statements
    assert Session.objects.count() == 1


# 2. Lazy responses ------------------------------------------------------------------------


def test_template_view_that_fails_to_render_leaves_the_ticket_valid(client, stamp_cache):
    ticket, token = issue()
    assert client.get(link("/gallery/", token)).status_code == 302
    with pytest.raises(RuntimeError, match="failed to render"):
        client.get("/gallery/?broken=1")
    assert state(ticket) == "valid"
    assert get_store().lookup(ticket.uuid) is None
    assert stored_claim(ticket) is None

    response = client.get("/gallery/")
    assert response.status_code == 200
    assert b"Mona Lisa" in response.content
    assert state(ticket) == "used"
    assert client.get("/gallery/").status_code == 403


def stored_claim(ticket):
    store = get_store()
    try:
        return store._get(store.claim_key(ticket.uuid))
    except Exception:
        return None


def test_lazy_response_is_settled_only_after_it_renders(
    client, stamp_cache, django_capture_on_commit_callbacks
):
    ticket, token = issue()
    seen = []

    def receiver(ticket, request, **kwargs):
        seen.append(request.path)

    ticket_used.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
            client.get(link("/lazy/", token, broken=1))
        assert seen == []
        assert state(ticket) == "valid"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.get(link("/lazy/", token))
    finally:
        ticket_used.disconnect(receiver)
    assert response.status_code == 200
    assert seen == ["/lazy/"]
    assert state(ticket) == "used"
    # The view body ran twice; the ticket was used once.
    assert Visit.objects.count() == 2


def test_lazy_error_response_undoes_after_rendering(client):
    ticket, token = issue()
    assert client.get(link("/lazy/", token, status=404)).status_code == 404
    assert state(ticket) == "valid"


def test_lazy_response_closed_without_rendering_is_undone(rf):
    ticket, _token = issue()
    request = rf.get("/")
    request.ticket = ticket
    claim = claims.Claim.for_request(request)
    claim.take()
    from django.template.response import TemplateResponse

    response = claim.finish(TemplateResponse(request, "tests/gallery.html", {}))
    assert state(ticket) == "used"  # claimed, not settled
    from django.core.signals import request_finished
    from django.db import close_old_connections

    # As the test client does: keep the test's connection open across close().
    request_finished.disconnect(close_old_connections)
    try:
        response.close()  # a middleware dropped it
    finally:
        request_finished.connect(close_old_connections)
    assert state(ticket) == "valid"
    # The response is left as Django made it.
    assert "close" not in vars(response)  # the hook removed itself


# 3. A lost connection inside the view (PostgreSQL) ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_view_whose_connection_was_terminated_leaves_the_ticket_valid(postgres, client):
    ticket, _token = issue()

    @stamp_invitation
    def terminated(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return HttpResponse("never")

    request = _admitted(ticket)
    with pytest.raises(Exception, match="terminat"):
        terminated(request)
    assert state(ticket) == "valid"


def _admitted(ticket):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.ticket = ticket
    return request


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_cannot_be_released_is_logged_and_signalled(postgres, caplog):
    from django_ticketoffice.signals import ticket_release_failed
    from tests.conftest import free_port

    ticket, token = issue()
    port = connection.settings_dict["PORT"]
    failures = []

    def receiver(ticket, error, **kwargs):
        failures.append((ticket.uuid, type(error).__name__))

    @stamp_invitation
    def database_gone(request):
        # The server goes away for good: no new connection can be made either.
        connection.settings_dict["PORT"] = free_port()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return HttpResponse("never")

    ticket_release_failed.connect(receiver)
    try:
        with (
            caplog.at_level(logging.ERROR, "django_ticketoffice"),
            pytest.raises(Exception, match="terminat"),
        ):
            database_gone(_admitted(ticket))
    finally:
        ticket_release_failed.disconnect(receiver)
        connection.close()
        connection.settings_dict["PORT"] = port
    assert failures == [(ticket.uuid, "OperationalError")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(str(ticket.uuid) in message for message in errors)
    # Never accepted twice: it stays used.
    assert state(ticket) == "used"
    assert Client().get(link("/race/", token)).status_code == 403


# 4. Tokens in error reports --------------------------------------------------------------------


@pytest.fixture
def admin_mail(settings):
    """mail_admins reports (the test runner's locmem backend), with the HTML part."""
    import django

    admin = "ops@example.com"
    settings.ADMINS = [admin] if django.VERSION >= (6, 0) else [("Ops", admin)]
    handler = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield mail.outbox
    logger.removeHandler(handler)


def report_text(message):
    html = "".join(content for content, _ in getattr(message, "alternatives", []))
    return message.subject + message.body + html


@pytest.mark.parametrize("debug", [False, True])
def test_error_reports_never_show_the_token(client, admin_mail, settings, debug):
    settings.DEBUG = debug
    _ticket, token = issue()
    client.raise_request_exception = False
    response = client.get(link("/report/", token, page=2))
    assert response.status_code == 500
    # Ours, with its HTML part, and Django's own mail_admins handler when DEBUG is off.
    assert len(admin_mail) == (1 if debug else 2)
    text = "".join(map(report_text, admin_mail))
    assert "a bug in the project" in text
    assert token not in text
    assert token[:40] not in text  # nor a part of it
    assert "page" in text and MASK in text
    assert token not in response.content.decode()


def test_error_reports_never_show_a_0_2_password(client, admin_mail):
    ticket = Ticket(place="louvre", purpose="visit")
    ticket.set_password(PASSWORD)
    ticket.save()
    client.raise_request_exception = False
    query = urlencode({"uuid": ticket.uuid, "password": PASSWORD})
    assert client.get(f"/report/?{query}").status_code == 500
    text = "".join(map(report_text, admin_mail))
    assert admin_mail and PASSWORD not in text and urlencode({"p": PASSWORD})[2:] not in text


def test_conceal_masks_every_copy_of_the_url(rf):
    request = rf.get("/x/", {"ticket": "SECRET", "page": "2"}, RAW_URI="/x/?ticket=SECRET&page=2")
    request.META["REQUEST_URI"] = "/x/?ticket=SECRET&page=2"
    conceal_credentials(request)
    assert request.GET["ticket"] == MASK and request.GET["page"] == "2"
    for value in (
        request.get_full_path(),
        request.META["QUERY_STRING"],
        request.META["RAW_URI"],
        request.META["REQUEST_URI"],
        repr(request),
    ):
        assert "SECRET" not in value


def test_refusal_signal_receivers_never_see_the_token(client):
    from django_ticketoffice.signals import ticket_refused

    seen = []

    def receiver(request, **kwargs):
        seen.append(request.get_full_path())

    _ticket, token = issue()
    ticket_refused.connect(receiver)
    try:
        client.get(link("/orsay/", token))  # wrong place
    finally:
        ticket_refused.disconnect(receiver)
    assert len(seen) == 1 and token not in seen[0]


# 5. Interrupted claims ---------------------------------------------------------------------------


def _claim_update(sql):
    return sql.startswith("UPDATE") and "usage_datetime" in sql and "IS NULL" in sql


def test_an_interrupt_right_after_the_claim_undoes_it():
    ticket, _token = issue()

    def interrupt(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if _claim_update(sql):
            raise KeyboardInterrupt  # a worker timeout's SystemExit, a signal...
        return result

    with connection.execute_wrapper(interrupt), pytest.raises(KeyboardInterrupt):
        ticket.use()
    assert state(ticket) == "valid"


def test_an_interrupt_in_a_stamped_view_undoes_the_claim(client):
    ticket, token = issue()

    def interrupt(execute, sql, params, many, context):
        if sql.startswith("INSERT") and "visit" in sql:
            raise SystemExit(1)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(interrupt), pytest.raises(SystemExit):
        client.get(link("/race/", token))
    assert state(ticket) == "valid"


def test_cancelled_while_the_claim_waits_undoes_it(rf):
    """The client disconnects while the claim waits on the row; the claim then succeeds."""
    ticket, _token = issue()
    ran = []
    waiting, proceed = threading.Event(), threading.Event()

    def slow_claim(execute, sql, params, many, context):
        if _claim_update(sql):
            waiting.set()
            proceed.wait(10)
        return execute(sql, params, many, context)

    async def view(request):
        ran.append(True)
        return HttpResponse("ran")

    async def scenario():
        request = rf.get("/")
        request.ticket = ticket
        task = asyncio.ensure_future(claims.run_async_view(view, request))
        await asyncio.get_running_loop().run_in_executor(None, waiting.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        proceed.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    with connection.execute_wrapper(slow_claim):
        async_to_sync(scenario)()
    assert ran == []
    assert state(ticket) == "valid"


def test_cancelled_async_view_undoes_the_claim(rf):
    ticket, _token = issue()

    async def scenario():
        entered = asyncio.Event()

        async def view(request):
            entered.set()
            await asyncio.sleep(10)
            return HttpResponse("never")

        request = rf.get("/")
        request.ticket = ticket
        task = asyncio.ensure_future(claims.run_async_view(view, request))
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async_to_sync(scenario)()
    assert state(ticket) == "valid"


# 6. HEAD and OPTIONS --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["head", "options"])
def test_head_and_options_never_consume(client, method):
    ticket, token = issue()
    assert client.get(link("/louvre/", token)).status_code == 302
    response = getattr(client, method)("/louvre/")
    assert response.status_code == 200
    assert state(ticket) == "valid"
    assert client.get("/louvre/").status_code == 200
    assert state(ticket) == "used"


def test_head_and_options_never_consume_with_the_token_in_the_url(client):
    ticket, token = issue()
    for method in (client.head, client.options):
        assert method(link("/race/", token)).status_code == 200
    assert state(ticket) == "valid"


def test_stamp_on_head_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="HEAD"):
        stamp_invitation(methods=["POST", "HEAD"])(lambda request: None)


# 7. A revocation during a claim in flight always wins ------------------------------------------


@pytest.mark.parametrize("status", [500, 200])
def test_revocation_during_a_claim_wins(client, stamp_cache, status):
    ticket, token = issue()
    response = client.get(link("/revoked-midway/", token, status=status))
    assert response.status_code == status
    assert response.content == b"revoke() said False"  # the claim was in flight
    ticket.refresh_from_db()
    assert ticket.revocation_datetime is not None
    # A failed action leaves it revoked; a successful one leaves it used.
    assert ticket.status == ("revoked" if status == 500 else "used")
    replay = client.get(link("/race/", token))
    assert replay.status_code == 403
    reason = "revoked" if status == 500 else "used"
    assert f'data-reason="{reason}"'.encode() in replay.content


def test_bulk_revocation_during_a_claim_wins(rf):
    ticket, _token = issue()
    request = rf.get("/")
    request.ticket = ticket
    claim = claims.Claim.for_request(request)
    claim.take()
    assert Ticket.objects.filter(pk=ticket.pk).revoke() == 0  # in flight: counts as used
    claim.undo()  # the view failed
    assert state(ticket) == "revoked"


# 8. Tokens too long to read --------------------------------------------------------------------


def test_a_generator_that_makes_unreadable_tokens_is_refused_at_issue(settings):
    settings.TICKETOFFICE_PASSWORD_GENERATOR = ("secrets.token_hex", [100], {})
    with pytest.raises(ValueError, match=f"over the {MAX_TOKEN_LENGTH}"):
        issue()
    assert Ticket.objects.count() == 0


def test_token_length_is_exact():
    ticket = Ticket(place="louvre", purpose="visit")
    for secret in ("abc", "x" * 100, "Zm9vYmFy", "é" * 20):
        assert len(make_token(ticket, secret)) == token_length(secret)
    assert token_length("A" * 22) == 94  # the default generator's secret


# 9. 0.2 credentials: every failed check costs one hasher run -------------------------------------


@pytest.fixture
def counted(settings):
    settings.PASSWORD_HASHERS = ["tests.hashers.CountingMD5PasswordHasher"]
    counting.CountingMD5PasswordHasher.runs = 0
    return counting.CountingMD5PasswordHasher


def test_every_failed_password_check_costs_one_hasher_run(counted):
    chosen = Ticket(place="louvre", purpose="visit")
    chosen.set_password(PASSWORD)
    chosen.save()
    generated, _token = issue()
    generated.refresh_from_db()
    cases = [
        ("unknown uuid", Ticket(place="louvre").uuid, PASSWORD, "louvre"),
        ("wrong place", chosen.uuid, PASSWORD, "orsay"),
        ("wrong password, chosen", chosen.uuid, "guess", "louvre"),
        ("wrong password, generated", generated.uuid, "guess", "louvre"),
    ]
    for label, ticket_uuid, password, place in cases:
        counted.runs = 0
        with pytest.raises(Exception):
            Ticket.objects.authenticate(ticket_uuid, password, place, "visit")
        assert counted.runs == 1, label
    counted.runs = 0
    assert Ticket.objects.authenticate(chosen.uuid, PASSWORD, "louvre", "visit") == chosen
    assert counted.runs == 1


# 10. A credential URL too long to redirect to -------------------------------------------------


def test_oversized_credential_url_is_a_clear_protected_refusal(client):
    ticket, token = issue()
    response = client.get(link("/peek/", token, pad="x" * 17_000))
    assert response.status_code == 400
    assert b'data-reason="too_long"' in response.content
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert SESSION_KEY not in client.session
    assert state(ticket) == "valid"


def test_conceal_masks_encoded_names_and_keeps_other_bytes(rf):
    request = rf.get("/x/")
    request.META["QUERY_STRING"] = "a=%2F%20b&tick%65t=SECRET&ticket=AGAIN&uuid&z=1"
    assert "tick%65t" not in request.GET  # parsed as Django parses it: decoded
    conceal_credentials(request)
    query_string = request.META["QUERY_STRING"]
    assert "SECRET" not in query_string and "AGAIN" not in query_string
    assert query_string.startswith("a=%2F%20b&") and query_string.endswith("&uuid&z=1")
    assert request.GET.getlist("ticket") == [MASK, MASK]
    assert request.GET["a"] == "/ b"


def test_credentials_are_read_and_masked_before_request_get_is_parsed(rf):
    from django_ticketoffice.credentials import request_credentials

    request = rf.get("/x/", {"ticket": "not-a-token", "page": "2"})
    request.META["RAW_URI"] = f"/x/?{request.META['QUERY_STRING']}"
    try:
        request_credentials(request, "louvre", "visit")
    except TicketError as error:
        assert error.reason == "invalid"
    else:
        raise AssertionError("a malformed token was accepted")
    conceal_credentials(request)
    # Neither step parsed the whole query; the mask is what Django parses later.
    assert "GET" not in vars(request)
    assert "not-a-token" not in request.META["QUERY_STRING"] + request.META["RAW_URI"]
    assert request.GET["ticket"] == MASK and request.GET["page"] == "2"


@pytest.mark.parametrize("parsed_first", [False, True])
@pytest.mark.parametrize(
    "query_string",
    [
        "ticket=A&ticket=B",  # the last value wins, as request.GET["ticket"]
        "tick%65t=A%2BB+C&page=1",  # encoded names and values
        "uuid&password=",  # blank values
        "x=1&&ticket=&ticket",
        "%74icket=%E2%82%AC",  # a value beyond ASCII once decoded
        "ticket=%FF",  # not UTF-8: replaced, as Django does
        "page=caf\u00c3\u00a9&ticket=T",  # raw bytes beyond ASCII: Django's own parse
    ],
)
def test_credentials_read_from_the_raw_query_are_those_django_parses(
    rf, query_string, parsed_first
):
    from django_ticketoffice.credentials import _take_values, credential_parameters

    reference = rf.get("/x/")
    reference.META["QUERY_STRING"] = query_string
    query = reference.GET
    expected = {name: query[name] for name in credential_parameters() if name in query}
    fresh = rf.get("/x/")
    fresh.META["QUERY_STRING"] = query_string
    if parsed_first:
        fresh.GET  # noqa: B018
    assert _take_values(fresh, conceal=False) == expected


def test_too_many_fields_are_left_to_django_which_refuses_them(rf, settings):
    from django.core.exceptions import TooManyFieldsSent

    from django_ticketoffice.credentials import take_credentials

    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = "&".join(f"f{n}=1" for n in range(9))
    # Ten fields: read from the raw query string, as any other.
    request = rf.get(f"/x/?{fields}&ticket=not-a-token")
    with pytest.raises(TicketError):
        take_credentials(request, "louvre", "visit")
    assert "GET" not in vars(request)
    # Eleven: Django's own parse runs, and refuses them (a 400 from its handler).
    request = rf.get(f"/x/?{fields}&f9=1&ticket=not-a-token")
    with pytest.raises(TooManyFieldsSent):
        take_credentials(request, "louvre", "visit")


def test_an_asgi_request_is_read_and_masked_before_its_query_is_parsed():
    from django.test import AsyncRequestFactory

    from django_ticketoffice.credentials import take_credentials

    request = AsyncRequestFactory().get("/x/", {"ticket": "not-a-token", "page": "2"})
    with pytest.raises(TicketError):
        take_credentials(request, "louvre", "visit")
    assert "GET" not in vars(request)
    assert b"not-a-token" not in request.scope["query_string"]
    assert "not-a-token" not in request.get_full_path()
    assert request.GET["ticket"] == MASK and request.GET["page"] == "2"


def test_an_asgi_query_beyond_ascii_is_masked_without_an_error():
    from django.test import AsyncRequestFactory

    from django_ticketoffice.credentials import take_credentials

    request = AsyncRequestFactory().get("/x/")
    query_string = "page=caf\u00e9&ticket=SECRET"
    request.scope["query_string"] = query_string.encode()
    request.META["QUERY_STRING"] = query_string
    with pytest.raises(TicketError):
        take_credentials(request, "louvre", "visit")
    assert request.scope["query_string"] == f"page=caf\u00e9&ticket={MASK}".encode()
    assert request.GET["page"] == "caf\u00e9" and request.GET["ticket"] == MASK
