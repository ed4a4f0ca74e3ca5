"""The chart of the results page: grouped horizontal bars of median µs per path.

One color per implementation, the same in every group; whiskers span the
10th to 90th percentile of the rounds; each bar is labelled with its median.
The axis is logarithmic because 0.2's PBKDF2 check takes hundreds of
milliseconds where the other bars take microseconds.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from .groups import GROUPS
from .harness import IMPLEMENTATIONS
from .report import COLUMNS, Results, fmt_us

COLORS = {
    "ticketoffice": "#1b6ca8",  # blue
    "handwritten": "#8c8c8c",  # grey
    "sesame": "#e08a00",  # orange
    "pbkdf2": "#8e3b8e",  # purple
}
SECTIONS = {
    "request": "Through Django's test client (a fresh session per call)",
    "inprocess": "In process (no request)",
}


def _us_label(value: float, _position: object = None) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g} s"
    if value >= 1000:
        return f"{value / 1000:g} ms"
    return f"{value:g} µs"


def draw(results: Results, path: Path) -> None:
    """Write the chart as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    sections = [s for s in SECTIONS if any(g[2] == s for g in GROUPS)]
    heights = [
        sum(len(members) + 0.8 for _, _, section, members in GROUPS if section == s)
        for s in sections
    ]
    figure, axes_list = plt.subplots(
        len(sections),
        1,
        figsize=(11, 0.3 * sum(heights) + 2.4),
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    if len(sections) == 1:
        axes_list = [axes_list]
    every = [results.stats(key) for _, _, _, members in GROUPS for _, key in members]
    low = min(s.p10 for s in every) / 2
    high = max(s.p90 for s in every) * 4
    for axes, section in zip(axes_list, sections, strict=True):
        y = 0.0
        ticks, tick_labels = [], []
        for _, title, group_section, members in GROUPS:
            if group_section != section:
                continue
            start = y
            ordered = sorted(members, key=lambda m: COLUMNS.index(m[0]))
            for impl, key in ordered:
                stats = results.stats(key)
                axes.barh(y, stats.median - low, height=0.8, color=COLORS[impl], left=low)
                axes.errorbar(
                    stats.median, y,
                    xerr=[[stats.median - stats.p10], [stats.p90 - stats.median]],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2,
                )  # fmt: skip
                value = fmt_us(stats.median) + (" µs" if stats.median < 100_000 else "")
                label = f"{value}  {results.labels[key][1]}"
                if stats.p90 * 30 > high:
                    # The longest bars (PBKDF2) carry their label inside.
                    axes.annotate(f"{label}  ", (stats.p10, y), va="center", ha="right",
                                  fontsize=7.5, color="white")  # fmt: skip
                else:
                    axes.annotate(f" {label}", (stats.p90, y), va="center", fontsize=7.5)
                y += 1
            ticks.append((start + y - 1) / 2)
            tick_labels.append(textwrap.fill(title.removeprefix("In process: "), 34))
            y += 0.8
        axes.set_yticks(ticks, tick_labels, fontsize=9)
        axes.set_ylim(y - 0.5, -0.9)
        axes.set_xscale("log")
        axes.set_xlim(low, high)
        axes.xaxis.set_major_locator(LogLocator(base=10))
        axes.xaxis.set_major_formatter(FuncFormatter(_us_label))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.grid(axis="x", which="major", color="#dddddd", linewidth=0.8)
        axes.set_axisbelow(True)
        axes.set_title(SECTIONS[section], fontsize=10, loc="left")
        axes.set_xlabel("median per call (log scale); whiskers: 10th to 90th percentile of rounds",
                        fontsize=8)  # fmt: skip
    handles = [Patch(color=COLORS[i], label=IMPLEMENTATIONS[i]) for i in COLUMNS]
    # The title rides on the legend: a suptitle and an outside legend would overlap.
    figure.legend(
        handles=handles, loc="outside upper center", ncol=4, fontsize=9, frameon=False,
        title=f"Median per call, one machine, the same interleaved rounds ({results.date})",
        title_fontsize=11,
    )  # fmt: skip
    figure.savefig(path, dpi=110)
    plt.close(figure)
