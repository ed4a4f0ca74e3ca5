"""PostgreSQL beyond one server: a streaming replica with a router, and PgBouncer.

Our own primary (initdb) and replica (pg_basebackup -R), run as the postgres
user on free ports, and pgbouncer in transaction pooling mode; stamps in our
own redis-server. Settings come from the documentation's snippets.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from urllib.parse import quote

import pytest

from tests.topology import servers
from tests.topology.conftest import DATABASE, record, timed
from tests.topology.traffic import Answer, App, burst, check_burst, race

pytestmark = pytest.mark.topology

CHANGE_LINK = re.compile(rb"/admin/django_ticketoffice/ticket/\d+/change/")
TICKET_COUNT = "SELECT count(*) FROM django_ticketoffice_ticket WHERE uuid::text = ANY(%s)"


def prepared(app: App, used: int, revoked: int, fresh: int):
    tickets = app.issue(used + revoked + fresh)
    used_tickets, revoked_tickets = tickets[:used], tickets[used : used + revoked]
    app.use(used_tickets)
    app.revoke(revoked_tickets)
    return used_tickets, revoked_tickets, tickets[used + revoked :]


def check_race_and_refusals(app: App) -> list[Answer]:
    (ticket,) = app.issue(1)
    answers = race(app, ticket, 50)
    assert sorted(a.status for a in answers) == [200] + [403] * 49, answers
    assert app.visits([ticket])[ticket["uuid"]] == {"visits": 1, "used": True}
    used, revoked, _ = prepared(app, 5, 5, 0)
    for ticket, reason in [(t, "used") for t in used] + [(t, "revoked") for t in revoked]:
        answer = app.visit(ticket)
        assert (answer.status, answer.reason, answer.queries) == (403, reason, 0), answer
    return answers


# A streaming replica and a primary/replica router -------------------------------------------


@pytest.fixture(scope="module")
def replica(pg) -> servers.PostgresServer:
    if pg.replica is None:
        timed("postgres streaming replica (pg_basebackup -R)", pg.start_replica)
    assert pg.replica is not None
    return pg.replica


@pytest.fixture(scope="module")
def routed_app(start_app, pg, replica, base_settings, redis_stamps) -> App:
    from docs.snippets import settings_replica as snippet

    databases = copy.deepcopy(snippet.DATABASES)
    databases["default"].update(pg.primary.database(DATABASE))
    databases["replica"].update(replica.database(DATABASE))
    routers = [
        path.replace("myproject.routers.", "docs.snippets.routers.")
        for path in snippet.DATABASE_ROUTERS
    ]
    settings = {
        **base_settings,
        **redis_stamps,
        "DATABASES": databases,
        "DATABASE_ROUTERS": routers,
    }
    return App(start_app(settings, "primary + replica router").url)


def staff_cookie(app: App) -> str:
    answer, _, response = app.request("POST", "/topology/login/")
    assert answer.status == 200
    cookies = [c.split(";")[0] for c in response.msg.get_all("Set-Cookie")]
    return "; ".join(c for c in cookies if c.startswith("sessionid="))


def admin_lists(app: App, cookie: str, ticket) -> tuple[bool, Answer]:
    """Whether the admin's ticket list shows ``ticket``, and the answer."""
    path = f"/admin/django_ticketoffice/ticket/?q={quote(ticket['uuid'])}"
    answer, content, _ = app.request("GET", path, cookie=cookie)
    assert answer.status == 200, content[:300]
    return bool(CHANGE_LINK.search(content)), answer


def test_ticket_checks_and_claims_run_on_the_primary(routed_app):
    answers = check_race_and_refusals(routed_app)
    # Every query of the race (lookups, claims, the view's own insert) went to
    # the primary; none to the replica.
    aliases = {part.split("=")[0] for a in answers for part in a.databases.split(",") if part}
    assert aliases == {"default"}


def test_admin_lists_read_the_replica(routed_app, replica):
    cookie = staff_cookie(routed_app)
    (ticket,) = routed_app.issue(1)
    servers.wait_for(
        lambda: replica.execute(TICKET_COUNT, ([ticket["uuid"]],), DATABASE) == [(1,)],
        "the replica to have the ticket",
    )
    listed, answer = admin_lists(routed_app, cookie, ticket)
    assert listed
    assert "replica=" in answer.databases and "default=" not in answer.databases, answer


def test_replica_lag_never_refuses_a_fresh_ticket(routed_app, replica):
    """Replay paused on the replica mid-burst: tickets issued meanwhile work at once."""
    app = routed_app
    cookie = staff_cookie(app)
    used, revoked, fresh = prepared(app, 20, 20, 30)
    issued_during_lag: list[dict[str, str]] = []
    resumed: dict[str, float] = {}

    def fault(result):
        replica.execute("SELECT pg_wal_replay_pause()")
        servers.wait_for(
            lambda: replica.execute("SELECT pg_get_wal_replay_pause_state()") == [("paused",)],
            "replay to pause on the replica",
        )
        issued_during_lag.extend(app.issue(30))
        result.fresh.extend(issued_during_lag)
        # Proof of the lag: the replica (and so the admin list) does not have them.
        uuids = [t["uuid"] for t in issued_during_lag]
        assert replica.execute(TICKET_COUNT, (uuids,), DATABASE) == [(0,)]
        assert admin_lists(app, cookie, issued_during_lag[0])[0] is False

        def resume() -> None:
            time.sleep(3)
            replica.execute("SELECT pg_wal_replay_resume()")
            resumed["at"] = time.monotonic()

        threading.Thread(target=resume).start()

    def caught_up() -> bool:
        return "at" in resumed and admin_lists(app, cookie, issued_during_lag[-1])[0]

    result = burst(app, used=used, revoked=revoked, fresh=fresh, fault=fault, healed=caught_up)
    figures = check_burst(app, result)
    assert figures["5xx allowed by the failure policy"] == 0
    # Every ticket, including those the replica had not seen, was used exactly once.
    successes = result.successes()
    assert all(successes[t["uuid"]] == 1 for t in result.fresh), successes
    assert result.recovery == 0.0  # the stamps never depended on the replica
    figures["replica caught up after replay resumed (s)"] = round(
        result.healed_at - resumed["at"], 2
    )
    record("PostgreSQL: replica lag (replay paused 3 s)", **figures)


# PgBouncer in transaction pooling mode -------------------------------------------------------


@pytest.fixture(scope="module")
def pgbouncer(runtime, pg):
    bouncer = servers.PgBouncer(runtime, pg.primary, DATABASE)
    timed("pgbouncer (transaction pooling)", bouncer.start)
    yield bouncer
    bouncer.stop()


def bounced_settings(pgbouncer, base_settings, redis_stamps, **options) -> dict:
    from docs.snippets import settings_pgbouncer as snippet

    databases = copy.deepcopy(snippet.DATABASES)
    databases["default"].update(pgbouncer.database())
    databases["default"]["OPTIONS"].update(options)
    return {**base_settings, **redis_stamps, "DATABASES": databases}


def test_prepared_statements_break_under_transaction_pooling(pgbouncer):
    """Why the snippet keeps psycopg from preparing: PgBouncer 1.18 cannot route them."""
    import psycopg

    def connect(prepare_threshold):
        return psycopg.connect(
            host="127.0.0.1", port=pgbouncer.port, user="postgres", dbname=DATABASE,
            autocommit=True, prepare_threshold=prepare_threshold,
        )  # fmt: skip

    outcomes = {}
    for threshold in (0, None):  # 0: prepare at once; None: never prepare
        with connect(threshold) as client, connect(None) as other:
            client.execute("SELECT %s::int", (1,))  # on one server connection
            other.execute("BEGIN")
            other.execute("SELECT 1")  # now holds that server connection
            try:
                outcomes[threshold] = client.execute("SELECT %s::int", (2,)).fetchone()
            except psycopg.errors.InvalidSqlStatementName as error:
                outcomes[threshold] = type(error).__name__
            other.execute("COMMIT")
    assert outcomes == {0: "InvalidSqlStatementName", None: (2,)}


@pytest.fixture(scope="module")
def bounced_app(start_app, pgbouncer, base_settings, redis_stamps) -> App:
    settings = bounced_settings(pgbouncer, base_settings, redis_stamps)
    return App(start_app(settings, "through pgbouncer").url)


def test_hot_path_through_pgbouncer(bounced_app):
    check_race_and_refusals(bounced_app)


def test_server_side_binding_without_prepared_statements(
    start_app, pgbouncer, base_settings, redis_stamps
):
    """psycopg's server-side binding works through PgBouncer once it never prepares."""
    settings = bounced_settings(
        pgbouncer, base_settings, redis_stamps, server_side_binding=True, prepare_threshold=None
    )
    app = App(start_app(settings, "through pgbouncer, server-side binding").url)
    for _ in range(3):  # several uses per persistent connection
        check_race_and_refusals(app)


def test_pgbouncer_restart_in_a_burst(bounced_app, pgbouncer):
    """pgbouncer killed and started again mid-burst: the database is away for a moment."""
    app = bounced_app
    used, revoked, fresh = prepared(app, 20, 20, 60)
    window: dict[str, float] = {}

    def fault(_burst):
        pgbouncer.kill()
        window["down"] = time.monotonic()
        time.sleep(0.5)
        pgbouncer.start()
        window["up"] = time.monotonic()

    def allowed(kind: str, answer: Answer) -> bool:
        # The failure policy: Django's 500 for a request that needs the database
        # while it is unreachable (sent before it was back, with 2 s for the pool to
        # reconnect; answered after it went away). Stamped replays never need it.
        return kind == "fresh" and answer.sent <= window["up"] + 2.0 and answer.at >= window["down"]

    result = burst(
        app, used=used, revoked=revoked, fresh=fresh, fault=fault, healed=pgbouncer.ready
    )
    figures = check_burst(app, result, allowed_errors=allowed)
    figures["database away (s)"] = round(window["up"] - window["down"], 2)
    late = [a.at - window["up"] for _, _, a in result.answers if a.status >= 500]
    figures["last 500 after pgbouncer was back (s)"] = round(max(late, default=0.0), 2)
    record("PgBouncer: restart (kill, start)", **figures)
