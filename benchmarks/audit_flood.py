"""What the audit trail costs a replay flood: ``python -m benchmarks.audit_flood``.

A client replays refused tokens through the test client, with the audit app
installed, in rounds that alternate the audit off and on (so that load on a
shared machine hits both alike). Reported: the median and p90 time of one
refusal each way, their ratio (the target: at most 1.2), and the statements
written to the event table per 1,000 replays.

Flooded: a used token (a Redis stamp hit: 403 without SQL), a revoked token
(also a stamp hit), and forged tokens (refused from the signature). Needs
PostgreSQL and Redis as the other benchmarks do (BENCH_DATABASE_URL,
BENCH_REDIS_URL); it writes only its own tickets and keys, and flushes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from urllib.parse import urlencode


def _setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings_audit"
    from benchmarks.run import ensure_database

    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _percentile(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[int(q * (len(ordered) - 1))] / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="replays per round and mode")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    options = parser.parse_args(argv)
    _setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from benchmarks.views import PLACE, PURPOSE
    from django_ticketoffice.contrib.audit import writing
    from django_ticketoffice.contrib.audit.models import TicketEvent
    from django_ticketoffice.models import Ticket

    used, used_token = Ticket.objects.issue(PLACE, PURPOSE)
    used.use()  # autocommit: the stamp is in Redis at once
    revoked, revoked_token = Ticket.objects.issue(PLACE, PURPOSE)
    revoked.revoke()
    _, valid_token = Ticket.objects.issue(PLACE, PURPOSE)
    floods = {
        "used token (stamp hit)": used_token,
        "revoked token (stamp hit)": revoked_token,
        "forged token": valid_token[:-4] + "AAAA",
    }
    web = Client()

    def replay(token: str, count: int) -> list[int]:
        url = f"/stamp/?{urlencode({'ticket': token})}"
        samples = []
        clock = time.perf_counter_ns
        for _ in range(count):
            start = clock()
            response = web.get(url)
            samples.append(clock() - start)
            if response.status_code != 403:
                raise AssertionError(f"expected 403, got {response.status_code}")
        return samples

    print(f"{options.rounds} rounds x {options.requests} replays per mode, in-process test client")
    print(
        f"{'flood':<28} {'off µs':>8} {'on µs':>8} {'ratio':>6} {'p90 off':>8} {'p90 on':>8}"
        f" {'writes/1000':>11}"
    )
    for name, token in floods.items():
        replay(token, 200)  # warm up
        samples: dict[bool, list[int]] = {False: [], True: []}
        for round_number in range(options.rounds):
            order = (False, True) if round_number % 2 == 0 else (True, False)
            for enabled in order:
                with override_settings(TICKETOFFICE_AUDIT_ENABLED=enabled):
                    samples[enabled] += replay(token, options.requests)
        writing.counter.reset()
        with (
            override_settings(TICKETOFFICE_AUDIT_ENABLED=True),
            CaptureQueriesContext(connection) as queries,
        ):
            replay(token, 1000)
        writes = sum(
            1
            for q in queries.captured_queries
            if TicketEvent._meta.db_table in q["sql"]
            and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
        )
        off = statistics.median(samples[False]) / 1000
        on = statistics.median(samples[True]) / 1000
        print(
            f"{name:<28} {off:8.1f} {on:8.1f} {on / off:6.3f} "
            f"{_percentile(samples[False], 0.9):8.1f} {_percentile(samples[True], 0.9):8.1f} "
            f"{writes:11d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
