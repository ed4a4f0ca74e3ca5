"""In-process benchmarks: floors, baselines and every path of the library.

Everything runs in autocommit against the real PostgreSQL and Redis of
``benchmarks.settings``, so ``transaction.on_commit`` stamps fire as in
production.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from itsdangerous import Signer

from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store, reset_stores
from django_ticketoffice.tokens import make_token, read_token
from django_ticketoffice.verification import verify_password, verify_token

from .harness import Result, bench, repeat
from .views import PLACE, PURPOSE

TABLE = Ticket._meta.db_table


@dataclass
class Sizes:
    """How many timed iterations each kind of operation gets."""

    cpu: int  # pure computation, microseconds
    io: int  # one round trip
    request: int  # one or two test-client requests
    slow: int  # PBKDF2: about half a second each
    count_runs: int


QUICK = Sizes(cpu=200, io=50, request=30, slow=1, count_runs=2)
FULL = Sizes(cpu=10000, io=2000, request=1000, slow=5, count_runs=5)


def checkpoint() -> None:
    """Flush PostgreSQL's dirty buffers now, so that a checkpoint does not land mid-measure."""
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def issue_many(count: int, *, place: str = PLACE, purpose: str = PURPOSE, lifetime=None) -> list:
    """Create ``count`` valid tickets in one INSERT and return ``(ticket, token)`` pairs."""
    expiry = timezone.now() + (lifetime or timedelta(hours=2))
    tickets, secrets = [], []
    for _ in range(count):
        ticket = Ticket(place=place, purpose=purpose, data={}, expiry_datetime=expiry)
        secrets.append(ticket.generate_password())
        tickets.append(ticket)
    Ticket.objects.bulk_create(tickets, batch_size=1000)
    return [(t, make_token(t, s)) for t, s in zip(tickets, secrets, strict=True)]


def consuming(items_for, action):
    """Factory: prepare ``count`` fresh items, then act on the next one per call."""

    def make(count: int):
        items = iter(items_for(count))
        return lambda: action(next(items))

    return make


def _forge(token: str) -> str:
    # Same length and alphabet, wrong signature: the worst case of a forgery.
    value, _, signature = token.rpartition(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{value}.{flipped}{signature[1:]}"


def floors(sizes: Sizes) -> dict[str, Result]:
    """The physical floor and the two view floors."""
    from django_redis import get_redis_connection

    results: dict[str, Result] = {}
    signer = Signer(
        [settings.SECRET_KEY],
        salt="benchmarks.floor",
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )
    # A value as long as a default token's payload.
    signed = signer.sign(b"A" * 50)
    results["unsign"] = bench(
        "itsdangerous unsign", repeat(lambda: signer.unsign(signed)), sizes.cpu
    )

    client = get_redis_connection("default", write=True)
    missing = "benchmarks:floor:missing"
    results["redis_get"] = bench(
        "Redis GET (round trip)", repeat(lambda: client.get(missing)), sizes.io
    )

    ticket, _ = issue_many(1)[0]

    def select():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {TABLE} WHERE uuid = %s", [ticket.uuid])  # noqa: S608
            cursor.fetchone()

    def update():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET usage_datetime = NULL WHERE id = %s",  # noqa: S608
                [ticket.pk],
            )

    results["select"] = bench("SELECT by uuid", repeat(select), sizes.io)
    results["update"] = bench("committed UPDATE", repeat(update), sizes.io)

    def claim_rows(count: int):
        return [t.pk for t, _ in issue_many(count)]

    def update_indexed(pk):
        # What Ticket.use() writes: a new value in an indexed column, so no HOT
        # update: every index of the table gets a new entry.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET usage_datetime = now() WHERE id = %s",  # noqa: S608
                [pk],
            )

    results["update_indexed"] = bench(
        "committed UPDATE of usage_datetime", consuming(claim_rows, update_indexed), sizes.io
    )

    web = Client()
    results["bare"] = bench("bare view", repeat(lambda: web.get("/bare/")), sizes.request)
    results["forbidden"] = bench(
        "fixed 403 view", repeat(lambda: web.get("/forbidden/")), sizes.request
    )
    results["refusal_page"] = bench(
        "diagnostic: the library's 403 page alone",
        repeat(lambda: web.get("/refusal-page/")),
        sizes.request,
    )
    return results


def baselines(sizes: Sizes) -> dict[str, Result]:
    """0.2's design (PBKDF2) and django-sesame's one-time tokens, same work as ours."""
    from sesame.utils import get_token, get_user

    results: dict[str, Result] = {}

    def pbkdf2_tickets(count: int):
        items = []
        expiry = timezone.now() + timedelta(hours=2)
        for _ in range(count):
            ticket = Ticket(place=PLACE, purpose=PURPOSE, expiry_datetime=expiry)
            secret = uuid.uuid4().hex
            ticket.set_password(secret)  # Django's default hasher: PBKDF2
            items.append((ticket, secret))
        Ticket.objects.bulk_create([t for t, _ in items])
        return items

    def check_and_use_02(item):
        ticket, secret = item
        verify_password(str(ticket.uuid), secret, PLACE, PURPOSE).use()

    results["pbkdf2"] = bench(
        "0.2 design: PBKDF2 check + use",
        consuming(pbkdf2_tickets, check_and_use_02),
        sizes.slow,
        warmup=1,
        count_runs=1,
    )

    user_model = get_user_model()

    def sesame_tokens(count: int):
        stamp = uuid.uuid4().hex[:12]
        users = user_model.objects.bulk_create(
            [user_model(username=f"bench-{stamp}-{i}", password="!") for i in range(count)]
        )
        return [get_token(user) for user in users]

    def sesame_use(token):
        if get_user(token) is None:
            raise AssertionError("django-sesame refused a fresh token")

    results["sesame"] = bench(
        "django-sesame one-time get_user",
        consuming(sesame_tokens, sesame_use),
        sizes.io,
        count_runs=sizes.count_runs,
    )
    return results


def library(sizes: Sizes) -> dict[str, Result]:
    """Every path of django-ticketoffice, with Redis up."""
    results: dict[str, Result] = {}
    n = sizes.count_runs

    results["issue"] = bench(
        "issue a ticket",
        repeat(lambda: Ticket.objects.issue(PLACE, PURPOSE, lifetime=timedelta(hours=1))),
        sizes.io,
        count_runs=n,
    )

    (_, token), (_, foreign) = issue_many(1)[0], issue_many(1, place="elsewhere")[0]
    results["read_token"] = bench(
        "read_token (valid)", repeat(lambda: read_token(token, PLACE, PURPOSE)), sizes.cpu
    )

    expired = Ticket(place=PLACE, purpose=PURPOSE, expiry_datetime=timezone.now())
    secret = expired.generate_password()
    expired.expiry_datetime -= timedelta(hours=1)
    expired.save()
    expired_token = make_token(expired, secret)

    used_ticket, used_token = issue_many(1)[0]
    used_ticket.use()  # autocommit: the stamp is written at once
    revoked_ticket, revoked_token = issue_many(1)[0]
    revoked_ticket.revoke()

    web = Client()
    refusals = {
        "forged": ("refuse forged token", _forge(token)),
        "truncated": ("refuse truncated token", token[:40]),
        "foreign": ("refuse wrong-place token", foreign),
        "expired": ("refuse signed-expired token", expired_token),
        "replayed": ("refuse replayed token (stamp hit)", used_token),
        "revoked": ("refuse revoked token (stamp hit)", revoked_token),
    }
    for key, (label, bad) in refusals.items():
        url = f"/stamp/?ticket={bad}"

        def refuse(url=url):
            response = web.get(url)
            if response.status_code != 403:
                raise AssertionError(f"{url}: expected 403, got {response.status_code}")

        results[key] = bench(label, repeat(refuse), sizes.request, count_runs=n)

    results["flow"] = bench(
        "accept + stamp (request, redirect, view)",
        consuming(issue_many, _flow(Client())),
        sizes.request,
        count_runs=n,
    )

    results["verify_use"] = bench(
        "verify_token + use() (in-process)",
        consuming(issue_many, verify_and_use),
        sizes.io,
        count_runs=n,
    )
    return results


def verify_and_use(item):
    """Verify a fresh token in process and consume its ticket."""
    verify_token(item[1], PLACE, PURPOSE).use()


def _flow(web: Client):
    def flow(item):
        response = web.get(f"/stamp/?ticket={item[1]}")
        if response.status_code != 302:
            raise AssertionError(f"credential request: expected 302, got {response.status_code}")
        response = web.get(response["Location"])
        if response.status_code != 200:
            raise AssertionError(f"stamped view: expected 200, got {response.status_code}")

    return flow


def redis_down(sizes: Sizes) -> dict[str, Result]:
    """The fallback path: the stamp cache points at a closed port, its breaker open."""
    results: dict[str, Result] = {}
    n = sizes.count_runs
    used_ticket, used_token = issue_many(1)[0]
    used_ticket.use()
    with override_settings(TICKETOFFICE_CACHE="down"):
        reset_stores()
        # The first failure opens the breaker; the measurements see it open,
        # except for one retry per TICKETOFFICE_CACHE_RETRY_INTERVAL.
        get_store().lookup(uuid.uuid4())
        web = Client()

        def refuse():
            response = web.get(f"/stamp/?ticket={used_token}")
            if response.status_code != 403:
                raise AssertionError(f"replay with Redis down: got {response.status_code}")

        results["down_replayed"] = bench(
            "Redis down: refuse replayed token", repeat(refuse), sizes.request, count_runs=n
        )
        results["down_flow"] = bench(
            "Redis down: accept + stamp (request, redirect, view)",
            consuming(issue_many, _flow(Client())),
            sizes.request,
            count_runs=n,
        )

        results["down_verify_use"] = bench(
            "Redis down: verify_token + use()",
            consuming(issue_many, verify_and_use),
            sizes.io,
            count_runs=n,
        )
    reset_stores()
    return results


def run_all(sizes: Sizes, log) -> dict[str, Result]:
    """Run every in-process benchmark; floors first so that a slow start shows in them."""
    results: dict[str, Result] = {}
    for label, group in (
        ("floors", floors),
        ("library", library),
        ("Redis down", redis_down),
        ("baselines", baselines),
    ):
        log(f"micro: {label} ...")
        checkpoint()
        results.update(group(sizes))
    return results
