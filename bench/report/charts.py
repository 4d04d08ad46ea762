"""Charts as embeddable SVG strings. Templates never touch matplotlib.

Explicit Figure objects (no pyplot state), a fixed SVG hash salt and no date metadata, so
the same data always gives the same bytes. Only measured points are drawn.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Enough points to draw a smooth ECDF; each one is a measured value (inverted-CDF quantile).
ECDF_POINTS = 400
COLORS = ("#1f5fa8", "#d1571b", "#2e8b57", "#8e44ad", "#b8860b", "#c0392b", "#17869e", "#555555")
# Figures are drawn at the page's width (inches at 96 dpi), so text keeps its size when the
# SVG is stretched to the column; legends sit beside or above the axes, never on the data.
WIDTH_IN = 12.0
_PROLOG = re.compile(r"\A\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.DOTALL)


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(
        {
            "svg.hashsalt": "coldbench",
            "svg.fonttype": "path",  # glyphs as paths: no font needed where it is opened
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    ):
        yield


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96, layout="constrained")


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    # No metadata block: no date, and no RDF vocabulary URIs in the page.
    metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buffer, format="svg", metadata=metadata)
    return _PROLOG.sub("", buffer.getvalue()).strip()


def _empty(message: str) -> str:
    with _style():
        fig = _figure(6, 1.2)
        fig.text(0.5, 0.5, message, ha="center", va="center")
        return _svg(fig)


def _legend_beside(ax: Axes, **options: Any) -> None:
    """The legend to the right of the axes: constrained layout makes room for it."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **options)


def _memory_axis(ax: Axes, memories: list[float]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(memories, [f"{m:g}" for m in memories])
    ax.minorticks_off()
    ax.set_xlabel("Memory (MB)")


def _errorbar(ax: Axes, rows: pd.DataFrame, x: str, **style: Any) -> None:
    import numpy as np

    y = rows["init_p50"].to_numpy(dtype=float)
    low = np.clip(y - rows["init_p50_ci_low"].to_numpy(dtype=float), 0, None)
    high = np.clip(rows["init_p50_ci_high"].to_numpy(dtype=float) - y, 0, None)
    # A missing CI (too few samples) draws no bar rather than a made-up one.
    yerr = np.vstack([np.nan_to_num(low), np.nan_to_num(high)])
    ax.errorbar(rows[x].to_numpy(dtype=float), y, yerr=yerr, capsize=3, marker="o", ms=4, **style)


def _measured(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["init_p50"].notna()]


def init_by_memory(summary: pd.DataFrame) -> str:
    """Median Init Duration (95% CI) against memory, one line per runtime and architecture,
    on each runtime's smallest package (the `none` cell where there is one)."""
    summary = _measured(summary)
    if summary.empty:
        return _empty("No cold start with an Init Duration was measured.")
    with _style():
        fig = _figure(WIDTH_IN, 3.6)
        ax = fig.add_subplot()
        series = summary.groupby(["runtime", "architecture"], sort=True, observed=True)
        for i, ((runtime, arch), cells) in enumerate(series):
            base = cells.sort_values(["package_mb", "package_kind"]).iloc[0]
            rows = cells[(cells["package_mb"] == base["package_mb"])
                         & (cells["package_kind"] == base["package_kind"])]  # fmt: skip
            label = f"{runtime} {arch} ({base['package_kind']} {base['package_mb']:g} MB)"
            _errorbar(ax, rows.sort_values("memory_mb"), "memory_mb",
                      color=COLORS[i % len(COLORS)], label=label)  # fmt: skip
        _memory_axis(ax, sorted(summary["memory_mb"].astype(float).unique()))
        ax.set_ylabel("Init Duration p50 (ms), 95% CI")
        ax.set_ylim(bottom=0)
        _legend_beside(ax, fontsize=8)
        return _svg(fig)


def init_by_package(summary: pd.DataFrame) -> str:
    """Median Init Duration against package size, inert vs imported; one panel per runtime,
    one line per kind and memory. The `none` cell is size 0 of both lines."""
    import pandas as pd

    summary = _measured(summary)
    sized = summary[summary["package_kind"].isin(["inert", "imported"])]
    if sized.empty:
        return _empty("No packaged cells in this run (only size 0).")
    runtimes = sorted(sized["runtime"].unique())
    with _style():
        fig = _figure(max(WIDTH_IN, 5.0 * len(runtimes)), 3.6)
        axes = fig.subplots(1, len(runtimes), squeeze=False)[0]
        for ax, runtime in zip(axes, runtimes, strict=True):
            mine = summary[summary["runtime"] == runtime]
            lines = mine[mine["package_kind"].isin(["inert", "imported"])]
            keys = lines.groupby(["package_kind", "memory_mb", "architecture"], observed=True)
            for i, ((kind, memory, arch), rows) in enumerate(sorted(keys, key=lambda kv: kv[0])):
                none = mine[(mine["package_kind"] == "none") & (mine["memory_mb"] == memory)
                            & (mine["architecture"] == arch)]  # fmt: skip
                points = pd.concat([none, rows]).sort_values("package_mb")
                style = "-" if kind == "imported" else "--"
                _errorbar(ax, points, "package_mb", color=COLORS[i % len(COLORS)],
                          linestyle=style, label=f"{kind} {memory:g} MB {arch}")  # fmt: skip
            ax.set_title(runtime)
            ax.set_xlabel("Package payload (MB)")
            ax.set_ylabel("Init Duration p50 (ms), 95% CI")
            ax.set_ylim(bottom=0)
            _legend_beside(ax, fontsize=7)
        return _svg(fig)


def _ecdf_points(values: Any) -> tuple[Any, Any]:
    import numpy as np

    values = np.sort(values)
    n = len(values)
    if n <= ECDF_POINTS:
        return values, np.arange(1, n + 1) / n
    probs = np.linspace(1 / ECDF_POINTS, 1.0, ECDF_POINTS)
    return np.quantile(values, probs, method="inverted_cdf"), probs


def latency_ecdf(invocations: pd.DataFrame) -> str:
    """ECDFs of client latency, cold (solid) vs warm (dashed), per runtime: each line pools
    every cell of its runtime (all memory sizes and packages), and says so."""
    ok = invocations[invocations["status"] == "success"]
    ok = ok[ok["client_latency_ms"].notna() & ok["start_type"].isin(["cold", "warm"])]
    if ok.empty:
        return _empty("No successful cold or warm invocation to plot.")
    with _style():
        fig = _figure(WIDTH_IN, 3.6)
        ax = fig.add_subplot()
        runtimes = sorted(ok["runtime"].unique())
        for i, runtime in enumerate(runtimes):
            for start, style in (("cold", "-"), ("warm", "--")):
                mask = (ok["runtime"] == runtime) & (ok["start_type"] == start)
                values = ok.loc[mask, "client_latency_ms"].to_numpy(dtype=float)
                if len(values):
                    x, y = _ecdf_points(values)
                    cells = ok.loc[mask, "cell"].nunique()
                    pooled = f", pooled over {cells} cells" if cells > 1 else ""
                    ax.step(x, y, where="post", linestyle=style, color=COLORS[i % len(COLORS)],
                            label=f"{runtime} {start} (n={len(values)}{pooled})")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("Client latency (ms, log scale)")
        ax.set_ylabel("Fraction of invocations")
        ax.set_ylim(0, 1.02)
        ax.set_title("Pooled per runtime: every memory size and package of a runtime in one line",
                     fontsize=9, loc="left")  # fmt: skip
        _legend_beside(ax, fontsize=8)
        return _svg(fig)


def latency_breakdown(summary: pd.DataFrame) -> str:
    """Where the cold client latency goes: medians of Init, Duration, the wait for the
    target's capacity (when it says) and the rest per cell."""
    import numpy as np

    rows = summary[summary["cold_latency_p50"].notna()]
    if rows.empty:
        return _empty("No cold client latency measured.")
    with _style():
        fig = _figure(WIDTH_IN, 1.3 + 0.28 * len(rows))
        ax = fig.add_subplot()
        y = np.arange(len(rows))[::-1]
        left = np.zeros(len(rows))
        parts = (("init_p50", "Init Duration"), ("cold_duration_p50", "Duration"),
                 ("cold_queued_p50", "queued for the host's capacity"),
                 ("cold_rest_p50", "the rest (network, API)"))  # fmt: skip
        for i, (column, label) in enumerate(parts):
            if column not in rows or rows[column].isna().all():
                continue  # a target that does not say how long it held work (AWS)
            width = np.clip(np.nan_to_num(rows[column].to_numpy(dtype=float)), 0, None)
            ax.barh(y, width, left=left, color=COLORS[i], label=label, height=0.7)
            left += width
        ax.set_yticks(y, list(rows["cell"]), fontsize=7)
        ax.set_xlabel("Cold client latency, median of each part (ms)")
        ax.grid(axis="y", visible=False)
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=4,
                  borderaxespad=0.0, frameon=False)  # fmt: skip
        return _svg(fig)


def compare_ratios(rows: list[Any], metric: str) -> str:
    """Ratio new/base of medians with its bootstrap 95% CI, one line per judged cell."""
    import numpy as np

    judged = [r for r in rows if r.metric == metric and not np.isnan(r.ratio)]
    if not judged:
        return _empty(f"No cell could be judged on {metric}.")
    marks = {"regression": "#c0392b", "improvement": "#2e8b57"}
    with _style():
        fig = _figure(WIDTH_IN, 1.0 + 0.28 * len(judged))
        ax = fig.add_subplot()
        for i, row in enumerate(judged):
            y = len(judged) - 1 - i
            color = marks.get(row.mark, "#555555")
            ax.plot([row.ratio_ci_low, row.ratio_ci_high], [y, y], color=color, lw=2)
            ax.plot([row.ratio], [y], "o", color=color, ms=5)
        ax.axvline(1.0, color="#000000", lw=0.8)
        ax.set_yticks(range(len(judged))[::-1], [r.cell for r in judged], fontsize=7)
        ax.set_xlabel(f"{metric}: median new / median base (95% bootstrap CI)")
        ax.grid(axis="y", visible=False)
        return _svg(fig)


def history_trend(points: pd.DataFrame, runtime: str) -> str:
    """Median Init Duration with its 95% CI per run (x: run start), one line per cell of
    `runtime`; runs a compare flagged as a regression against their predecessor get an X."""
    mine = points[points["runtime"] == runtime]
    runs = sorted(points["order"].unique())
    labels = (points.drop_duplicates("order").sort_values("order")["label"]).tolist()
    with _style():
        fig = _figure(max(WIDTH_IN, 0.9 * len(runs) + 3), 3.8)
        ax = fig.add_subplot()
        for i, (cell, unsorted) in enumerate(mine.groupby("cell", sort=True, observed=True)):
            rows = unsorted.sort_values("order")
            color = COLORS[i % len(COLORS)]
            _errorbar(ax, rows, "order", color=color, label=str(cell))
            flagged = rows[rows["regression"]]
            if len(flagged):
                ax.plot(flagged["order"], flagged["init_p50"], "X", color="#c0392b", ms=11,
                        markeredgecolor="#000000", zorder=5)  # fmt: skip
        if mine["regression"].any():  # a legend entry only for a mark that is drawn
            ax.plot([], [], "X", color="#c0392b", markeredgecolor="#000000", label="regression")
        ax.set_xticks(runs, labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlim(-0.5, max(runs) + 0.5 if runs else 0.5)
        ax.set_xlabel("Run (started, UTC)")
        ax.set_ylabel("Init Duration p50 (ms), 95% CI")
        ax.set_ylim(bottom=0)
        ax.set_title(runtime)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        return _svg(fig)


def cold_split_by_memory(split: pd.DataFrame) -> str:
    """Per series measured at several memory sizes: median Init Duration and median cold
    start as a caller sees it (Init + first invoke), each with its 95% CI, against memory.
    The gap between the two lines is the first invocation's Duration."""
    import numpy as np

    split = split[split["init_p50"].notna()]
    if split.empty:
        return _empty("No cold start with an Init Duration was measured.")
    with _style():
        fig = _figure(WIDTH_IN, 3.6)
        ax = fig.add_subplot()
        for i, (series, group) in enumerate(split.groupby("series", sort=True)):
            rows = group.sort_values("memory_mb")
            x = rows["memory_mb"].to_numpy(dtype=float)
            color = COLORS[i % len(COLORS)]
            for figure, style, label in (("init", "--", "Init"), ("caller", "-", "caller")):
                y = rows[f"{figure}_p50"].to_numpy(dtype=float)
                low = np.clip(y - rows[f"{figure}_ci_low"].to_numpy(dtype=float), 0, None)
                high = np.clip(rows[f"{figure}_ci_high"].to_numpy(dtype=float) - y, 0, None)
                yerr = np.vstack([np.nan_to_num(low), np.nan_to_num(high)])
                ax.errorbar(x, y, yerr=yerr, capsize=3, marker="o", ms=4, color=color,
                            linestyle=style, label=f"{series}: {label}")  # fmt: skip
        _memory_axis(ax, sorted(split["memory_mb"].astype(float).unique()))
        ax.set_ylabel("p50 (ms), 95% CI")
        ax.set_ylim(bottom=0)
        _legend_beside(ax, fontsize=7)
        return _svg(fig)
