"""One run of the suite: fill the tables, count, time the rounds, evaluate, write."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

from . import e2e, fixtures, paths, scale
from .harness import Cluster, run_rounds
from .report import Results, markdown, rst, text, to_json
from .spies import count
from .targets import evaluate_all

# seconds per wrk run, tickets per file of fresh tickets, interleaved rounds
E2E = {"full": (3, 1500, 3), "quick": (1, 500, 1)}


def build(sizes: paths.Sizes) -> list[Cluster]:
    """Every measure of one run, in clusters (their fixtures are made here)."""
    pbkdf2 = fixtures.Pbkdf2Tickets()
    return [
        *paths.request_clusters(sizes, pbkdf2),
        *paths.inprocess_clusters(sizes, pbkdf2, scale.verify_use_big(sizes)),
        paths.redis_down_cluster(sizes),
        scale.cluster(sizes),
    ]


def run(mode: str, args: argparse.Namespace, machine: list[tuple[str, str]], log) -> Results:
    sizes = paths.MODES[mode]
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    log(f"{mode} run: filling the tables ({sizes.small_rows:,} and {sizes.big_rows:,} rows) ...")
    fill_small = scale.fill("default", sizes.small_rows)
    fill_big = scale.fill("big", sizes.big_rows)
    rows_start = {alias: scale.row_count(alias) for alias in ("default", "big")}
    clusters = build(sizes)
    measures = [m for c in clusters for m in c.measures]
    log(f"counting the I/O of {len(measures)} measures ...")
    counts = {
        m.key: count(m, sizes.count_calls if m.warmup else 1, c.context)
        for c in clusters
        for m in c.measures
    }
    scale.checkpoint()
    log(f"{sizes.rounds} rounds (+{sizes.warmup_rounds} warm-up) of {len(measures)} measures "
        f"in {len(clusters)} clusters ...")  # fmt: skip
    rounds = run_rounds(clusters, sizes.rounds, warmup_rounds=sizes.warmup_rounds, log=log)
    rows_end = {alias: scale.row_count(alias) for alias in ("default", "big")}
    scale_rows = [
        ("ticket rows, small table (start → end of the rounds)",
         f"{rows_start['default']:,} → {rows_end['default']:,}",
         f"filled in {fill_small:.2f} s" if fill_small else "tickets of the run"),
        ("ticket rows, big table (start → end of the rounds)",
         f"{rows_start['big']:,} → {rows_end['big']:,}",
         f"bulk INSERT ... SELECT: {fill_big:.2f} s" if fill_big else "already filled"),
        *scale.table_facts("big"),
    ]  # fmt: skip
    if mode == "full":
        scale_rows += scale.clean_tickets("big", log)

    e2e_items, e2e_note = [], "End-to-end runs skipped (--skip-e2e)."
    if mode in E2E and not args.skip_e2e:
        e2e_items, e2e_note = e2e.run(*E2E[mode], log)
    elif mode == "tiny":
        e2e_note = "End-to-end runs are not part of the tiny run."

    outcomes = evaluate_all(rounds, counts)
    for outcome in outcomes:
        if outcome.target.key.startswith("flat"):
            outcome.note = f"rows: {rows_end['default']:,} vs {rows_end['big']:,}"
    command = "python -m benchmarks" + ("" if mode == "full" else f" --{mode}")
    notes = []
    if mode != "full":
        notes.append(f"**{mode} mode: too few rounds and calls for the numbers to mean "
                     "anything**; it only proves that every path runs.")  # fmt: skip
    if mode == "tiny":
        notes.append("The tiny run hashes 0.2's passwords with a 1,000-iteration PBKDF2.")
    load = os.getloadavg()[0]
    machine.append(("Load average at end", ", ".join(f"{v:.2f}" for v in os.getloadavg())))
    contended = False
    if rounds.runqueue_ns is not None and rounds.timed_ns:
        share = rounds.runqueue_ns / rounds.timed_ns
        contended = share > 0.05
        machine.append((
            "Waiting for a CPU during the rounds",
            f"{share:.0%} of {rounds.timed_ns / 1e9:.0f} s timed "
            "(run-queue wait of the benchmark thread, /proc/thread-self/schedstat)",
        ))  # fmt: skip
    if load > 1.0 or contended:
        notes.append(
            "The machine was shared and busy (see the load average below): absolute µs are "
            "noisy; the per-round ratios are the figures to read."
        )
    return Results(
        mode=mode,
        date=date,
        command=command,
        machine=machine,
        rounds=rounds,
        warmup_rounds=sizes.warmup_rounds,
        batches={m.key: m.batch for m in measures},
        labels={m.key: (m.impl, m.label) for m in measures},
        counts=counts,
        outcomes=outcomes,
        scale=scale_rows,
        e2e=e2e_items,
        e2e_note=e2e_note,
        notes=notes,
    )


def write(results: Results, output: Path, *, chart: bool = True) -> None:
    (output / "results.md").write_text(markdown(results), encoding="utf-8")
    (output / "results.rst").write_text(rst(results), encoding="utf-8")
    (output / "results.json").write_text(to_json(results), encoding="utf-8")
    if chart:
        from .chart import draw

        draw(results, output / "paths.png")
    print(text(results))
