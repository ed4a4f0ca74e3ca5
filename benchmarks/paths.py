"""Every measure of the suite: the library's paths, their floors and the peers.

Each function returns clusters of measures; :data:`benchmarks.groups.GROUPS`
says which measures sit side by side on the results page. The library is
driven through its public API only: the decorators, ``verify_token``,
``Ticket.objects.authenticate``, ``Ticket.use()`` and ``read_token``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.test.utils import override_settings
from itsdangerous import Signer

from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token
from django_ticketoffice.verification import verify_token

from . import fixtures, handwritten
from .harness import Cluster, Measure, repeat
from .views import PLACE, PURPOSE


@dataclass(frozen=True)
class Sizes:
    """Rounds and batch sizes of one mode."""

    name: str
    rounds: int
    warmup_rounds: int
    flow: int  # accept flows (two requests) per batch
    request: int  # single requests per batch
    inprocess: int  # in-process checks per batch
    cpu: int  # pure computation per batch
    count_calls: int  # calls per measure in the counting pass
    samples: int  # sample tickets per database for the flatness measures
    small_rows: int
    big_rows: int


FULL = Sizes("full", 30, 2, 12, 60, 40, 200, 5, 200, 1_000, 1_000_000)
QUICK = Sizes("quick", 3, 1, 2, 3, 3, 50, 2, 20, 1_000, 10_000)
TINY = Sizes("tiny", 2, 0, 1, 1, 1, 5, 1, 5, 100, 300)
MODES = {sizes.name: sizes for sizes in (FULL, QUICK, TINY)}


def _expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{what}: expected {status}, got {response.status_code}")
    return response


def _flow(url_of):
    """An accept flow: the credential request, its redirect, the consuming view."""

    def op(item: tuple[Any, Any]) -> None:
        credential, client = item
        response = _expect(client.get(url_of(credential)), 302, "credential request")
        _expect(client.get(response["Location"]), 200, "follow-up")

    return op


def _refusal(url: str):
    def op(client: Any) -> None:
        _expect(client.get(url), 403, url.split("?")[0])

    return op


def _with_clients(items):
    return lambda count: [(item, fixtures.fresh_client()) for item in items(count)]


def _token_url(token: str) -> str:
    return f"/to/accept/?ticket={token}"


def _password_url(pair: tuple[str, str]) -> str:
    return f"/to/accept/?uuid={pair[0]}&password={pair[1]}"


def request_clusters(sizes: Sizes, pbkdf2: fixtures.Pbkdf2Tickets) -> list[Cluster]:
    """Through the test client, a fresh client (new session) for every call."""
    flow, request = sizes.flow, sizes.request
    valid = fixtures.issue(1)[0]
    used = fixtures.used_token()
    used_pbkdf2 = pbkdf2(1)[0]
    Ticket.objects.authenticate(*used_pbkdf2, PLACE, PURPOSE).use()
    sesame_used = fixtures.sesame_tokens(1)[0]
    _expect(fixtures.fresh_client().get(f"/sesame/login/?sesame={sesame_used}"), 302, "sesame")
    handwritten.redis().set(handwritten.REPLAY_KEY, b"used")
    clients = repeat(fixtures.fresh_client)
    refusals = {
        "forged": ("forged token", fixtures.forged(valid)),
        "truncated": ("truncated token", valid[:40]),
        "wrong_place": ("wrong-place token", fixtures.issue(1, place="elsewhere")[0]),
        "expired": ("signed-expired token", fixtures.expired_token()),
    }
    flows = [
        Measure("flow.ticketoffice", "@invitation_required + @stamp_invitation",
                "ticketoffice", _with_clients(fixtures.issue), _flow(_token_url), flow),
        Measure("flow.handwritten", "two hand-written ORM views", "handwritten",
                _with_clients(handwritten.create),
                _flow(lambda p: f"/hand/accept/?uuid={p[0]}&secret={p[1]}"), flow),
        Measure("flow.sesame", "LoginView + @login_required", "sesame",
                _with_clients(fixtures.sesame_tokens),
                _flow(lambda token: f"/sesame/login/?sesame={token}"), flow),
        Measure("flow.pbkdf2", "?uuid=&password=, PBKDF2", "pbkdf2",
                _with_clients(pbkdf2), _flow(_password_url), 1, warmup=False),
        # Informational: the first use of a 3-use ticket through the same views.
        Measure("flow.multi_use", "the same, max_uses=3", "ticketoffice",
                _with_clients(fixtures.issue_multi_use), _flow(_token_url), flow),
    ]  # fmt: skip
    replays = [
        Measure("replay.ticketoffice", "used token", "ticketoffice", clients,
                _refusal(_token_url(used)), request),
        Measure("replay.handwritten", "one Redis GET + fixed 403", "handwritten", clients,
                _refusal(f"/hand/one-get-403/?ticket={used}"), request),
        Measure("replay.sesame", "used one-time token", "sesame", clients,
                _refusal(f"/sesame/login/?sesame={sesame_used}"), request),
        Measure("replay.pbkdf2", "used uuid + password, PBKDF2", "pbkdf2", clients,
                _refusal(_password_url(used_pbkdf2)), 1, warmup=False),
        Measure("revoked.ticketoffice", "revoked token", "ticketoffice", clients,
                _refusal(_token_url(fixtures.revoked_token())), request),
    ]  # fmt: skip
    forgeries = [
        Measure("refusal.handwritten", "fixed 403, no I/O", "handwritten", clients,
                _refusal(f"/hand/403/?ticket={valid}"), request),
        # A/A: the same floor again, to show how far two identical paths drift apart.
        Measure("aa.refusal.handwritten", "A/A: the fixed 403 again", "control", clients,
                _refusal(f"/hand/403/?ticket={valid}"), request),
        Measure("forged.sesame", "forged token", "sesame", clients,
                _refusal(f"/sesame/login/?sesame={fixtures.forged_sesame(sesame_used)}"),
                request),
    ]  # fmt: skip
    for key, (label, token) in refusals.items():
        forgeries.append(
            Measure(f"{key}.ticketoffice", label, "ticketoffice", clients,
                    _refusal(_token_url(token)), request)
        )  # fmt: skip
    return [Cluster("flow", flows), Cluster("replay", replays), Cluster("forgery", forgeries)]


def _verify_use(token: str) -> None:
    verify_token(token, PLACE, PURPOSE).use()


def _authenticate_use(pair: tuple[str, str]) -> None:
    Ticket.objects.authenticate(pair[0], pair[1], PLACE, PURPOSE).use()


def _verify_code_use(pair: tuple[str, str]) -> None:
    Ticket.objects.verify_code(pair[0], pair[1], PLACE, PURPOSE).use()


def _sesame_get_user(token: str) -> None:
    from sesame.utils import get_user

    if get_user(token) is None:
        raise AssertionError("django-sesame refused a fresh token")


def floor_signer() -> tuple[Signer, bytes]:
    """One itsdangerous signer (its defaults, SHA-256) and a value as long as a token's."""
    signer = Signer(settings.SECRET_KEY, salt="benchmarks.floor", digest_method=hashlib.sha256)
    return signer, signer.sign(b"A" * 50)


def inprocess_clusters(
    sizes: Sizes, pbkdf2: fixtures.Pbkdf2Tickets, *extra: Measure
) -> list[Cluster]:
    """Checks called directly, no request (``extra``: the same check on the big table)."""
    n = sizes.inprocess
    token = fixtures.issue(1)[0]
    signer, signed = floor_signer()
    nothing = repeat(lambda: None)
    checks = [
        Measure("verify_use.ticketoffice", "verify_token() + use()", "ticketoffice",
                fixtures.issue, _verify_use, n),
        Measure("authenticate_use.ticketoffice", "authenticate() + use()",
                "ticketoffice", lambda count: fixtures.secrets_of(fixtures.issue(count)),
                _authenticate_use, n),
        Measure("verify_use.handwritten", "GET, SELECT, compare, UPDATE, SET",
                "handwritten", handwritten.create,
                lambda pair: handwritten.check_and_use(*pair), n),
        Measure("aa.verify_use.handwritten", "A/A: the hand-written check + use again",
                "control", handwritten.create,
                lambda pair: handwritten.check_and_use(*pair), n),
        Measure("get_user.sesame", "one-time get_user(), MAX_AGE set", "sesame",
                fixtures.sesame_tokens, _sesame_get_user, n),
        Measure("authenticate_use.pbkdf2", "authenticate() + use(), PBKDF2",
                "pbkdf2", pbkdf2, _authenticate_use, 1, warmup=False),
        # Beyond one-shot (informational): the first use of a 3-use ticket, and a
        # short code checked (and counted) instead of a token.
        Measure("verify_use.multi_use", "verify_token() + use(), max_uses=3",
                "ticketoffice", fixtures.issue_multi_use, _verify_use, n),
        Measure("verify_code_use.ticketoffice", "verify_code() + use()", "ticketoffice",
                fixtures.issue_with_code, _verify_code_use, n),
        *extra,
    ]  # fmt: skip
    # Microseconds of pure computation each: timed in chunks of calls, so the
    # clock's own cost vanishes, on the thread's CPU clock.
    chunk = min(10, sizes.cpu)
    reads = [
        Measure("read_token.ticketoffice", "read_token()", "ticketoffice", nothing,
                lambda _: read_token(token, PLACE, PURPOSE), sizes.cpu, chunk, clock="cpu"),
        Measure("unsign.handwritten", "one itsdangerous unsign()", "handwritten",
                nothing, lambda _: signer.unsign(signed), sizes.cpu, chunk, clock="cpu"),
    ]  # fmt: skip
    return [Cluster("inprocess", checks), Cluster("read_token", reads)]


def _redis_down():
    return override_settings(TICKETOFFICE_CACHE="down")


def redis_down_cluster(sizes: Sizes) -> Cluster:
    """The stamp cache on a closed port, its circuit breaker open (informational)."""
    with _redis_down():
        used = fixtures.used_token()
    measures = [
        Measure("down.replay.ticketoffice", "Redis down: replayed token", "ticketoffice",
                repeat(fixtures.fresh_client), _refusal(_token_url(used)), sizes.request),
        Measure("down.flow.ticketoffice", "Redis down: accept flow", "ticketoffice",
                _with_clients(fixtures.issue), _flow(_token_url), sizes.flow),
        Measure("down.verify_use.ticketoffice", "Redis down: verify_token() + use()",
                "ticketoffice", fixtures.issue, _verify_use, sizes.inprocess),
    ]  # fmt: skip
    # One settings change around the whole cluster: each change resets the stamp
    # store, and its circuit breaker would be closed again on every call.
    return Cluster("redis_down", measures, context=_redis_down)
