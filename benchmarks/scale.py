"""Scale: verification at 1,000 and 1,000,000 rows, clean_tickets, Redis memory per stamp."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store
from django_ticketoffice.verification import verify_token

from .harness import Result, bench
from .micro import TABLE, checkpoint, consuming, issue_many
from .report import TIMES, Row
from .views import PLACE, PURPOSE

ROOT = Path(__file__).resolve().parent.parent
CLEAN_COMMAND = ROOT / "django_ticketoffice" / "management" / "commands" / "clean_tickets.py"
FLAT_TARGET = 1.2

# Old tickets in three end states, with a precomputed fast hash: no ORM, no
# Python loop, one statement.
FILL_SQL = f"""
INSERT INTO {TABLE} (uuid, place, purpose, password, data, creation_datetime,
                     expiry_datetime, usage_datetime, revocation_datetime,
                     uses, max_uses, code_hash, failed_attempts)
SELECT gen_random_uuid(), 'bench', 'visit',
       'ticketoffice_sha256$' || encode(sha256(('old-' || i)::text::bytea), 'hex'),
       '{{}}'::jsonb,
       now() - interval '400 days',
       now() - interval '390 days',
       CASE WHEN i %% 3 = 1 THEN now() - interval '395 days' END,
       CASE WHEN i %% 3 = 2 THEN now() - interval '395 days' END,
       CASE WHEN i %% 3 = 1 THEN 1 ELSE 0 END, 1, '', 0
FROM generate_series(1, %s) AS i
"""  # noqa: S608


def _execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _scalar(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _measure(label: str, samples: list, n: int, count_runs: int) -> tuple[Result, ...]:
    tokens = [token for _, token in samples]

    def verify(count: int):
        position = iter(range(count))
        return lambda: verify_token(tokens[next(position) % len(tokens)], PLACE, PURPOSE)

    def use(item):
        verify_token(item[1], PLACE, PURPOSE).use()

    def select(count: int):
        position = iter(range(count))

        def op():
            ticket = samples[next(position) % len(samples)][0]
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT * FROM {TABLE} WHERE uuid = %s", [ticket.uuid])  # noqa: S608
                cursor.fetchone()

        return op

    # The raw SELECT is the control: if it moves as much as verify_token, the machine did.
    raw = bench(f"SELECT by uuid (raw cursor) at {label} rows", select, n, count_runs=count_runs)
    verified = bench(f"verify_token at {label} rows", verify, n, count_runs=count_runs)
    used = bench(f"verify_token + use() at {label} rows", consuming(issue_many, use), n,
                 count_runs=count_runs)  # fmt: skip
    return raw, verified, used


def _clean(log) -> tuple[list[tuple[str, str, str]], str]:
    if not CLEAN_COMMAND.exists():
        return [], "clean_tickets: pending (the management command does not exist yet)."
    before = Ticket.objects.count()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="benchmarks.settings", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "django", "clean_tickets", "--older-than", "30d"]
    log(f"scale: {' '.join(command[2:])} on {before:,} rows ...")
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    # wait4 gives this child's own peak RSS (getrusage(RUSAGE_CHILDREN) mixes children).
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    after = Ticket.objects.count()
    if child.returncode != 0:
        return [], f"clean_tickets failed ({child.returncode}): {output.strip()[-300:]}"
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    rows = [
        ("clean_tickets: rows before → after", f"{before:,} → {after:,}",
         " ".join(command[3:])),
        ("clean_tickets: wall time", f"{elapsed:.1f} s",
         f"{(before - after) / max(elapsed, 1e-9):,.0f} rows/s"),
        ("clean_tickets: peak RSS of the process", f"{peak_mb:.0f} MB",
         "os.wait4 rusage of the child"),
    ]  # fmt: skip
    return rows, ""


def run(big: int, n: int, count_runs: int, log) -> tuple[list, list[Row], str]:
    """Fill the table from 1,000 to ``big`` rows and measure at both sizes."""
    from django_redis import get_redis_connection

    small = 1000
    table: list[tuple[str, str, str]] = []
    _execute(f"TRUNCATE {TABLE} RESTART IDENTITY")
    samples = issue_many(200)
    _execute(FILL_SQL, [small - Ticket.objects.count()])
    _execute(f"ANALYZE {TABLE}")
    rows_small = Ticket.objects.count()
    checkpoint()
    log(f"scale: measuring at {rows_small:,} rows ...")
    raw_small, verify_small, use_small = _measure(f"{rows_small:,}", samples, n, count_runs)

    log(f"scale: inserting {big - rows_small:,} rows ...")
    start = time.perf_counter()
    _execute(FILL_SQL, [big - Ticket.objects.count()])
    _execute(f"ANALYZE {TABLE}")
    fill_seconds = time.perf_counter() - start
    rows_big = Ticket.objects.count()
    checkpoint()
    log(f"scale: measuring at {rows_big:,} rows ...")
    raw_big, verify_big, use_big = _measure(f"{rows_big:,}", samples, n, count_runs)

    size = _scalar("SELECT pg_total_relation_size(%s)", [TABLE])
    heap = _scalar("SELECT pg_relation_size(%s)", [TABLE])
    indexes = _scalar("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [TABLE])
    table += [
        ("rows: small → big", f"{rows_small:,} → {rows_big:,}", ""),
        ("bulk insert (INSERT ... SELECT generate_series)", f"{fill_seconds:.1f} s",
         f"{(rows_big - rows_small) / fill_seconds:,.0f} rows/s, {indexes} indexes maintained"),
        ("table size at big", f"{size / 2**20:,.0f} MB",
         f"heap {heap / 2**20:,.0f} MB, indexes {(size - heap) / 2**20:,.0f} MB"),
    ]  # fmt: skip
    pairs = ((raw_small, raw_big), (verify_small, verify_big), (use_small, use_big))
    for small_result, big_result in pairs:
        table.append((
            big_result.name.replace(f" at {rows_big:,} rows", ""),
            f"{small_result.median_us:,.0f} µs → {big_result.median_us:,.0f} µs",
            f"{rows_small:,} → {rows_big:,} rows; SQL/op {big_result.counts.sql:g}",
        ))  # fmt: skip

    used, _ = samples[0]
    used.use()
    store = get_store()
    redis = get_redis_connection(store.alias, write=True)
    memory = redis.memory_usage(store.key(used.uuid))
    table.append(
        ("Redis memory per stamp (MEMORY USAGE)", f"{memory} bytes",
         f"key {len(store.key(used.uuid))} chars, value b'used', TTL set")
    )  # fmt: skip

    control = raw_big.median_us / raw_small.median_us
    rows = [
        Row(
            operation=f"verify_token at {rows_big:,} rows",
            median_us=verify_big.median_us,
            sql=f"{verify_big.counts.sql:g}",
            redis=f"{verify_big.counts.redis_roundtrips:g} rt",
            baseline=f"same at {rows_small:,} rows (raw SELECT: {control:.2f}{TIMES})",
            baseline_us=verify_small.median_us,
            ratio=verify_big.median_us / verify_small.median_us,
            ratio_text=f"{verify_big.median_us / verify_small.median_us:.2f}{TIMES}",
            target=f"≤ {FLAT_TARGET}{TIMES} (flat)",
            met="yes" if verify_big.median_us / verify_small.median_us <= FLAT_TARGET else "no",
            score=verify_big.median_us / verify_small.median_us / FLAT_TARGET,
            section="scale",
        ),
        Row(
            operation=f"verify_token + use() at {rows_big:,} rows",
            median_us=use_big.median_us,
            sql=f"{use_big.counts.sql:g}",
            redis=f"{use_big.counts.redis_roundtrips:g} rt",
            baseline=f"same at {rows_small:,} rows",
            baseline_us=use_small.median_us,
            ratio=use_big.median_us / use_small.median_us,
            ratio_text=f"{use_big.median_us / use_small.median_us:.2f}{TIMES}",
            section="scale",
        ),
    ]
    clean_rows, note = _clean(log)
    table += clean_rows
    _execute(f"TRUNCATE {TABLE} RESTART IDENTITY")
    return table, rows, note
