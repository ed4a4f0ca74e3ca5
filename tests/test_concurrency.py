"""Exactly once under concurrency (issue 3 case 6, issue 2's race on ``use()``).

Threads start together behind a ``threading.Barrier``, each with its own
database connection, against PostgreSQL (SQLite serialises writers, so these
tests skip there; ``.ci/run`` runs them on PostgreSQL). The stamp cache is the
real Redis, a Redis that is down (closed port), or the local-memory cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from django_ticketoffice.exceptions import TicketError
from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store
from tests.conftest import redis_down
from tests.models import Visit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


@pytest.fixture(params=["redis", "redis-down", "locmem"])
def race_cache(request, settings) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis")
    elif request.param == "redis-down":
        redis_down(settings)
    else:
        settings.TICKETOFFICE_CACHE = "default"
    return request.param


def run_together(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released at once; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work()
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_twenty_requests_one_visit(race_cache):
    ticket, token = Ticket.objects.issue("louvre", "visit", lifetime=timedelta(hours=1))
    address = f"/race/?{urlencode({'ticket': token})}"

    def request() -> int:
        return Client().get(address).status_code

    statuses = run_together(20, request)
    assert sorted(statuses) == [200] + [403] * 19, statuses
    # The view body ran exactly once.
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None
    store = get_store()
    if race_cache == "redis-down":
        assert not store.available
    else:
        assert store.lookup(ticket.uuid) == "used"
    # And a late replay is refused too.
    assert Client().get(address).status_code == 403
    assert Visit.objects.count() == 1


def test_ten_threads_use_one_ticket(race_cache):
    ticket, _ = Ticket.objects.issue("louvre", "visit")

    def use() -> str:
        Ticket.objects.get(pk=ticket.pk).use()
        return "used"

    results = run_together(10, use)
    successes = [r for r in results if r == "used"]
    refusals = [r for r in results if isinstance(r, TicketError)]
    assert len(successes) == 1, results
    assert len(refusals) == 9, results
    assert {r.reason for r in refusals} == {"used"}
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None
