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
it. Because the measures of a cluster alternate call by call, a burst of
load on the machine hits a path and its floor alike; ratios are then taken
inside each round and summarised over the rounds.

Counting is a separate pass (:mod:`benchmarks.spies`): the spies cost time.
"""

from __future__ import annotations

import gc
import math
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
    # Entered around preparation and around each turn, outside the clock: keep it cheap.
    context: ContextFactory = nullcontext

    def __post_init__(self) -> None:
        if self.impl not in IMPLEMENTATIONS:
            raise ValueError(f"{self.key}: unknown implementation {self.impl!r}")
        if self.batch < 1 or self.chunk < 1:
            raise ValueError(f"{self.key}: a batch and a chunk have at least one call")

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

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no values")
        ordered = sorted(values)
        return cls(
            median=statistics.median(ordered),
            p10=quantile(ordered, 0.10),
            p90=quantile(ordered, 0.90),
            q1=quantile(ordered, 0.25),
            q3=quantile(ordered, 0.75),
            n=len(ordered),
        )


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
    orders: list[list[str]] = field(default_factory=list)

    def stats(self, key: str) -> Stats:
        return Stats.of(self.samples[key])

    def ratios(self, numerator: str, denominator: str) -> list[float]:
        """Per-round ratios: both samples come from the same round."""
        return [
            a / b for a, b in zip(self.samples[numerator], self.samples[denominator], strict=True)
        ]


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
) -> dict[str, float]:
    """Warm up, then alternate the measures turn by turn; return µs per call of each."""
    clock = time.perf_counter_ns
    elapsed = dict.fromkeys((m.key for m in order), 0)
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
                op = measure.op
                with measure.context():
                    start = clock()
                    for item in chunk:
                        op(item)
                    elapsed[measure.key] += clock() - start
    return {m.key: elapsed[m.key] / m.batch / 1000 for m in order}


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
    result = Rounds(samples={key: [] for key in keys})
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
                samples = _time_cluster(measures, items, cluster)
                order += [m.key for m in measures]
                if recorded:
                    for key, sample in samples.items():
                        result.samples[key].append(sample)
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
