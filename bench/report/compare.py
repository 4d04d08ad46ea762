"""Compare two runs: a terminal table and reports/compare-<base>--<new>.html."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.compare import DEFAULT_ALPHA, DEFAULT_FACTOR, CompareRow, Verdict, judge
from bench.report import charts
from bench.report.html import number, render, svg
from bench.report.load import LoadedRun, matrix_name

if TYPE_CHECKING:
    from rich.table import Table

MARK_TEXT = {
    "regression": "REGRESSION",
    "improvement": "improvement",
    "large-not-significant": "large, not significant",
    "unchanged": "unchanged",
    "contended": "contended, not judged",
    "insufficient": "insufficient data",
    "not-comparable": "not comparable",
}
MARK_STYLE = {
    "regression": "bold red",
    "improvement": "green",
    "large-not-significant": "yellow",
    "contended": "magenta",
    "insufficient": "dim",
    "not-comparable": "dim",
}


@dataclass
class CompareOutcome:
    """A verdict (bench.compare) and the page that shows it; reads as the verdict."""

    verdict: Verdict
    path: Path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.verdict, name)


def _ratio_ci(row: CompareRow) -> str:
    if math.isnan(row.ratio_ci_low):
        return "–"
    return f"{row.ratio_ci_low:.3f} – {row.ratio_ci_high:.3f}"


def _p(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2g}"


def row_cells(row: CompareRow, reported: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The columns shared by the terminal table and the HTML page."""
    ratio = "–" if math.isnan(row.ratio) else f"{row.ratio:.3f}"
    metric = f"{row.metric} (reported, not gated)" if row.metric in reported else row.metric
    return [
        row.cell, metric, f"{row.base_n}", f"{row.new_n}", number(row.base_median, 2),
        number(row.new_median, 2), ratio, _ratio_ci(row), _p(row.p_value),
        MARK_TEXT[row.mark], row.reason,
    ]  # fmt: skip


HEADERS = ["cell", "metric", "n base", "n new", "median base", "median new", "ratio",
           "ratio 95% CI", "p (MWU)", "verdict", "why"]  # fmt: skip


def format_compare_table(outcome: Verdict | CompareOutcome) -> Table:
    from rich.table import Table

    nothing = "NOTHING COULD BE JUDGED; " if not outcome.judged else ""
    contended = f", {outcome.contended} contended" if outcome.contended else ""
    if outcome.hidden_regressions:
        contended += (f" ({outcome.hidden_regressions} would be regression(s): "
                      "NOT PASSED, re-run on a quiet host)")  # fmt: skip
    title = (f"{outcome.new_id} against {outcome.base_id}: {nothing}"
             f"{outcome.regressions} regression(s), "
             f"{outcome.improvements} improvement(s), {outcome.not_comparable} not comparable, "
             f"{outcome.insufficient} insufficient{contended} (factor {outcome.factor:g}, "
             f"alpha {outcome.alpha:g})")  # fmt: skip
    if outcome.reported:
        title += (f"; reported, not gated: {', '.join(outcome.reported)} "
                  f"({outcome.reported_regressions} regression(s) there)")  # fmt: skip
    caption = ("matrix settings that differ (base -> new): " + "; ".join(outcome.matrix_changes)
               if outcome.matrix_changes else None)  # fmt: skip
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for header in HEADERS:
        left = header in ("cell", "metric", "verdict", "why")
        # A cut-off cell id is useless; let the explanation wrap instead.
        table.add_column(header, justify="left" if left else "right", no_wrap=header == "cell")
    for row in outcome.rows:
        gated = row.metric not in outcome.reported
        style = MARK_STYLE.get(row.mark) if gated else "dim"
        table.add_row(*row_cells(row, outcome.reported), style=style)
    return table


def _describe(loaded: LoadedRun) -> dict[str, Any]:
    target = loaded.manifest["target"]
    local = target.get("local") or {}
    where = target.get("region") if target["kind"] == "aws" else (
        "CPU limits " + ("on" if local.get("cpu_limits") else "OFF"))  # fmt: skip
    return {
        "run_id": loaded.run_id,
        "matrix": matrix_name(loaded.manifest),
        "status": loaded.status,
        "started": loaded.manifest.get("started"),
        "target": f"{target['kind']}, {where}",
        "tool": (loaded.manifest.get("tool") or {}).get("version", "?"),
        "dropped": loaded.dropped,
    }


def write_compare_page(
    verdict: Verdict, base_run: LoadedRun, new_run: LoadedRun, reports_dir: Path
) -> Path:
    """reports/compare-<base>--<new>.html for a verdict; returns its path."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"compare-{verdict.base_id}--{verdict.new_id}.html"
    html = render(
        "compare.html.j2",
        outcome=verdict,
        headers=HEADERS,
        table=[(row.mark, row_cells(row, verdict.reported)) for row in verdict.rows],
        mark_text=MARK_TEXT,
        base=_describe(base_run),
        new=_describe(new_run),
        charts=[(m, svg(charts.compare_ratios(verdict.rows, m))) for m in verdict.metrics],
    )
    path.write_text(html, encoding="utf-8")
    return path


def render_compare(
    base: Path,
    new: Path,
    reports_dir: Path,
    *,
    metrics: list[str],
    factor: float = DEFAULT_FACTOR,
    alpha: float = DEFAULT_ALPHA,
    lenient: bool = False,
    report_only: list[str] | None = None,
) -> CompareOutcome:
    """Judge NEW against BASE (bench.compare) and write the page that shows the verdict."""
    verdict, base_run, new_run = judge(
        base, new, metrics=metrics, factor=factor, alpha=alpha, report_only=report_only,
        lenient=lenient,
    )  # fmt: skip
    return CompareOutcome(verdict, write_compare_page(verdict, base_run, new_run, reports_dir))
