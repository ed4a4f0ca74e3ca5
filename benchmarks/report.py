"""Turn measurements into rows with ratios and targets, and write Markdown, RST and a PNG."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .harness import Counts, Result

REPLAY_MARGIN_US = 50.0
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Row:
    """One line of the results table."""

    operation: str
    median_us: float | None = None
    sql: str = ""
    redis: str = ""
    baseline: str = "—"
    baseline_us: float | None = None
    ratio: float | None = None
    ratio_text: str = "—"
    target: str = "—"
    met: str = "—"
    # For the chart: ratio divided by its limit (≤ 1 means met).
    score: float | None = None
    section: str = "micro"


@dataclass
class Report:
    """Everything one run produced."""

    mode: str
    machine: list[tuple[str, str]]
    rows: list[Row] = field(default_factory=list)
    e2e: list[dict] = field(default_factory=list)
    e2e_note: str = ""
    scale: list[tuple[str, str, str]] = field(default_factory=list)
    scale_note: str = ""


def _num(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0")


def sql_text(counts: Counts) -> str:
    if not counts.sql:
        return "0"
    kinds = ", ".join(f"{_num(v)} {k}" for k, v in sorted(counts.sql_kinds.items()) if v)
    return f"{_num(counts.sql)} ({kinds})"


def redis_text(counts: Counts) -> str:
    if not counts.redis_roundtrips:
        return "0"
    names = ", ".join(
        f"{k}{TIMES}{_num(v)}" if v != 1 else k for k, v in sorted(counts.redis_names.items())
    )
    text = f"{_num(counts.redis_roundtrips)} rt"
    if counts.redis_commands != counts.redis_roundtrips:
        text += f" / {_num(counts.redis_commands)} cmd"
    return f"{text} ({names})"


def fmt_us(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100_000:
        return f"{value / 1000:,.0f} ms"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def io_floor(counts: Counts, floors: dict[str, Result], requests: int) -> tuple[float, str]:
    """Cost of ``requests`` bare requests plus each statement and round trip at its floor."""
    select = floors["select"].median_us
    write = floors["update"].median_us
    kinds = counts.sql_kinds
    reads = kinds.get("SELECT", 0) + kinds.get("OTHER", 0)
    writes = kinds.get("UPDATE", 0) + kinds.get("INSERT", 0) + kinds.get("DELETE", 0)
    total = (
        requests * floors["bare"].median_us
        + reads * select
        + writes * write
        + counts.redis_roundtrips * floors["redis_get"].median_us
    )
    label = f"I/O floor: {requests} bare + {_num(reads)} SELECT + {_num(writes)} UPDATE"
    label += f" + {_num(counts.redis_roundtrips)} GET"
    return total, label


def _row(result: Result, **kwargs) -> Row:
    return Row(
        operation=result.name,
        median_us=result.median_us,
        sql=sql_text(result.counts),
        redis=redis_text(result.counts),
        **kwargs,
    )


def _compare(
    result: Result,
    baseline: str,
    baseline_us: float,
    limit: float | None,
    *,
    zero_sql=False,
    zero_redis=False,
) -> Row:
    ratio = result.median_us / baseline_us
    row = _row(result, baseline=baseline, baseline_us=baseline_us, ratio=ratio)
    row.ratio_text = f"{ratio:.2f}{TIMES}"
    if limit is None:
        return row
    conditions = [f"≤ {_num(limit)}{TIMES}"]
    ok = ratio <= limit
    if zero_sql:
        conditions.append("0 SQL")
        ok = ok and result.counts.sql == 0
    if zero_redis:
        conditions.append("0 Redis")
        ok = ok and result.counts.redis_roundtrips == 0
    row.target = ", ".join(conditions)
    row.met = "yes" if ok else "no"
    row.score = ratio / limit
    return row


def micro_rows(r: dict[str, Result]) -> list[Row]:
    """The in-process table: floors, then each path against its floor or peer."""
    rows: list[Row] = []
    floors = r
    for key in (
        "unsign",
        "redis_get",
        "select",
        "update",
        "update_indexed",
        "bare",
        "forbidden",
        "refusal_page",
    ):
        row = _row(r[key], baseline="(floor)")
        row.section = "floor"
        rows.append(row)
    for key in ("pbkdf2", "sesame"):
        row = _row(r[key], baseline="(baseline)")
        row.section = "baseline"
        rows.append(row)

    rows.append(_compare(r["issue"], "committed UPDATE", floors["update"].median_us, None))
    rows.append(_compare(r["read_token"], "itsdangerous unsign", floors["unsign"].median_us, 2.0))
    forbidden = floors["forbidden"].median_us
    for key in ("forged", "truncated", "foreign", "expired"):
        rows.append(
            _compare(r[key], "fixed 403 view", forbidden, 1.3, zero_sql=True, zero_redis=True)
        )
    budget = forbidden + floors["redis_get"].median_us + REPLAY_MARGIN_US
    for key in ("replayed", "revoked"):
        rows.append(_compare(r[key], "fixed 403 + 1 GET + 50 µs", budget, 1.0, zero_sql=True))
    floor, label = io_floor(r["flow"].counts, floors, requests=2)
    rows.append(_compare(r["flow"], label, floor, 1.3))

    ours = r["verify_use"]
    rows.append(_compare(ours, "django-sesame one-time", r["sesame"].median_us, 1.3))
    speedup = r["pbkdf2"].median_us / ours.median_us
    row = _row(
        ours,
        baseline="0.2 design (PBKDF2)",
        baseline_us=r["pbkdf2"].median_us,
        ratio=speedup,
        ratio_text=f"{speedup:,.0f}{TIMES} faster",
        target=f"≥ 200{TIMES} faster",
        met="yes" if speedup >= 200 else "no",
        score=200 / speedup,
    )
    rows.append(row)

    down_budget = forbidden + floors["select"].median_us + REPLAY_MARGIN_US
    rows.append(_compare(r["down_replayed"], "fixed 403 + 1 SELECT + 50 µs", down_budget, None))
    floor, label = io_floor(r["down_flow"].counts, floors, requests=2)
    rows.append(_compare(r["down_flow"], label, floor, None))
    rows.append(
        _compare(r["down_verify_use"], "django-sesame one-time", r["sesame"].median_us, None)
    )
    return rows


# Output --------------------------------------------------------------------

HEADERS = [
    "Operation",
    "Median µs",
    "SQL / op",
    "Redis / op",
    "Compared with",
    "Its µs",
    "Ratio",
    "Target",
    "Met",
]


def _cells(row: Row) -> list[str]:
    return [
        row.operation,
        fmt_us(row.median_us),
        row.sql,
        row.redis,
        row.baseline,
        fmt_us(row.baseline_us),
        row.ratio_text,
        row.target,
        row.met,
    ]


E2E_HEADERS = ["Scenario", "Requests/s", "p50 ms", "p99 ms", "Responses", "Notes"]
SCALE_HEADERS = ["Measure", "Value", "Notes"]


def _e2e_cells(item: dict) -> list[str]:
    return [
        item["scenario"],
        f"{item['rps']:,.0f}",
        f"{item['p50_ms']:.2f}",
        f"{item['p99_ms']:.2f}",
        item.get("responses", ""),
        item.get("notes", ""),
    ]


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(headers), "|" + "|".join("---" for _ in headers) + "|"]
    out += [line(cells) for cells in rows]
    return "\n".join(out)


def markdown(report: Report) -> str:
    """The Markdown results page."""
    parts = [
        "# Benchmark results",
        "",
        f"Mode: **{report.mode}**. Generated by `python -m benchmarks`"
        + (" --quick" if report.mode == "quick" else "")
        + "; see benchmarks/README.md for how to read it.",
        "",
        "## Machine and versions",
        "",
        _md_table(["Item", "Value"], [list(item) for item in report.machine]),
        "",
        "## In-process (medians)",
        "",
        _md_table(HEADERS, [_cells(row) for row in report.rows]),
        "",
        "![Ratios to targets](ratios.png)",
        "",
        "## End to end (gunicorn, 2 workers, wrk)",
        "",
    ]
    if report.e2e:
        parts.append(_md_table(E2E_HEADERS, [_e2e_cells(item) for item in report.e2e]))
    if report.e2e_note:
        parts += ["", report.e2e_note]
    parts += ["", "## Scale (PostgreSQL)", ""]
    if report.scale:
        parts.append(_md_table(SCALE_HEADERS, [list(item) for item in report.scale]))
    if report.scale_note:
        parts += ["", report.scale_note]
    return "\n".join(parts) + "\n"


def _rst_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`")
    return text.replace("|", "\\|")


def _rst_table(headers: list[str], rows: list[list[str]], title: str = "") -> str:
    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
    for cells in [headers, *rows]:
        for index, cell in enumerate(cells):
            bullet = "* -" if index == 0 else "  -"
            value = _rst_escape(cell) if cell else ".."
            lines.append(f"   {bullet} {value}")
    return "\n".join(lines)


def rst(report: Report) -> str:
    """The same results as RST, for ``.. include::`` in docs/benchmarks/index.rst."""
    command = "python -m benchmarks" + (" --quick" if report.mode == "quick" else "")
    parts = [
        # Sphinx must not build this file on its own: index.rst includes it
        # from line 4 on (``:start-line: 3``), after this header.
        ":orphan:",
        "",
        ".. This file is generated by benchmarks/run.py: do not edit.",
        "",
        f"Mode: **{report.mode}** (``{command}``).",
        "",
        "Machine and versions",
        "~~~~~~~~~~~~~~~~~~~~",
        "",
        _rst_table(["Item", "Value"], [list(item) for item in report.machine]),
        "",
        "In-process (medians)",
        "~~~~~~~~~~~~~~~~~~~~",
        "",
        _rst_table(HEADERS, [_cells(row) for row in report.rows]),
        "",
        "End to end (gunicorn, 2 workers, wrk)",
        "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
        "",
    ]
    if report.e2e:
        parts += [_rst_table(E2E_HEADERS, [_e2e_cells(item) for item in report.e2e]), ""]
    if report.e2e_note:
        parts += [_rst_escape(report.e2e_note), ""]
    parts += ["Scale (PostgreSQL)", "~~~~~~~~~~~~~~~~~~", ""]
    if report.scale:
        parts += [_rst_table(SCALE_HEADERS, [list(item) for item in report.scale]), ""]
    if report.scale_note:
        parts += [_rst_escape(report.scale_note), ""]
    return "\n".join(parts).rstrip() + "\n"


def text_table(report: Report) -> str:
    """A plain table for the terminal."""
    rows = [HEADERS, *[_cells(row) for row in report.rows]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    widths[4] = min(widths[4], 44)
    lines = []
    for cells in rows:
        lines.append("  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(cells)))
    if report.e2e:
        lines += ["", *(" | ".join(_e2e_cells(item)) for item in report.e2e)]
    if report.e2e_note:
        lines.append(report.e2e_note)
    if report.scale:
        lines += ["", *(" | ".join(item) for item in report.scale)]
    if report.scale_note:
        lines.append(report.scale_note)
    return "\n".join(lines)


def chart(report: Report, path: Path) -> None:
    """Bars of ratio ÷ limit for every row with a target (left of 1 is met)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    scored = [row for row in report.rows if row.score is not None]
    labels = [
        textwrap.fill(f"{row.operation} vs {row.baseline.split(':')[0]}", 44) for row in scored
    ]
    values = [row.score for row in scored]
    colors = ["#2e7d32" if row.met == "yes" else "#c62828" for row in scored]
    height = 0.6 * len(scored) + 1.5
    figure, axes = plt.subplots(figsize=(11, height))
    positions = range(len(scored))
    axes.barh(list(positions), values, color=colors)
    axes.set_yticks(list(positions), labels, fontsize=6.5)
    axes.invert_yaxis()
    axes.axvline(1.0, color="black", linestyle="--", linewidth=1)
    axes.set_xscale("log")
    low = min(0.1, min(values) / 1.5)
    high = max(10.0, max(values) * 4)
    axes.set_xlim(low, high)
    ticks = [t for t in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300) if low <= t <= high]
    axes.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda t, _: f"{t:g}"))
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.set_xlabel("ratio ÷ target limit (log scale; ≤ 1 = target met)")
    axes.set_title(f"django-ticketoffice: ratios to same-run floors ({report.mode} run)")
    for index, row in enumerate(scored):
        axes.annotate(
            f" {row.ratio_text} (target {row.target.split(',')[0]})",
            (values[index], index),
            va="center",
            fontsize=7,
        )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
