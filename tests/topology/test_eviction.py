"""A Redis under ``maxmemory`` with ``allkeys-lru``: an evicted stamp never means "valid".

Our own redis-server, filled until it evicts stamps; every replay is still
refused, by the stamp where it survived (0 SQL) and by the database where it
was evicted (1 SQL, and the stamp is written back).
"""

from __future__ import annotations

import copy

import pytest
from django.conf import settings as django_settings

from tests.topology import servers
from tests.topology.conftest import record, timed
from tests.topology.traffic import App, race

pytestmark = pytest.mark.topology

FILLER = b"x" * 10_000


def key(ticket) -> str:
    return f"{django_settings.TICKETOFFICE_CACHE_KEY_PREFIX}{{{ticket['uuid']}}}"


@pytest.fixture(scope="module")
def small_redis(runtime):
    node = servers.RedisNode(runtime)
    timed("redis-server (maxmemory, allkeys-lru)", node.start)
    client = node.client()
    # Room for the stamps and a little more, above what the empty server uses.
    budget = int(client.info("memory")["used_memory"]) + 2_000_000
    client.config_set("maxmemory", budget)
    client.config_set("maxmemory-policy", "allkeys-lru")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def app(start_app, small_redis, base_settings) -> App:
    from docs.snippets import settings_redis as snippet

    caches = copy.deepcopy(snippet.CACHES)
    caches["tickets"]["LOCATION"] = f"{small_redis.url}/0"
    settings = {**base_settings, "CACHES": caches, "TICKETOFFICE_CACHE": snippet.TICKETOFFICE_CACHE}
    return App(start_app(settings, "Redis with allkeys-lru").url)


def surviving(client, tickets) -> set[str]:
    pipe = client.pipeline(transaction=False)
    for ticket in tickets:
        pipe.exists(key(ticket))
    return {t["uuid"] for t, found in zip(tickets, pipe.execute(), strict=True) if found}


def test_evicted_stamps_are_refused_by_the_database(app, small_redis):
    client = small_redis.client()
    tickets = app.issue(300)
    used, revoked = tickets[:200], tickets[200:]
    app.use(used)
    app.revoke(revoked)
    replays = [(t, "used") for t in used] + [(t, "revoked") for t in revoked]
    assert surviving(client, tickets) == {t["uuid"] for t in tickets}

    filler = 0
    while len(surviving(client, tickets)) > len(tickets) // 2:
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.set(f"filler:{filler}", FILLER)
            filler += 1
        pipe.execute()
        assert filler < 100_000, "nothing was evicted"
    kept = surviving(client, tickets)
    evicted = int(client.info("stats")["evicted_keys"])
    assert evicted > 0

    # Under memory pressure: every replay refused; where the stamp was evicted, by
    # the database. (Write-backs evict more keys meanwhile, so a surviving stamp
    # may be gone by its turn: it then costs one query too.)
    for ticket, reason in replays:
        answer = app.visit(ticket)
        assert (answer.status, answer.reason) == (403, reason), answer
        if ticket["uuid"] not in kept:
            assert answer.queries == 1, (ticket, answer)
        assert answer.queries in (0, 1)
    # A fresh ticket raced by 50 requests while keys are being evicted: used once.
    (fresh,) = app.issue(1)
    answers = race(app, fresh, 50)
    assert sorted(a.status for a in answers) == [200] + [403] * 49
    assert app.visits([fresh])[fresh["uuid"]] == {"visits": 1, "used": True}

    # Memory freed: the written-back stamps make every replay cheap again.
    for start in range(0, filler, 1000):
        client.delete(*(f"filler:{n}" for n in range(start, min(start + 1000, filler))))
    for ticket, _ in replays:
        assert app.visit(ticket).status == 403
    for ticket, reason in replays:
        answer = app.visit(ticket)
        assert (answer.status, answer.reason, answer.queries) == (403, reason, 0), answer
    assert app.visits(used) == {t["uuid"]: {"visits": 0, "used": True} for t in used}
    record(
        "Redis allkeys-lru eviction",
        **{
            "stamps evicted": len(tickets) - len(kept),
            "of": len(tickets),
            "replays accepted": 0,
            "keys evicted by Redis": evicted,
        },
    )
