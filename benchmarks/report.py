"""The results page: one list of blocks, written as Markdown, RST, JSON and terminal text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .groups import GROUPS
from .harness import IMPLEMENTATIONS, Rounds, Stats
from .spies import Counts
from .targets import TIMES, Outcome, aa_checks

DASH = "\N{EN DASH}"

COLUMNS = ["ticketoffice", "handwritten", "sesame", "pbkdf2"]


@dataclass
class Results:
    """Everything one run produced."""

    mode: str
    date: str
    command: str
    machine: list[tuple[str, str]]
    rounds: Rounds
    warmup_rounds: int
    batches: dict[str, int]
    labels: dict[str, tuple[str, str]]  # key -> (implementation, label)
    counts: dict[str, Counts]
    outcomes: list[Outcome]
    scale: list[tuple[str, str, str]] = field(default_factory=list)
    e2e: list[dict] = field(default_factory=list)
    e2e_note: str = ""
    notes: list[str] = field(default_factory=list)

    def stats(self, key: str) -> Stats:
        return self.rounds.stats(key)


# Numbers -------------------------------------------------------------------


def fmt_us(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:,.0f} ms"
    if value >= 10_000:
        return f"{value / 1000:,.1f} ms"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


def spread(stats: Stats) -> str:
    return f"{fmt_us(stats.p10)}{DASH}{fmt_us(stats.p90)}"


def sql_text(counts: Counts | None) -> str:
    if counts is None:
        return "?"
    if not counts.sql:
        return "0"
    kinds = ", ".join(f"{_num(v)} {k}" for k, v in counts.sql_kinds.items() if v)
    return f"{_num(counts.sql)} ({kinds})"


def redis_text(counts: Counts | None) -> str:
    if counts is None:
        return "?"
    if not counts.redis_sends:
        return "0"
    names = ", ".join(
        f"{k}{TIMES}{_num(v)}" if v != 1 else k for k, v in counts.redis_names.items() if v
    )
    text = f"{_num(counts.redis_roundtrips)} rt"
    if counts.redis_sends != counts.redis_roundtrips:
        text += f", {_num(counts.redis_sends)} sends"
    if counts.redis_commands != counts.redis_sends:
        text += f", {_num(counts.redis_commands)} cmd"
    return f"{text} ({names})"


# Blocks ----------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


def side_by_side(results: Results) -> Table:
    """Median µs (10th to 90th percentile over rounds) per path and implementation."""
    rows = []
    for _, title, _, members in GROUPS:
        cells = {impl: "—" for impl in COLUMNS}
        for impl, key in members:
            stats = results.stats(key)
            cells[impl] = f"{fmt_us(stats.median)} ({spread(stats)})"
        rows.append([title, *(cells[impl] for impl in COLUMNS)])
    return Table(["Path (µs per call)", *(IMPLEMENTATIONS[i] for i in COLUMNS)], rows)


def targets_table(results: Results) -> Table:
    rows = []
    for outcome in results.outcomes:
        target = outcome.target
        ratio = outcome.ratio
        note = ""
        if target.zero_io:
            note = f"SQL {sql_text(results.counts.get(target.measure))}, Redis " + redis_text(
                results.counts.get(target.measure)
            )
        if outcome.control is not None:
            note = f"control (raw SELECT): {outcome.control.median:.2f}{TIMES}"
        if outcome.note:
            note = f"{note}; {outcome.note}" if note else outcome.note
        if ratio.median_low <= target.limit <= ratio.median_high:
            close = "limit inside the median's 95% interval: a close call in this run"
            note = f"{note}; {close}" if note else close
        rows.append(
            [
                target.title,
                target.baseline_label,
                outcome.text(ratio.median),
                f"{outcome.text(ratio.median_low)} {DASH} {outcome.text(ratio.median_high)}",
                f"{outcome.text(ratio.p10)} {DASH} {outcome.text(ratio.p90)}",
                f"{outcome.rounds_met}/{outcome.rounds}",
                outcome.text(outcome.unwaited.median) if outcome.unwaited else "—",
                target.condition,
                "**met**" if outcome.met else "**missed**",
                note,
            ]
        )
    headers = ["Target", "Compared with", "Ratio (median)", "Median, 95% interval",
               f"p10 {DASH} p90", "Rounds within",
               "Without CPU waits", "Limit", "Met", "Notes"]  # fmt: skip
    return Table(headers, rows)


def aa_table(results: Results) -> Table:
    rows = [
        [
            title,
            f"{stats.median:.2f}{TIMES}",
            f"{stats.median_low:.2f}{TIMES} {DASH} {stats.median_high:.2f}{TIMES}",
            f"{stats.p10:.2f}{TIMES} {DASH} {stats.p90:.2f}{TIMES}",
        ]
        for title, stats in aa_checks(results.rounds)
    ]
    headers = ["A/A check (not a target)", "Ratio (median)", "Median, 95% interval",
               f"p10 {DASH} p90"]  # fmt: skip
    return Table(headers, rows)


def measures_table(results: Results) -> Table:
    rows = []
    for key, (impl, label) in results.labels.items():
        stats = results.stats(key)
        counts = results.counts.get(key)
        rows.append(
            [
                key,
                IMPLEMENTATIONS[impl],
                label,
                fmt_us(stats.median),
                spread(stats),
                f"{fmt_us(stats.q1)}{DASH}{fmt_us(stats.q3)}",
                fmt_us(Stats.of(results.rounds.unwaited[key]).median),
                str(results.batches[key]),
                sql_text(counts),
                redis_text(counts),
            ]
        )
    headers = ["Measure", "Implementation", "What", "Median µs", f"p10{DASH}p90", "IQR",
               "Without CPU waits", "Calls per round", "SQL per call",
               "Redis per call"]  # fmt: skip
    return Table(headers, rows)


def e2e_table(results: Results) -> Table:
    rows = [
        [i["scenario"], f"{i['rps']:,.0f}", f"{i['p50_ms']:.2f}", f"{i['p99_ms']:.2f}",
         i.get("responses", ""), i.get("notes", "")]
        for i in results.e2e
    ]  # fmt: skip
    return Table(["Scenario", "Requests/s", "p50 ms", "p99 ms", "Responses", "Notes"], rows)


def summary_line(results: Results) -> str:
    met = sum(o.met for o in results.outcomes)
    return f"{met} of {len(results.outcomes)} targets met."


def blocks(results: Results) -> list[tuple[str, Any]]:
    """The page, in order: ("h", title), ("p", text), ("table", Table), ("image", path)."""
    rounds = len(next(iter(results.rounds.samples.values())))
    intro = (
        f"Recorded **{results.date}** by ``{results.command}`` ({results.mode} mode): "
        f"{rounds} interleaved rounds after {results.warmup_rounds} warm-up round(s). "
        "Every cell is the median of the per-round samples (each sample is the mean of "
        "one batch of calls; the paths compared with each other alternate call by call) "
        f"with the 10th{DASH}90th percentile range in brackets. "
        "Ratios are computed within each round, then summarised."
    )
    facts = dict(results.machine)
    intro += (
        f" Machine: {facts.get('CPU', '?')}; Python {facts.get('Python', '?')}, Django "
        f"{facts.get('Django', '?')}, {facts.get('Database server', '?')}, Redis "
        f"{facts.get('Redis server', '?')} (every version below)."
    )
    out: list[tuple[str, Any]] = [("p", intro)]
    out += [("p", note) for note in results.notes]
    out += [
        ("h", "Side by side"),
        ("table", side_by_side(results)),
        ("image", "paths.png"),
        ("h", "Targets"),
        ("p", summary_line(results)
         + " A target is met when the median of its per-round ratios is within the limit "
         "(and, for forgeries, the path made no SQL and no Redis call); *Rounds within* "
         "counts the rounds whose own ratio was. *Median, 95% interval* is how far the "
         "median itself could move with other rounds (a distribution-free interval, from "
         "two order statistics of the rounds): where it contains the limit, another run "
         "may well give the other verdict. *Without CPU waits* is the same median "
         "ratio once the time the benchmark thread spent waiting for a CPU (taken by other "
         "processes; Linux schedstat) is removed from each timed turn: on a busy machine it "
         "is closer to what a quiet one shows, but it cannot remove the delays the database "
         "and Redis servers suffered. Targets are judged on the wall clock alone."),
        ("table", targets_table(results)),
        ("p", "How much two identical paths differ when timed this way: the same measure "
         "twice, side by side in the same rounds. A target's ratio closer to its limit "
         "than this spread is within the noise of this run."),
        ("table", aa_table(results)),
        ("h", "Machine and versions"),
        ("table", Table(["Item", "Value"], [list(item) for item in results.machine])),
        ("h", "Every measure"),
        ("p", "SQL and Redis per call come from a separate counting pass. Redis is counted "
         "at redis-py's connection: *rt* are round trips waited on, *sends* packets sent "
         "(more than rt when a reply is skipped), *cmd* commands."),
        ("table", measures_table(results)),
        ("h", "Scale"),
        ("table", Table(["Measure", "Value", "Notes"], [list(row) for row in results.scale])),
    ]  # fmt: skip
    out.append(("h", "End to end (gunicorn, wrk)"))
    if results.e2e:
        out.append(("table", e2e_table(results)))
    if results.e2e_note:
        out.append(("p", results.e2e_note))
    return out


# Writers ---------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("``", "`")


def markdown(results: Results) -> str:
    parts = ["# Benchmark results", ""]
    for kind, value in blocks(results):
        if kind == "h":
            parts += [f"## {value}", ""]
        elif kind == "p":
            parts += [value.replace("``", "`"), ""]
        elif kind == "image":
            parts += [f"![Median µs per path and implementation]({value})", ""]
        else:
            parts.append("| " + " | ".join(_md_cell(h) for h in value.headers) + " |")
            parts.append("|" + "|".join("---" for _ in value.headers) + "|")
            parts += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in value.rows]
            parts.append("")
    return "\n".join(parts)


def _rst_cell(text: str) -> str:
    if not text:
        return ".."
    if text.startswith("**") and text.endswith("**"):
        return text
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")


def _rst_table(table: Table) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [table.headers, *table.rows]:
        for index, cell in enumerate(cells):
            bullet = "* -" if index == 0 else "  -"
            lines.append(f"   {bullet} {_rst_cell(cell)}")
    return [*lines, ""]


def rst(results: Results) -> str:
    """For ``.. include::`` from docs/benchmarks/index.rst (which skips the first 3 lines)."""
    parts = [
        ":orphan:",
        "",
        ".. Generated by python -m benchmarks: do not edit.",
        "",
    ]
    for kind, value in blocks(results):
        if kind == "h":
            parts += [value, "~" * len(value), ""]
        elif kind == "p":
            parts += [value, ""]
        elif kind == "image":
            parts += [
                f".. image:: {value}",
                "   :alt: Grouped horizontal bars: median µs per path for django-ticketoffice,",
                "         hand-written ORM code, django-sesame and 0.2's PBKDF2 design.",
                "",
            ]
        else:
            parts += _rst_table(value)
    return "\n".join(parts).rstrip() + "\n"


def text(results: Results) -> str:
    """Terminal summary: the side-by-side table and the targets."""
    lines = []
    for kind, value in blocks(results):
        if kind == "table" and value.headers[0] in ("Path (µs per call)", "Target"):
            widths = [max(len(str(r[i])) for r in [value.headers, *value.rows])
                      for i in range(len(value.headers))]  # fmt: skip
            widths = [min(w, 48) for w in widths]
            for row in [value.headers, *value.rows]:
                lines.append("  ".join(str(c)[: widths[i]].ljust(widths[i])
                                       for i, c in enumerate(row)))  # fmt: skip
            lines.append("")
    lines.append(summary_line(results))
    return "\n".join(lines)


def to_json(results: Results) -> str:
    data = {
        "mode": results.mode,
        "date": results.date,
        "command": results.command,
        "machine": dict(results.machine),
        "warmup_rounds": results.warmup_rounds,
        "timed_s": results.rounds.timed_ns / 1e9,
        "runqueue_wait_s": (
            results.rounds.runqueue_ns / 1e9 if results.rounds.runqueue_ns is not None else None
        ),
        "orders": results.rounds.orders,
        "measures": {
            key: {
                "implementation": impl,
                "label": label,
                "calls_per_round": results.batches[key],
                "samples_us": results.rounds.samples[key],
                "stats_us": asdict(results.stats(key)),
                "unwaited_samples_us": results.rounds.unwaited[key],
                "counts": asdict(results.counts[key]) if key in results.counts else None,
            }
            for key, (impl, label) in results.labels.items()
        },
        "groups": [
            {"key": key, "title": title, "section": section, "members": dict(members)}
            for key, title, section, members in GROUPS
        ],
        "targets": [
            {
                "key": o.target.key,
                "title": o.target.title,
                "measure": o.target.measure,
                "baseline": o.target.baseline,
                "condition": o.target.condition,
                "limit": o.target.limit,
                "speedup": o.target.speedup,
                "ratio": asdict(o.ratio),
                "rounds_met": o.rounds_met,
                "unwaited_ratio": asdict(o.unwaited) if o.unwaited else None,
                "rounds": o.rounds,
                "io_ok": o.io_ok,
                "met": o.met,
            }
            for o in results.outcomes
        ],
        "scale": results.scale,
        "e2e": [{k: v for k, v in item.items() if k != "raw"} for item in results.e2e],
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
