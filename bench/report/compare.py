"""Compare two runs: a terminal table and reports/compare-<base>--<new>.html."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EXIT_INPUT, EXIT_OK, EXIT_REGRESSION
from bench.report import charts
from bench.report.html import number, render, svg
from bench.report.load import LoadedRun, load_runs, matrix_name
from bench.report.settings import matrix_changes
from bench.stats import CompareRow, compare_runs, run_level_mismatch

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
JUDGED = ("regression", "improvement", "large-not-significant", "unchanged")
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
    path: Path
    rows: list[CompareRow]
    base_id: str
    new_id: str
    metrics: list[str]
    factor: float
    alpha: float
    regressions: int = 0
    improvements: int = 0
    not_comparable: int = 0
    insufficient: int = 0
    contended: int = 0
    run_problem: str = ""
    matrix_changes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Metrics shown with their verdicts but never failing the comparison (e.g. client
    # latency measured across the internet); the counts above leave them out.
    reported: list[str] = field(default_factory=list)
    reported_regressions: int = 0

    @property
    def judged(self) -> int:
        """Gating rows that got a verdict; not comparable and insufficient rows did not."""
        return sum(r.mark in JUDGED for r in self.rows if r.metric not in self.reported)

    @property
    def exit_code(self) -> int:
        """1 on any regression; 2 when not one row could be judged (never a silent pass)."""
        if self.regressions:
            return EXIT_REGRESSION
        return EXIT_INPUT if not self.judged else EXIT_OK


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


def format_compare_table(outcome: CompareOutcome) -> Table:
    from rich.table import Table

    nothing = "NOTHING COULD BE JUDGED; " if not outcome.judged else ""
    contended = f", {outcome.contended} contended" if outcome.contended else ""
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


def render_compare(
    base: Path,
    new: Path,
    reports_dir: Path,
    *,
    metrics: list[str],
    factor: float = 1.1,
    alpha: float = 0.002,
    lenient: bool = False,
    report_only: list[str] | None = None,
) -> CompareOutcome:
    """Judge NEW against BASE per cell and metric; write the HTML page and return the rows.
    `report_only` metrics are judged and shown like the others but never fail the
    comparison."""
    from bench.errors import InputError

    base_run, new_run = load_runs([Path(base), Path(new)], lenient=lenient)
    reported = [m for m in dict.fromkeys(report_only or []) if m not in metrics]
    both = [m for m in dict.fromkeys(report_only or []) if m in metrics]
    if both:
        raise InputError(f"--report-only {both[0]}: also given as --metric; pick one")
    if not metrics:
        raise InputError("no --metric to judge: name at least one metric that gates")
    metrics = list(dict.fromkeys(metrics)) + reported
    rows = compare_runs(
        base_run.invocations, new_run.invocations, base_run.manifest, new_run.manifest,
        metrics=metrics, factor=factor, alpha=alpha,
    )  # fmt: skip
    gating = [r for r in rows if r.metric not in reported]
    counts = {mark: sum(r.mark == mark for r in gating) for mark in MARK_TEXT}
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"compare-{base_run.run_id}--{new_run.run_id}.html"
    outcome = CompareOutcome(
        path=path, rows=rows, base_id=base_run.run_id, new_id=new_run.run_id, metrics=metrics,
        factor=factor, alpha=alpha, regressions=counts["regression"],
        improvements=counts["improvement"], not_comparable=counts["not-comparable"],
        insufficient=counts["insufficient"], contended=counts["contended"],
        run_problem=run_level_mismatch(base_run.manifest, new_run.manifest), counts=counts,
        matrix_changes=matrix_changes(base_run.manifest, new_run.manifest),
        reported=reported,
        reported_regressions=sum(
            r.mark == "regression" for r in rows if r.metric in reported
        ),
    )  # fmt: skip
    html = render(
        "compare.html.j2",
        outcome=outcome,
        headers=HEADERS,
        table=[(row.mark, row_cells(row, reported)) for row in rows],
        mark_text=MARK_TEXT,
        base=_describe(base_run),
        new=_describe(new_run),
        charts=[(m, svg(charts.compare_ratios(rows, m))) for m in metrics],
    )
    path.write_text(html, encoding="utf-8")
    return outcome
