"""The benchmark suite's own structure: interleaved rounds, fixed floors, every target reported.

The numbers of a benchmark are not asserted here (speed targets live in
``python -m benchmarks``); what is asserted is that the instrument measures
what it claims: every path in every round, the floors and peers present, the
floors' own I/O fixed, and a report row for each target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from benchmarks.harness import (
    Cluster,
    Measure,
    Rounds,
    Stats,
    median_interval,
    quantile,
    run_rounds,
)
from benchmarks.targets import TARGETS

from .conftest import _missing_service, free_port

ROOT = Path(__file__).resolve().parent.parent

# Measures fixed in advance that stand for hand-written code, and the peers.
FLOORS = {
    "flow.handwritten",
    "replay.handwritten",
    "refusal.handwritten",
    "verify_use.handwritten",
    "unsign.handwritten",
}
PEERS = {
    "flow.sesame",
    "replay.sesame",
    "forged.sesame",
    "get_user.sesame",
    "flow.pbkdf2",
    "replay.pbkdf2",
    "authenticate_use.pbkdf2",
}


# The harness alone: no services.


def test_quantiles_and_stats():
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert quantile([10.0, 20.0], 0.1) == pytest.approx(11.0)
    stats = Stats.of([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (stats.median, stats.q1, stats.q3, stats.n) == (3.0, 2.0, 4.0, 5)
    assert stats.p10 == pytest.approx(1.4)
    assert stats.p90 == pytest.approx(4.6)
    # Five values say nothing closer about the median than their whole range.
    assert (stats.median_low, stats.median_high) == (1.0, 5.0)


def test_median_interval_is_the_binomial_order_statistics():
    # The textbook 95% intervals of a median: ranks 10 and 21 of 30, 40 and 61 of 100.
    assert median_interval([float(v) for v in range(1, 31)]) == (10.0, 21.0)
    assert median_interval([float(v) for v in range(1, 101)]) == (40.0, 61.0)
    # Nine values: ranks 2 and 8 (2 x 10/512 = 3.9% outside); eight: the whole range.
    assert median_interval([float(v) for v in range(1, 10)]) == (2.0, 8.0)
    assert median_interval([float(v) for v in range(1, 9)]) == (1.0, 8.0)
    # Unsorted input is the caller's mistake: Stats.of sorts first.
    stats = Stats.of([float(v) for v in range(30, 0, -1)])
    assert (stats.median_low, stats.median, stats.median_high) == (10.0, 15.5, 21.0)


def test_every_measure_runs_in_every_round_alternating_with_its_cluster():
    log: list[tuple[str, object]] = []
    prepared: dict[str, list[int]] = {}
    cluster_entries: list[str] = []

    def measure(key: str, batch: int, *, chunk: int = 1, warmup: bool = True) -> Measure:
        def prepare(count: int) -> list[int]:
            prepared.setdefault(key, []).append(count)
            return list(range(count))

        return Measure(key, key, "ticketoffice", prepare, lambda item: log.append((key, item)),
                       batch, chunk, warmup=warmup)  # fmt: skip

    def cluster_context(name: str):
        @contextmanager
        def context():
            cluster_entries.append(name)
            yield

        return context

    first = [measure("a", 3), measure("b", 3), measure("slow", 1, warmup=False)]
    second = [measure("c", 20, chunk=10), measure("d", 20, chunk=10)]
    clusters = [Cluster("one", first, cluster_context("one")),
                Cluster("two", second, cluster_context("two"))]  # fmt: skip
    rounds = run_rounds(clusters, 5, warmup_rounds=1, seed=3)

    keys = ["a", "b", "slow", "c", "d"]
    assert set(rounds.samples) == set(keys)
    assert all(len(samples) == 5 and min(samples) > 0 for samples in rounds.samples.values())
    for key in keys:
        # Waiting for a CPU is only ever taken out, never added.
        assert len(rounds.unwaited[key]) == 5
        pairs = zip(rounds.unwaited[key], rounds.samples[key], strict=True)
        assert all(0 <= unwaited <= wall for unwaited, wall in pairs)
    assert len(rounds.orders) == 5
    assert all(sorted(order) == sorted(keys) for order in rounds.orders)
    assert len({tuple(order) for order in rounds.orders}) > 1, "the order must change"
    for m in first + second:
        extra = 1 if m.warmup else 0
        # 6 rounds (one of warm-up): the batch plus the untimed warm-up call, every item once.
        assert prepared[m.key] == [m.batch + extra] * 6
        assert [item for key, item in log if key == m.key] == list(range(m.batch + extra)) * 6
    # Around each cluster's preparation and timing, once per round each.
    assert cluster_entries.count("one") == cluster_entries.count("two") == 12
    # Inside a cluster the measures alternate, in the round's order: two warm-up
    # calls, then one call each per turn (a and b), or a chunk of 10 each (c and d).
    ab = [key for key, _ in log if key in ("a", "b")]
    cd = [key for key, _ in log if key in ("c", "d")]
    for index in range(6):
        calls = ab[index * 8 : (index + 1) * 8]
        assert calls[2:] == calls[:2] * 3, calls
        calls = cd[index * 42 : (index + 1) * 42]
        first, second = calls[:2]
        assert calls[2:] == ([first] * 10 + [second] * 10) * 2, calls


def test_ratios_are_taken_within_each_round():
    rounds = Rounds(
        samples={"a": [2.0, 4.0, 9.0], "b": [1.0, 4.0, 3.0]},
        unwaited={"a": [1.0, 4.0, 6.0], "b": [1.0, 2.0, 3.0]},
    )
    assert rounds.ratios("a", "b") == [2.0, 1.0, 3.0]
    assert rounds.ratios("a", "b", unwaited=True) == [1.0, 2.0, 2.0]


# The whole suite, tiny: SQLite files, the real Redis, a subprocess with its own settings.


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    pytest.importorskip("sesame", reason="django-sesame is in the test extra")
    from redis import Redis

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        Redis.from_url(redis_url, socket_connect_timeout=0.5).ping()
    except Exception as error:
        _missing_service(f"Redis is not reachable at {redis_url}: {error}")
    directory = tmp_path_factory.mktemp("bench")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="benchmarks.settings",
        BENCH_DATABASE_URL=f"sqlite:///{directory}/bench.sqlite3",
        BENCH_REDIS_URL=redis_url,
        # The suite's db: the run writes and deletes only keys the suite owns.
        BENCH_KEY_PREFIX=f"{settings.TEST_KEY_PREFIX}:bench:",
        BENCH_DOWN_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    output = directory / "out"
    command = [sys.executable, "-m", "benchmarks", "--tiny", "--no-chart", "--output", str(output)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return output


@pytest.mark.redis
def test_tiny_run_measures_every_path_in_every_round(tiny_run):
    data = json.loads((tiny_run / "results.json").read_text())
    measures = data["measures"]
    assert data["mode"] == "tiny"
    assert len(data["orders"]) == 2
    for order in data["orders"]:
        assert sorted(order) == sorted(measures)
    for key, measure in measures.items():
        assert len(measure["samples_us"]) == 2, key
        assert all(sample > 0 for sample in measure["samples_us"]), key
        assert measure["counts"] is not None, key
    assert set(measures) >= FLOORS
    assert set(measures) >= PEERS
    assert {measures[key]["implementation"] for key in FLOORS} == {"handwritten"}
    # Every implementation of the chart shows up in every request-level group it claims.
    for group in data["groups"]:
        assert set(group["members"].values()) <= set(measures), group["key"]


@pytest.mark.redis
def test_tiny_run_floors_do_exactly_the_hand_written_io(tiny_run):
    counts = {key: m["counts"] for key, m in json.loads((tiny_run / "results.json").read_text())
              ["measures"].items()}  # fmt: skip
    # Credential request: GET, SELECT; follow-up: GET, SELECT, UPDATE, SET.
    assert counts["flow.handwritten"]["sql_kinds"] == {"SELECT": 2.0, "UPDATE": 1.0}
    assert counts["flow.handwritten"]["redis_names"] == {"GET": 2.0, "SET": 1.0}
    assert counts["flow.handwritten"]["redis_roundtrips"] == 3
    assert counts["replay.handwritten"]["sql"] == 0
    assert counts["replay.handwritten"]["redis_names"] == {"GET": 1.0}
    assert counts["replay.handwritten"]["redis_roundtrips"] == 1
    assert counts["refusal.handwritten"]["sql"] == 0
    assert counts["refusal.handwritten"]["redis_sends"] == 0
    assert counts["verify_use.handwritten"]["sql_kinds"] == {"SELECT": 1.0, "UPDATE": 1.0}
    assert counts["verify_use.handwritten"]["redis_roundtrips"] == 2
    # The peers' own I/O: django-sesame one-time = SELECT + UPDATE of last_login, no Redis.
    assert counts["get_user.sesame"]["sql_kinds"] == {"SELECT": 1.0, "UPDATE": 1.0}
    assert counts["get_user.sesame"]["redis_sends"] == 0


@pytest.mark.redis
def test_tiny_run_reports_every_target(tiny_run):
    data = json.loads((tiny_run / "results.json").read_text())
    assert [t["key"] for t in data["targets"]] == [t.key for t in TARGETS]
    for target in data["targets"]:
        assert target["rounds"] == 2
        assert target["met"] in (True, False)
    # The targets' own section (the side-by-side table above shares some titles).
    page = (tiny_run / "results.md").read_text().split("## Targets", 1)[1]
    rst = (tiny_run / "results.rst").read_text().split("Targets\n~~~~~~~", 1)[1]
    for target in TARGETS:
        row = next(line for line in page.splitlines() if line.startswith(f"| {target.title} |"))
        assert target.condition in row
        assert ("**met**" in row) or ("**missed**" in row)
        assert f"* - {target.title}" in rst
    whole = (tiny_run / "results.md").read_text()
    # The instrument's own noise is published next to the targets.
    assert "| A/A check (not a target) |" in whole
    assert "## Side by side" in whole and "## Machine and versions" in whole
    for name in ("django-ticketoffice", "hand-written ORM code", "django-sesame", "PBKDF2"):
        assert name in whole.split("## Side by side", 1)[1].split("\n\n", 2)[1]
