"""A real 6-node Redis Cluster (3 masters, 3 replicas) behind a real gunicorn.

The settings come from the documentation's snippets (``settings_cluster.py``
for redis-py's ``RedisCluster`` through ``TICKETOFFICE_REDIS``, and
``settings_cluster_valkey.py`` for django-valkey's ``ClusterValkeyCache``),
with the node addresses replaced by this test's.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store
from tests.topology import servers
from tests.topology.conftest import record, timed
from tests.topology.traffic import App, burst, check_burst, race

pytestmark = pytest.mark.topology

PREFIX = django_settings.TICKETOFFICE_CACHE_KEY_PREFIX


def key(ticket) -> str:
    return f"{PREFIX}{{{ticket['uuid']}}}"


@pytest.fixture(scope="module")
def cluster(runtime):
    topology = servers.RedisClusterTopology(runtime)
    timed("Redis Cluster, 6 nodes", topology.start)
    yield topology
    topology.stop()


def redis_py_settings(cluster) -> dict:
    from docs.snippets import settings_cluster as snippet

    redis = copy.deepcopy(snippet.TICKETOFFICE_REDIS)
    redis["CLUSTER"] = cluster.urls[:3]
    return {"CACHES": snippet.CACHES, "TICKETOFFICE_REDIS": redis}


@pytest.fixture(scope="module")
def app(start_app, cluster, base_settings) -> App:
    gunicorn = start_app({**base_settings, **redis_py_settings(cluster)}, "Redis Cluster")
    return App(gunicorn.url)


@pytest.fixture(scope="module")
def valkey_app(start_app, cluster, base_settings) -> App:
    pytest.importorskip("django_valkey")
    from docs.snippets import settings_cluster_valkey as snippet

    caches = copy.deepcopy(snippet.CACHES)
    caches["tickets"]["LOCATION"] = f"valkey://127.0.0.1:{cluster.nodes[0].port}"
    settings = {**base_settings, "CACHES": caches, "TICKETOFFICE_CACHE": snippet.TICKETOFFICE_CACHE}
    gunicorn = start_app(settings, "ClusterValkeyCache")
    return App(gunicorn.url)


def prepared(app: App, used: int, revoked: int, fresh: int):
    tickets = app.issue(used + revoked + fresh)
    used_tickets, revoked_tickets = tickets[:used], tickets[used : used + revoked]
    app.use(used_tickets)
    app.revoke(revoked_tickets)
    return used_tickets, revoked_tickets, tickets[used + revoked :]


def check_race(app: App, cluster) -> None:
    (ticket,) = app.issue(1)
    answers = race(app, ticket, 50)
    assert sorted(a.status for a in answers) == [200] + [403] * 49, answers
    assert app.visits([ticket])[ticket["uuid"]] == {"visits": 1, "used": True}
    # The stamp is on the master of the ticket's slot, as plain bytes; the claim is gone.
    master = cluster.master_for(key(ticket))
    assert master.client().get(key(ticket)) == b"used"
    assert master.client().exists(key(ticket) + ":claim") == 0


def check_cheap_refusals(app: App, cluster) -> None:
    used, revoked, _ = prepared(app, 5, 5, 0)
    before = cluster.get_calls()
    for ticket, reason in [(t, "used") for t in used] + [(t, "revoked") for t in revoked]:
        answer = app.visit(ticket)
        assert (answer.status, answer.reason, answer.queries) == (403, reason, 0), answer
    # Counted by the servers: one GET per refusal, on the masters, nothing else.
    assert cluster.get_calls() - before == 10


def test_fifty_requests_on_one_ticket(app, cluster):
    check_race(app, cluster)


def test_replays_and_revocations_cost_no_sql_and_one_get(app, cluster):
    check_cheap_refusals(app, cluster)


def test_valkey_cluster_cache(valkey_app, cluster):
    check_race(valkey_app, cluster)
    check_cheap_refusals(valkey_app, cluster)


def test_a_ticket_keys_live_in_one_slot(cluster):
    client = cluster.nodes[0].client()
    ticket = {"uuid": "0b6f8e1e-2b2a-4b5e-9d8e-6f6f0a0a0a0a"}
    slots = {
        client.execute_command("CLUSTER KEYSLOT", name)
        for name in (key(ticket), key(ticket) + ":claim", ticket["uuid"])
    }
    assert len(slots) == 1


def test_one_ticket_is_one_packet_to_one_master(cluster, settings, redis_roundtrips):
    """Stamp + claim release of one ticket: one pipeline, one packet, one node."""
    import uuid

    settings.TICKETOFFICE_REDIS = redis_py_settings(cluster)["TICKETOFFICE_REDIS"]
    store = get_store()
    target = uuid.uuid4()
    assert store.claim(target) is True  # connects and reads the slot map first
    redis_roundtrips.count = 0
    store.stamp(target, "used", timezone.now() + timedelta(hours=1), release_claim=True)
    assert redis_roundtrips.count == 1
    master = cluster.master_for(store.key(target))
    assert master.client().get(store.key(target)) == b"used"
    assert master.client().exists(store.claim_key(target)) == 0
    assert store.lookup(target) == "used"
    assert store.available


def test_many_tickets_released_at_once_never_cross_slots(cluster, settings, caplog):
    """Claims of 50 tickets (50 slots) dropped with their stamps: one DEL per key."""
    import uuid

    settings.TICKETOFFICE_REDIS = redis_py_settings(cluster)["TICKETOFFICE_REDIS"]
    store = get_store()
    targets = [uuid.uuid4() for _ in range(50)]
    for target in targets:
        assert store.claim(target) is True
    caplog.set_level(logging.WARNING, logger="django_ticketoffice.stamps")
    expiry = timezone.now() + timedelta(hours=1)
    store.stamp_many([(t, expiry) for t in targets], "revoked", release_claims=True)
    assert caplog.records == []  # a multi-key DEL across slots would have failed
    for target in targets:
        assert store.lookup(target) == "revoked"
        assert store.claim(target) is True  # the old claim is gone
    assert store.available


@pytest.mark.django_db
def test_bulk_revocation_of_100000_tickets_spreads_over_the_slots(
    cluster, settings, django_capture_on_commit_callbacks, redis_roundtrips, caplog
):
    """queryset.revoke() in batches of 1,000: one cluster pipeline per batch, every master."""
    from docs.snippets import settings_cluster as snippet

    settings.TICKETOFFICE_REDIS = redis_py_settings(cluster)["TICKETOFFICE_REDIS"]
    settings.TICKETOFFICE_CACHE_KEY_PREFIX = prefix = f"bulk{time.monotonic_ns()}:"
    assert snippet.TICKETOFFICE_REDIS["OPTIONS"]
    expiry = timezone.now() + timedelta(hours=1)
    Ticket.objects.bulk_create(
        (Ticket(place="bulk", purpose="revoke", password="!", expiry_datetime=expiry)
         for _ in range(100_000)),
        batch_size=10_000,
    )  # fmt: skip
    get_store().lookup(Ticket.objects.first().uuid)  # connect: the slot map, once
    redis_roundtrips.count = 0
    caplog.set_level(logging.WARNING, logger="django_ticketoffice.stamps")
    began = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert Ticket.objects.filter(place="bulk").revoke(batch_size=1000) == 100_000
    seconds = time.monotonic() - began
    packets = redis_roundtrips.count
    assert len(callbacks) == 100
    assert caplog.records == []  # no CROSSSLOT, no breaker
    assert get_store().available
    masters = cluster.masters()
    per_master = [
        sum(1 for _ in m.client().scan_iter(match=f"{prefix}*", count=10_000)) for m in masters
    ]
    assert sum(per_master) == 100_000
    assert all(count > 25_000 for count in per_master), per_master
    # Each batch is one pipeline, split by the client into one packet per master.
    assert 100 <= packets <= 100 * len(masters)
    sample = Ticket.objects.filter(place="bulk").order_by("?")[:20]
    for ticket in sample:
        assert get_store().lookup(ticket.uuid) == "revoked"
    record(
        "Redis Cluster: bulk revoke of 100,000 tickets",
        **{"seconds": round(seconds, 1), "packets": packets},
    )


def test_cluster_failover_in_a_burst(app, cluster):
    """CLUSTER FAILOVER of the master that holds the probe's stamp, mid-burst."""
    used, revoked, fresh = prepared(app, 20, 20, 60)
    master = cluster.master_for(key(used[0]))
    replica = cluster.replicas_of(master)[0]

    def fault(_burst):
        assert replica.client().execute_command("CLUSTER FAILOVER")

    def healed() -> bool:
        return cluster.master_for(key(used[0])) is replica and bool(cluster.replicas_of(replica))

    result = burst(app, used=used, revoked=revoked, fresh=fresh, fault=fault, healed=healed)
    figures = check_burst(app, result)
    assert figures["5xx allowed by the failure policy"] == 0
    record("Redis Cluster: CLUSTER FAILOVER", **figures)
    cluster.wait_healthy()


def test_killing_a_master_in_a_burst(app, cluster):
    """SIGKILL of the master that holds the probe's stamp: its replica takes over."""
    used, revoked, fresh = prepared(app, 20, 20, 60)
    victim = cluster.master_for(key(used[0]))

    def fault(_burst):
        victim.kill()

    def healed() -> bool:
        master = cluster.master_for(key(used[0]))
        info = master.client().execute_command("CLUSTER INFO")
        return master is not victim and info["cluster_state"] == "ok"

    result = burst(app, used=used, revoked=revoked, fresh=fresh, fault=fault, healed=healed)
    figures = check_burst(app, result)
    assert figures["5xx allowed by the failure policy"] == 0
    record("Redis Cluster: master killed", **figures)
    victim.start()  # it rejoins as a replica of the promoted node
    cluster.wait_healthy()
