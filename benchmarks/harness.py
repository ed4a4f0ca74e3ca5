"""Interleaved rounds: every path timed in every round, next to what it is compared with.

A *measure* is one path of one implementation (the library, a hand-written
floor, a peer). Measures that are compared with each other form a *cluster*
(the accept flows; the replays; the forgeries; the in-process checks...).

Each round first prepares what every measure will consume (fresh tickets,
fresh clients), outside any timing. Then it takes the clusters in a new
shuffled order. In a cluster, the garbage collector runs, each measure gets
one untimed warm-up call, and the measures take turns, in an order shuffled
per round: one call of each (or a small chunk of calls for
microsecond paths), then the next call of each, until every measure has made
its batch. A measure's sample for the round is the total time of its calls
divided by their number, so garbage collections and database flushes stay in
it. Paths that wait on I/O are timed with the wall clock; pure computation
with the thread's CPU clock, which a preemption does not advance. Because
the measures of a cluster alternate call by call, a burst of load on the
machine hits a path and its floor alike; ratios are then taken inside each
round and summarised over the rounds.

Counting is a separate pass (:mod:`benchmarks.spies`): the spies cost time.
"""

from __future__ import annotations

import gc
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

IMPLEMENTATIONS = {
    "ticketoffice": "django-ticketoffice",
    "handwritten": "hand-written ORM code",
    "sesame": "django-sesame",
    "pbkdf2": "0.2's PBKDF2 design",
    "control": "control",
}

ContextFactory = Callable[[], AbstractContextManager[object]]
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
SCHEDSTAT = "/proc/thread-self/schedstat"


_schedstat: dict[int, int | None] = {}


def runqueue_wait_ns() -> int | None:
    """Time this thread spent runnable but waiting for a CPU (Linux), or None.

    It measures how much other processes took the machine from the benchmark:
    waiting on I/O is sleeping, not waiting for a CPU. One pread of a file
    kept open: about 3 µs.
    """
    import threading

    ident = threading.get_ident()
    if ident not in _schedstat:
        try:
            _schedstat[ident] = os.open(SCHEDSTAT, os.O_RDONLY)
        except OSError:
            _schedstat[ident] = None
    fd = _schedstat[ident]
    if fd is None:
        return None
    try:
        return int(os.pread(fd, 128, 0).split()[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Measure:
    """One path of one implementation."""

    key: str
    label: str
    impl: str
    # prepare(n) returns n items, one per call of op (a fresh ticket, a fresh client...).
    prepare: Callable[[int], Sequence[Any]]
    op: Callable[[Any], object]
    batch: int = 1
    # Calls per turn: more than one for microsecond paths, so the clock costs nothing.
    chunk: int = 1
    # Slow paths (PBKDF2) get no warm-up call.
    warmup: bool = True
    # "wall" for anything that waits on I/O; "cpu" (the thread's CPU clock) for pure
    # computation, so that a preemption by another process does not count.
    clock: str = "wall"
    # Entered around preparation and around each turn, outside the clock: keep it cheap.
    context: ContextFactory = nullcontext

    def __post_init__(self) -> None:
        if self.impl not in IMPLEMENTATIONS:
            raise ValueError(f"{self.key}: unknown implementation {self.impl!r}")
        if self.batch < 1 or self.chunk < 1:
            raise ValueError(f"{self.key}: a batch and a chunk have at least one call")
        if self.clock not in CLOCKS:
            raise ValueError(f"{self.key}: unknown clock {self.clock!r}")

    @property
    def items_per_round(self) -> int:
        return self.batch + (1 if self.warmup else 0)


@dataclass
class Cluster:
    """Measures timed call by call against each other."""

    key: str
    measures: list[Measure]
    # Entered once around the cluster's preparation and around its timing.
    context: ContextFactory = nullcontext


@dataclass
class Stats:
    """Median and spread of per-round values."""

    median: float
    p10: float
    p90: float
    q1: float
    q3: float
    n: int
    # A 95% confidence interval of the median itself (see median_interval).
    median_low: float
    median_high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no values")
        ordered = sorted(values)
        low, high = median_interval(ordered)
        return cls(
            median=statistics.median(ordered),
            p10=quantile(ordered, 0.10),
            p90=quantile(ordered, 0.90),
            q1=quantile(ordered, 0.25),
            q3=quantile(ordered, 0.75),
            n=len(ordered),
            median_low=low,
            median_high=high,
        )


def median_interval(ordered: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A confidence interval of the median, from two order statistics of ``ordered``.

    Distribution-free: the number of values below the true median is
    binomial (n, 1/2), so the interval keeps out at most (1 - confidence) / 2
    of that distribution's mass on each side. With 30 rounds it runs from the
    10th to the 21st value (95.7%); with 8 or fewer it is the whole range.
    """
    n = len(ordered)
    tail = (1 - confidence) / 2
    below, rank = 0.0, 0
    while rank < n // 2:
        mass = math.comb(n, rank) / 2**n
        if below + mass > tail:
            break
        below += mass
        rank += 1
    if rank == 0:
        return float(ordered[0]), float(ordered[-1])
    return float(ordered[rank - 1]), float(ordered[n - rank])


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if len(ordered) == 1:
        return float(ordered[0])
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


@dataclass
class Rounds:
    """Per-round samples in µs per call, and the order each round ran in."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    # The same, minus the time the thread waited for a CPU during its timed calls.
    unwaited: dict[str, list[float]] = field(default_factory=dict)
    orders: list[list[str]] = field(default_factory=list)
    # Wall time spent timing, and how much of it the thread waited for a CPU.
    timed_ns: int = 0
    runqueue_ns: int | None = None

    def stats(self, key: str) -> Stats:
        return Stats.of(self.samples[key])

    def ratios(self, numerator: str, denominator: str, *, unwaited: bool = False) -> list[float]:
        """Per-round ratios: both samples come from the same round."""
        source = self.unwaited if unwaited else self.samples
        return [a / b for a, b in zip(source[numerator], source[denominator], strict=True)]


def _prepare(cluster: Cluster) -> dict[str, Sequence[Any]]:
    items = {}
    with cluster.context():
        for measure in cluster.measures:
            count = measure.items_per_round
            with measure.context():
                items[measure.key] = measure.prepare(count)
            if len(items[measure.key]) != count:
                raise RuntimeError(f"{measure.key}: prepare({count}) returned the wrong count")
    return items


def _time_cluster(
    order: Sequence[Measure], items: dict[str, Sequence[Any]], cluster: Cluster
) -> tuple[dict[str, float], dict[str, float]]:
    """Warm up, then alternate the measures turn by turn.

    Returns the µs per call of each measure, and the same without the time the
    thread waited for a CPU during its turns (equal for the CPU clock).
    """
    elapsed = dict.fromkeys((m.key for m in order), 0)
    waited = dict.fromkeys((m.key for m in order), 0)
    queues: dict[str, list[Any]] = {}
    with cluster.context():
        # Collect first: the warm-up calls then bring the caches back, so the
        # first timed call does not pay for the collector's walk through memory.
        gc.collect()
        for measure in order:
            queue = list(items[measure.key])
            if measure.warmup:
                with measure.context():
                    measure.op(queue.pop(0))
            queues[measure.key] = queue
        turns = max(math.ceil(m.batch / m.chunk) for m in order)
        for turn in range(turns):
            for measure in order:
                chunk = queues[measure.key][turn * measure.chunk : (turn + 1) * measure.chunk]
                if not chunk:
                    continue
                op, clock = measure.op, CLOCKS[measure.clock]
                wall = measure.clock == "wall"
                with measure.context():
                    wait = runqueue_wait_ns() if wall else None
                    start = clock()
                    for item in chunk:
                        op(item)
                    spent = clock() - start
                    after = runqueue_wait_ns() if wait is not None else None
                elapsed[measure.key] += spent
                if wait is not None and after is not None:
                    waited[measure.key] += min(after - wait, spent)
    per_call = {m.key: elapsed[m.key] / m.batch / 1000 for m in order}
    unwaited = {m.key: (elapsed[m.key] - waited[m.key]) / m.batch / 1000 for m in order}
    return per_call, unwaited


def run_rounds(
    clusters: Sequence[Cluster],
    rounds: int,
    *,
    warmup_rounds: int = 1,
    seed: int = 10,
    log: Callable[[str], None] = lambda message: None,
) -> Rounds:
    """Time every measure in every round; clusters and turns in a new order each round."""
    keys = [m.key for c in clusters for m in c.measures]
    if len(set(keys)) != len(keys):
        raise ValueError("measure keys must be unique")
    rng = random.Random(seed)
    result = Rounds(samples={key: [] for key in keys}, unwaited={key: [] for key in keys})
    total = warmup_rounds + rounds
    # The objects alive now (Django, the fixtures) move out of the collector's
    # reach, so the collection before each cluster only walks what the rounds made.
    gc.collect()
    gc.freeze()
    try:
        for index in range(total):
            recorded = index >= warmup_rounds
            items = {}
            for cluster in clusters:
                items.update(_prepare(cluster))
            cluster_order = list(clusters)
            rng.shuffle(cluster_order)
            order: list[str] = []
            for cluster in cluster_order:
                measures = list(cluster.measures)
                rng.shuffle(measures)
                wait_before, start = runqueue_wait_ns(), time.perf_counter_ns()
                samples, unwaited = _time_cluster(measures, items, cluster)
                wait_after = runqueue_wait_ns()
                if recorded:
                    result.timed_ns += time.perf_counter_ns() - start
                    if wait_before is not None and wait_after is not None:
                        waited = wait_after - wait_before
                        result.runqueue_ns = (result.runqueue_ns or 0) + waited
                order += [m.key for m in measures]
                if recorded:
                    for key, sample in samples.items():
                        result.samples[key].append(sample)
                        result.unwaited[key].append(unwaited[key])
            if recorded:
                result.orders.append(order)
            if index == 0 or (index + 1) % 5 == 0 or index + 1 == total:
                kind = "recorded" if recorded else "warm-up"
                log(f"round {index + 1} of {total} ({kind}) done")
    finally:
        gc.unfreeze()
    return result


def repeat(make: Callable[[], Any]) -> Callable[[int], list[Any]]:
    """prepare() for repeatable paths: ``make()`` once per call (a fresh client each)."""
    return lambda count: [make() for _ in range(count)]
