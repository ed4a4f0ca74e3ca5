"""Redis Sentinel (a primary, a replica, three sentinels) behind a real gunicorn.

Three ways to reach it, each from its documentation snippet: django-redis's
``SentinelClient`` (``settings_sentinel.py``), ``TICKETOFFICE_REDIS`` with
``SENTINELS`` (``settings_sentinel_setting.py``), and Django's own
``RedisCache`` with the primary and the replica as its two servers
(``settings_builtin_redis.py``). Stamps must be read on the master only: the
servers' own command counters say where every ``GET`` went.
"""

from __future__ import annotations

import copy
import time

import pytest
from django.conf import settings as django_settings

from tests.topology import servers
from tests.topology.conftest import record, timed
from tests.topology.traffic import App, burst, check_burst, race

pytestmark = pytest.mark.topology


def key(ticket) -> str:
    return f"{django_settings.TICKETOFFICE_CACHE_KEY_PREFIX}{{{ticket['uuid']}}}"


@pytest.fixture(scope="module")
def sentinel(runtime):
    topology = servers.SentinelTopology(runtime)
    timed("Sentinel: primary, replica, 3 sentinels", topology.start)
    yield topology
    topology.stop()


@pytest.fixture(scope="module")
def django_redis_app(start_app, sentinel, base_settings) -> App:
    from docs.snippets import settings_sentinel as snippet

    caches = copy.deepcopy(snippet.CACHES)
    options = caches["tickets"]["OPTIONS"]
    options["SENTINELS"] = sentinel.sentinel_addresses
    assert caches["tickets"]["LOCATION"] == f"redis://{sentinel.SERVICE}/0"
    settings = {**base_settings, "CACHES": caches, "TICKETOFFICE_CACHE": snippet.TICKETOFFICE_CACHE}
    return App(start_app(settings, "django-redis SentinelClient").url)


@pytest.fixture(scope="module")
def setting_app(start_app, sentinel, base_settings) -> App:
    from docs.snippets import settings_sentinel_setting as snippet

    redis = copy.deepcopy(snippet.TICKETOFFICE_REDIS)
    redis["SENTINELS"] = sentinel.sentinel_addresses
    assert redis["SERVICE"] == sentinel.SERVICE
    settings = {**base_settings, "TICKETOFFICE_REDIS": redis}
    return App(start_app(settings, "TICKETOFFICE_REDIS with SENTINELS").url)


def master_and_replica(sentinel) -> tuple[servers.RedisNode, servers.RedisNode]:
    master = sentinel.node(sentinel.master_address()[1])
    replica = next(node for node in sentinel.redis_nodes if node is not master)
    return master, replica


def prepared(app: App, used: int, revoked: int, fresh: int):
    tickets = app.issue(used + revoked + fresh)
    used_tickets, revoked_tickets = tickets[:used], tickets[used : used + revoked]
    app.use(used_tickets)
    app.revoke(revoked_tickets)
    return used_tickets, revoked_tickets, tickets[used + revoked :]


def check_race_and_refusals(app: App, sentinel) -> None:
    master, replica = master_and_replica(sentinel)
    (ticket,) = app.issue(1)
    answers = race(app, ticket, 50)
    assert sorted(a.status for a in answers) == [200] + [403] * 49, answers
    assert app.visits([ticket])[ticket["uuid"]] == {"visits": 1, "used": True}
    assert master.client().get(key(ticket)) == b"used"
    used, revoked, _ = prepared(app, 5, 5, 0)
    on_master, on_replica = master.get_calls(), replica.get_calls()
    for ticket, reason in [(t, "used") for t in used] + [(t, "revoked") for t in revoked]:
        answer = app.visit(ticket)
        assert (answer.status, answer.reason, answer.queries) == (403, reason, 0), answer
    # One GET per refusal, all on the master; none on the replica.
    assert master.get_calls() - on_master == 10
    assert replica.get_calls() - on_replica == 0


def test_django_redis_sentinel_client(django_redis_app, sentinel):
    check_race_and_refusals(django_redis_app, sentinel)


def test_ticketoffice_redis_sentinels(setting_app, sentinel):
    check_race_and_refusals(setting_app, sentinel)


def test_django_builtin_cache_reads_the_first_server_only(start_app, sentinel, base_settings):
    from docs.snippets import settings_builtin_redis as snippet

    master, replica = master_and_replica(sentinel)
    caches = copy.deepcopy(snippet.CACHES)
    caches["tickets"]["LOCATION"] = [f"{master.url}/0", f"{replica.url}/0"]
    settings = {**base_settings, "CACHES": caches, "TICKETOFFICE_CACHE": snippet.TICKETOFFICE_CACHE}
    app = App(start_app(settings, "Django RedisCache, primary + replica").url)
    check_race_and_refusals(app, sentinel)


def test_sentinel_failover_in_a_burst(django_redis_app, sentinel):
    """SENTINEL FAILOVER: the replica becomes the master, the old master its replica."""
    app = django_redis_app
    used, revoked, fresh = prepared(app, 20, 20, 60)
    old_master, old_replica = master_and_replica(sentinel)

    def fault(_burst):
        assert sentinel.sentinels[0].client().execute_command("SENTINEL FAILOVER", sentinel.SERVICE)

    def healed() -> bool:
        return sentinel.master_address()[1] == old_replica.port and servers.synced(old_master)

    gets_on_old_master: list[int] = []

    def switched() -> bool:
        if sentinel.master_address()[1] != old_replica.port:
            return False
        gets_on_old_master.append(old_master.get_calls())
        return True

    reads: dict[str, float] = {}

    def reads_left_old_master() -> bool:
        """No GET reached the old master for 0.5 s, after the switch."""
        if not gets_on_old_master:
            return False
        calls, now = old_master.get_calls(), time.monotonic()
        if reads.get("calls") != calls:
            reads.update(calls=calls, since=now)
            return False
        return now - reads["since"] >= 0.5

    def demoted() -> bool:
        return bool(old_master.client().info("replication")["role"] == "slave")

    milestones = {
        "new master named": switched,
        "old master demoted": demoted,
        "reads left the old master": reads_left_old_master,
    }
    result = burst(
        app, used=used, revoked=revoked, fresh=fresh, fault=fault, healed=healed,
        milestones=milestones,
    )  # fmt: skip
    figures = check_burst(app, result)
    assert figures["5xx allowed by the failure policy"] == 0
    figures["reads left the old master after (s)"] = round(reads["since"] - result.fault_at, 2)
    sentinel.wait_ready()
    # Connections opened before the switch keep reaching the old master (still a
    # master until the sentinels demote it) until the pool opens a new one; how
    # many stamp lookups went there:
    figures["GETs on the old master after the switch"] = (
        old_master.get_calls() - gets_on_old_master[0]
    )
    record("Sentinel: SENTINEL FAILOVER", **figures)
    # Reads have followed the master: the demoted one serves no stamp.
    on_new, on_old = old_replica.get_calls(), old_master.get_calls()
    for ticket in used[:10]:
        assert app.visit(ticket).cheap_refusal
    assert (old_replica.get_calls() - on_new, old_master.get_calls() - on_old) == (10, 0)


def test_killing_the_primary_in_a_burst(django_redis_app, sentinel):
    """SIGKILL of the master: the sentinels agree it is down and promote the replica."""
    app = django_redis_app
    used, revoked, fresh = prepared(app, 20, 20, 60)
    victim, survivor = master_and_replica(sentinel)

    def fault(_burst):
        victim.kill()

    def healed() -> bool:
        promoted = sentinel.master_address()[1] == survivor.port
        return promoted and survivor.client().info("replication")["role"] == "master"

    result = burst(app, used=used, revoked=revoked, fresh=fresh, fault=fault, healed=healed)
    figures = check_burst(app, result)
    assert figures["5xx allowed by the failure policy"] == 0
    record("Sentinel: primary killed", **figures)
    victim.start()  # the sentinels turn it into a replica of the new master
    sentinel.wait_ready()
