"""Timing and counting: medians of warm loops, SQL statements and Redis commands per operation.

Counting and timing are separate passes: the spies (Django's query capture
and a wrapper around redis-py's client) cost time themselves, so the timed
loop runs without them.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from django.test.utils import CaptureQueriesContext

# make_op(count) returns an operation that will be called ``count`` times:
# operations that consume something (a fresh ticket) prepare that many first.
OpFactory = Callable[[int], Callable[[], object]]


@dataclass
class Counts:
    """I/O of one operation, averaged over the counting pass."""

    sql: float = 0.0
    sql_kinds: Counter[str] = field(default_factory=Counter)
    redis_roundtrips: float = 0.0
    redis_commands: float = 0.0
    redis_names: Counter[str] = field(default_factory=Counter)


@dataclass
class Result:
    """One measured operation."""

    name: str
    samples_ns: list[int]
    counts: Counts

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_ns) / 1000

    @property
    def p90_us(self) -> float:
        ordered = sorted(self.samples_ns)
        return ordered[int(0.9 * (len(ordered) - 1))] / 1000


class RedisSpy:
    """Counts redis-py commands and round trips at the client level.

    A plain command is one round trip; a pipeline is one round trip carrying
    several commands. Commands that fail to connect are still counted: they
    are attempts the request paid for.
    """

    def __init__(self) -> None:
        self.roundtrips = 0
        self.commands = 0
        self.names: Counter[str] = Counter()

    @contextmanager
    def installed(self) -> Iterator[RedisSpy]:
        from redis.client import Pipeline, Redis

        original_execute = Redis.execute_command
        original_pipeline = Pipeline.execute
        spy = self

        def execute_command(self, *args, **options):
            spy.roundtrips += 1
            spy.commands += 1
            spy.names[str(args[0]).upper()] += 1
            return original_execute(self, *args, **options)

        def execute(self, *args, **kwargs):
            spy.roundtrips += 1
            spy.commands += len(self.command_stack)
            for command, _ in self.command_stack:
                spy.names[str(command[0]).upper()] += 1
            return original_pipeline(self, *args, **kwargs)

        Redis.execute_command = execute_command  # type: ignore[method-assign]
        Pipeline.execute = execute  # type: ignore[method-assign]
        try:
            yield self
        finally:
            Redis.execute_command = original_execute  # type: ignore[method-assign]
            Pipeline.execute = original_pipeline  # type: ignore[method-assign]


def sql_kind(sql: str) -> str:
    """SELECT, UPDATE, INSERT, DELETE or OTHER (savepoints, SET, ...)."""
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "OTHER"
    return word if word in {"SELECT", "UPDATE", "INSERT", "DELETE"} else "OTHER"


def count_io(make_op: OpFactory, runs: int) -> Counts:
    """Run an operation ``runs`` times under the spies and average its I/O."""
    op = make_op(runs)
    spy = RedisSpy()
    with CaptureQueriesContext(connection) as queries, spy.installed():
        for _ in range(runs):
            op()
    kinds = Counter(sql_kind(q["sql"]) for q in queries.captured_queries)
    return Counts(
        sql=len(queries.captured_queries) / runs,
        sql_kinds=Counter({k: v / runs for k, v in kinds.items()}),
        redis_roundtrips=spy.roundtrips / runs,
        redis_commands=spy.commands / runs,
        redis_names=Counter({k: v / runs for k, v in spy.names.items()}),
    )


def time_op(make_op: OpFactory, n: int, warmup: int) -> list[int]:
    """Time ``n`` calls after ``warmup`` untimed ones; return nanoseconds per call."""
    op = make_op(n + warmup)
    for _ in range(warmup):
        op()
    samples = []
    gc.collect()
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        op()
        samples.append(clock() - start)
    return samples


def bench(name: str, make_op: OpFactory, n: int, *, warmup: int = 0, count_runs: int = 3) -> Result:
    """Count the I/O of an operation, then time it."""
    counts = count_io(make_op, count_runs)
    warmup = warmup if warmup else max(3, n // 10)
    return Result(name, time_op(make_op, n, warmup), counts)


def repeat(op: Callable[[], object]) -> OpFactory:
    """Factory for an operation that consumes nothing and can run any number of times."""
    return lambda count: op
