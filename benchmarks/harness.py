"""Interleaved rounds: every path timed once per round, in a shuffled order.

A *measure* is one path of one implementation (the library, a hand-written
floor, a peer). Each round first prepares the items every measure will
consume (fresh tickets, fresh clients), outside any timing; then it times
each measure once, in an order shuffled per round: one untimed warm-up call,
a garbage collection, then a batch of calls whose total wall time, divided by
the batch size, is the round's sample. Batches keep the garbage collector's and the database's tails
(fsync, WAL, checkpoints) in the sample, and drift on the machine hits every
measure of a round alike. Ratios are taken per round, then summarised.

Counting is a separate pass (:mod:`benchmarks.spies`): the spies cost time.
"""

from __future__ import annotations

import gc
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
    # Slow paths (PBKDF2) get no warm-up call.
    warmup: bool = True
    # Entered around preparation and timing, never inside the timed loop.
    context: Callable[[], AbstractContextManager[object]] = nullcontext

    def __post_init__(self) -> None:
        if self.impl not in IMPLEMENTATIONS:
            raise ValueError(f"{self.key}: unknown implementation {self.impl!r}")
        if self.batch < 1:
            raise ValueError(f"{self.key}: a batch has at least one call")


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


def _time_batch(measure: Measure, items: Sequence[Any]) -> float:
    op = measure.op
    if measure.warmup:
        op(items[0])
        items = items[1:]
    gc.collect()
    clock = time.perf_counter_ns
    start = clock()
    for item in items:
        op(item)
    return (clock() - start) / len(items) / 1000


def _prepare(measure: Measure) -> Sequence[Any]:
    count = measure.batch + (1 if measure.warmup else 0)
    with measure.context():
        items = measure.prepare(count)
    if len(items) != count:
        raise RuntimeError(f"{measure.key}: prepare({count}) returned {len(items)} items")
    return items


def run_rounds(
    measures: Sequence[Measure],
    rounds: int,
    *,
    warmup_rounds: int = 1,
    seed: int = 10,
    log: Callable[[str], None] = lambda message: None,
) -> Rounds:
    """Time every measure once per round, in a new shuffled order each round."""
    keys = [m.key for m in measures]
    if len(set(keys)) != len(keys):
        raise ValueError("measure keys must be unique")
    shuffle = random.Random(seed).shuffle
    result = Rounds(samples={key: [] for key in keys})
    total = warmup_rounds + rounds
    # The objects alive now (Django, the fixtures) move out of the collector's
    # reach, so the collection before each batch only walks what the rounds made.
    gc.collect()
    gc.freeze()
    try:
        _rounds(measures, total, warmup_rounds, shuffle, result, log)
    finally:
        gc.unfreeze()
    return result


def _rounds(measures, total, warmup_rounds, shuffle, result, log) -> None:
    for index in range(total):
        recorded = index >= warmup_rounds
        order = list(measures)
        shuffle(order)
        items = {m.key: _prepare(m) for m in order}
        for measure in order:
            with measure.context():
                sample = _time_batch(measure, items.pop(measure.key))
            if recorded:
                result.samples[measure.key].append(sample)
        if recorded:
            result.orders.append([m.key for m in order])
        if index == 0 or (index + 1) % 5 == 0 or index + 1 == total:
            kind = "recorded" if recorded else "warm-up"
            log(f"round {index + 1} of {total} ({kind}) done")


def repeat(make: Callable[[], Any]) -> Callable[[int], list[Any]]:
    """prepare() for repeatable paths: ``make()`` once per call (a fresh client each)."""
    return lambda count: [make() for _ in range(count)]
