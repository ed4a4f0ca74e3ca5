"""Flatness: the same paths on a table of about 10³ rows and one of about 10⁶.

The two tables live in two databases of the same server (aliases ``default``
and ``big``); :mod:`benchmarks.routers` points the ticket model at one of them
for the duration of a measure, so both sizes are timed in the same rounds.
The big table is filled with copies of an old, used ticket (random uuids) in
one ``INSERT ... SELECT`` built from the model's own columns, so a schema
change in the library cannot make the fill stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import connections
from django.utils import timezone

from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token
from django_ticketoffice.verification import verify_token

from . import fixtures
from .harness import Cluster, Measure, repeat
from .paths import Sizes, _verify_use
from .routers import ticket_alias
from .views import PLACE, PURPOSE

ROOT = Path(__file__).resolve().parent.parent
TABLE = Ticket._meta.db_table


def _execute(alias: str, sql: str, params: Any = None) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


def _scalar(alias: str, sql: str, params: Any = None) -> Any:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def row_count(alias: str) -> int:
    return int(_scalar(alias, f"SELECT count(*) FROM {TABLE}"))  # noqa: S608


def empty(alias: str) -> None:
    """Delete every ticket of ``alias``."""
    if connections[alias].vendor == "postgresql":
        _execute(alias, f"TRUNCATE {TABLE} RESTART IDENTITY")
    else:
        _execute(alias, f"DELETE FROM {TABLE}")  # noqa: S608


def fill(alias: str, rows: int) -> float:
    """Add old tickets to ``alias`` until it holds ``rows``; return the seconds it took."""
    missing = rows - row_count(alias)
    if missing <= 0:
        return 0.0
    if connections[alias].vendor == "postgresql":
        # The rows an earlier run's clean_tickets deleted leave dead space:
        # reuse it, so that the table (and its cache misses) does not grow run
        # after run and move the big-table figures.
        _execute(alias, f"VACUUM {TABLE}")
    # An old ticket: expired 400 days ago, so clean_tickets may delete its copies.
    with ticket_alias(alias):
        old = timezone.now() - timedelta(days=400)
        template, _ = Ticket.objects.issue(PLACE, PURPOSE, expiry_datetime=old)
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = [f for f in Ticket._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    if connection.vendor == "postgresql":
        new_uuid, numbers = "gen_random_uuid()", "generate_series(1, %s) AS numbers(i)"
        prefix = ""
    elif connection.vendor == "sqlite":
        new_uuid, numbers = "lower(hex(randomblob(16)))", "numbers"
        prefix = (
            "WITH RECURSIVE numbers(i) AS "
            "(SELECT 1 UNION ALL SELECT i + 1 FROM numbers WHERE i < %s) "
        )
    else:
        raise NotImplementedError(f"filling {connection.vendor} is not supported")
    values = ", ".join(
        new_uuid if f.name == "uuid" else f"template.{quote(f.column)}" for f in fields
    )
    sql = (
        f"{prefix}INSERT INTO {TABLE} ({columns}) SELECT {values} "  # noqa: S608
        f"FROM {numbers}, {TABLE} AS template WHERE template.{quote(Ticket._meta.pk.column)} = %s"
    )
    start = time.perf_counter()
    _execute(alias, sql, [missing, template.pk])
    if connection.vendor == "postgresql":
        _execute(alias, f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - start


def checkpoint() -> None:
    """Flush PostgreSQL's dirty buffers now, not in the middle of the rounds."""
    for alias in ("default", "big"):
        if connections[alias].vendor == "postgresql":
            _execute(alias, "CHECKPOINT")


def _select(alias: str, uuids: list[Any]):
    """The control: one SELECT by uuid on a raw cursor, no library code."""
    connection = connections[alias]
    sql = f"SELECT * FROM {TABLE} WHERE uuid = %s"  # noqa: S608
    field = Ticket._meta.get_field("uuid")
    params = [field.get_db_prep_value(u, connection) for u in uuids]
    position = iter(range(10**9))

    def op(_: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [params[next(position) % len(params)]])
            cursor.fetchone()

    return op


def _verify(tokens: list[str]):
    position = iter(range(10**9))

    def op(_: Any) -> None:
        verify_token(tokens[next(position) % len(tokens)], PLACE, PURPOSE)

    return op


def cluster(sizes: Sizes) -> Cluster:
    """Control SELECT and verify_token() on both tables, call by call."""
    nothing = repeat(lambda: None)
    result = []
    for size, alias in (("small", "default"), ("big", "big")):

        def context(alias: str = alias):
            return ticket_alias(alias)

        with context():
            tokens = fixtures.issue(sizes.samples)
        uuids = [read_token(token, PLACE, PURPOSE).uuid for token in tokens]
        result += [
            Measure(f"scale.select.{size}", f"control: raw SELECT by uuid ({size} table)",
                    "control", nothing, _select(alias, uuids), sizes.inprocess, context=context),
            Measure(f"scale.verify.{size}", f"verify_token() ({size} table)", "ticketoffice",
                    nothing, _verify(tokens), sizes.inprocess, context=context),
        ]  # fmt: skip
    return Cluster("scale", result)


def verify_use_big(sizes: Sizes) -> Measure:
    """verify_token() + use() on the big table: timed next to the same on the small one."""
    return Measure("scale.verify_use.big", "verify_token() + use() (big table)", "ticketoffice",
                   fixtures.issue, _verify_use, sizes.inprocess,
                   context=lambda: ticket_alias("big"))  # fmt: skip


def table_facts(alias: str) -> list[tuple[str, str, str]]:
    """Size of the big table, its indexes, and Redis memory per stamp."""
    facts: list[tuple[str, str, str]] = []
    if connections[alias].vendor == "postgresql":
        size = _scalar(alias, "SELECT pg_total_relation_size(%s)", [TABLE])
        heap = _scalar(alias, "SELECT pg_relation_size(%s)", [TABLE])
        indexes = _scalar(alias, "SELECT count(*) FROM pg_indexes WHERE tablename = %s", [TABLE])
        facts.append(
            ("ticket table at the big size", f"{size / 2**20:,.0f} MB",
             f"heap {heap / 2**20:,.0f} MB, {indexes} indexes {(size - heap) / 2**20:,.0f} MB")
        )  # fmt: skip
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    token = fixtures.used_token()
    ticket_uuid = str(read_token(token, PLACE, PURPOSE).uuid)
    keys = [key for key in redis.scan_iter(match=f"*{ticket_uuid}*")]
    memory = sum(redis.memory_usage(key) or 0 for key in keys)
    facts.append(
        ("Redis memory per used ticket (MEMORY USAGE)", f"{memory} bytes",
         f"{len(keys)} key(s), e.g. {keys[0].decode() if keys else '-'}")
    )  # fmt: skip
    return facts


def clean_tickets(alias: str, log) -> list[tuple[str, str, str]]:
    """``manage.py clean_tickets`` over the big table, in a child process."""
    before = row_count(alias)
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="benchmarks.settings",
        PYTHONPATH=str(ROOT),
        BENCH_TICKET_ALIAS=alias,
    )
    command = [sys.executable, "-m", "django", "clean_tickets", "--older-than", "30d"]
    log(f"scale: {' '.join(command[2:])} on {before:,} rows ...")
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    output = child.stdout.read() if child.stdout else ""
    # wait4 gives this child's own peak RSS (getrusage(RUSAGE_CHILDREN) mixes children).
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return [("clean_tickets", f"failed ({code})", output.strip()[-200:])]
    after = row_count(alias)
    return [
        ("clean_tickets: rows before → after", f"{before:,} → {after:,}", "--older-than 30d"),
        ("clean_tickets: wall time", f"{elapsed:.1f} s",
         f"{(before - after) / max(elapsed, 1e-9):,.0f} rows/s"),
        ("clean_tickets: peak RSS", f"{usage.ru_maxrss / 1024:.0f} MB", "os.wait4 of the child"),
    ]  # fmt: skip
