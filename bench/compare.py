"""The verdict on two runs: every cell and metric judged, and the exit code it gives.

A regression needs both an effect size (ratio of medians beyond a factor) and a test
(Mann-Whitney U below a strict p); anything that cannot be judged says so, as
"insufficient", "not comparable" or "contended", and never counts as a pass.
`bench compare` renders a Verdict (bench.report.compare) and exits with its code;
`bench history` marks the runs this module flags against their predecessor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EXIT_INPUT, EXIT_OK, EXIT_REGRESSION, EXIT_RUN_FAILED, InputError
from bench.quality import verdict
from bench.stats import CELL_KEYS, bootstrap_medians

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bench.results import LoadedRun

# Cold-start samples unless named warm: init_duration_ms and duration_ms are the platform's
# REPORT numbers; client_latency_ms is what the client saw, network path included.
METRICS = ("init_duration_ms", "duration_ms", "client_latency_ms", "warm_duration_ms")
DEFAULT_METRICS = ("init_duration_ms",)
# The regression rule's effect size and significance (asv: factor 1.1, p 0.002).
DEFAULT_FACTOR = 1.1
DEFAULT_ALPHA = 0.002
# Fewer samples than this on either side and a comparison is "insufficient", not a pass.
MIN_COMPARE_SAMPLES = 5
MARKS = (
    "regression", "improvement", "large-not-significant", "unchanged", "contended",
    "insufficient", "not-comparable",
)  # fmt: skip
JUDGED = ("regression", "improvement", "large-not-significant", "unchanged")


@dataclass(frozen=True)
class CompareRow:
    """One cell and metric judged: `mark` is regression, improvement, large-not-significant,
    unchanged, contended, insufficient or not-comparable; `reason` says why in words."""

    cell: str
    metric: str
    mark: str
    reason: str
    base_n: int = 0
    new_n: int = 0
    base_median: float = float("nan")
    new_median: float = float("nan")
    ratio: float = float("nan")
    ratio_ci_low: float = float("nan")
    ratio_ci_high: float = float("nan")
    p_value: float = float("nan")
    # What the statistics said before contention set the row aside ("" when it did not).
    set_aside: str = ""


def metric_values(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The samples a metric is judged on, as columns `cell` and `value`."""
    import pandas as pd

    if metric not in METRICS:
        raise InputError(f"--metric {metric}: unknown metric; use one of {', '.join(METRICS)}")
    ok = df["status"] == "success"
    if metric == "warm_duration_ms":
        mask, column = ok & (df["start_type"] == "warm"), "duration_ms"
    else:
        mask, column = ok & (df["start_type"] == "cold"), metric
    out = pd.DataFrame({"cell": df.loc[mask, "cell"], "value": df.loc[mask, column]})
    return out.dropna(subset=["value"])


def _judge(ratio: float, p: float, factor: float, alpha: float) -> tuple[str, str]:
    if ratio > factor and p < alpha:
        return "regression", f"median {ratio:.2f}x, p={p:.2g} < {alpha:g}"
    if ratio < 1 / factor and p < alpha:
        return "improvement", f"median {ratio:.2f}x, p={p:.2g} < {alpha:g}"
    if ratio > factor or ratio < 1 / factor:
        return "large-not-significant", f"median {ratio:.2f}x but p={p:.2g} >= {alpha:g}"
    return "unchanged", f"median {ratio:.2f}x within {1 / factor:.2f}..{factor:g}"


def compare_samples(
    cell: str,
    metric: str,
    base: np.ndarray,
    new: np.ndarray,
    *,
    factor: float,
    alpha: float,
    rng: np.random.Generator,
) -> CompareRow:
    """Medians, ratio new/base with a bootstrap 95% CI, Mann-Whitney U and the verdict."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    counts: dict[str, Any] = {"base_n": len(base), "new_n": len(new)}
    if len(base) < MIN_COMPARE_SAMPLES or len(new) < MIN_COMPARE_SAMPLES:
        reason = f"{len(base)} vs {len(new)} samples; need >= {MIN_COMPARE_SAMPLES} each"
        medians: dict[str, Any] = {
            "base_median": float(np.median(base)) if len(base) else float("nan"),
            "new_median": float(np.median(new)) if len(new) else float("nan"),
        }
        return CompareRow(cell, metric, "insufficient", reason, **counts, **medians)
    base_median, new_median = float(np.median(base)), float(np.median(new))
    if base_median <= 0:
        reason = f"base median {base_median:g} is not positive; no ratio"
        return CompareRow(cell, metric, "insufficient", reason, **counts)
    ratios = bootstrap_medians(new, rng) / bootstrap_medians(base, rng)
    low, high = np.percentile(ratios, (2.5, 97.5))
    p = float(mannwhitneyu(new, base, alternative="two-sided").pvalue)
    ratio = new_median / base_median
    mark, reason = _judge(ratio, p, factor, alpha)
    return CompareRow(
        cell, metric, mark, reason, **counts,
        base_median=base_median, new_median=new_median, ratio=ratio,
        ratio_ci_low=float(low), ratio_ci_high=float(high), p_value=p,
    )  # fmt: skip


def _tool_major(manifest: dict[str, Any]) -> str:
    version = str((manifest.get("tool") or {}).get("version", "?"))
    return version.split(".", maxsplit=1)[0]


def run_level_mismatch(base_manifest: dict[str, Any], new_manifest: dict[str, Any]) -> str:
    """Why two runs cannot be compared at all (target kind, tool major version, CPU
    limits of a local target); empty when they can."""
    problems = []
    base_target, new_target = base_manifest.get("target") or {}, new_manifest.get("target") or {}
    if base_target.get("kind") != new_target.get("kind"):
        problems.append(f"target kind {base_target.get('kind')} vs {new_target.get('kind')}")
    if _tool_major(base_manifest) != _tool_major(new_manifest):
        major = f"{_tool_major(base_manifest)} vs {_tool_major(new_manifest)}"
        problems.append(f"tool major version {major}")
    base_local, new_local = base_target.get("local") or {}, new_target.get("local") or {}
    both_local = base_target.get("kind") == new_target.get("kind") == "local"
    if both_local and base_local.get("cpu_limits") != new_local.get("cpu_limits"):
        limits = f"{base_local.get('cpu_limits')} vs {new_local.get('cpu_limits')}"
        problems.append(f"local CPU limits {limits}")
    return "; ".join(problems)


def _cell_keys(df: pd.DataFrame) -> dict[str, tuple[Any, ...]]:
    firsts = df.groupby("cell", sort=True, observed=True)[list(CELL_KEYS)].first()
    return {
        str(cell): tuple(_normal(v) for v in row)
        for cell, row in zip(firsts.index, firsts.itertuples(index=False), strict=True)
    }


def _normal(value: Any) -> Any:
    # 5 and 5.0 MB are the same package; numpy scalars compare like Python ones.
    if hasattr(value, "item"):
        value = value.item()
    return float(value) if isinstance(value, int | float) else value


def _key_mismatch(base: tuple[Any, ...], new: tuple[Any, ...]) -> str:
    return ", ".join(
        f"{key} {b} vs {n}" for key, b, n in zip(CELL_KEYS, base, new, strict=True) if b != n
    )


def compare_runs(
    base_df: pd.DataFrame,
    new_df: pd.DataFrame,
    base_manifest: dict[str, Any],
    new_manifest: dict[str, Any],
    *,
    metrics: list[str],
    factor: float,
    alpha: float,
    seed: int = 0,
) -> list[CompareRow]:
    """Judge every cell and metric of `new` against `base`; rows sorted by cell, metric."""
    import numpy as np

    if factor <= 1:
        raise InputError(f"--factor {factor:g}: must be above 1 (e.g. {DEFAULT_FACTOR:g} for 10%)")
    if not 0 < alpha < 1:
        raise InputError(f"--alpha {alpha:g}: must be between 0 and 1 (e.g. {DEFAULT_ALPHA:g})")
    rng = np.random.default_rng(seed)
    base_keys, new_keys = _cell_keys(base_df), _cell_keys(new_df)
    contended = {"base": _contended_cells(base_df), "new": _contended_cells(new_df)}
    run_problem = run_level_mismatch(base_manifest, new_manifest)
    samples = {
        metric: (_by_cell(metric_values(base_df, metric)), _by_cell(metric_values(new_df, metric)))
        for metric in metrics
    }
    rows = []
    for cell in sorted(set(base_keys) | set(new_keys)):
        for metric in metrics:
            if cell not in new_keys or cell not in base_keys:
                side = "base" if cell in base_keys else "new"
                rows.append(CompareRow(cell, metric, "not-comparable", f"only in {side} run"))
                continue
            problem = run_problem or _key_mismatch(base_keys[cell], new_keys[cell])
            if problem:
                rows.append(CompareRow(cell, metric, "not-comparable", problem))
                continue
            empty = np.empty(0)
            base_values = samples[metric][0].get(cell, empty)
            new_values = samples[metric][1].get(cell, empty)
            row = compare_samples(
                cell, metric, base_values, new_values, factor=factor, alpha=alpha, rng=rng
            )
            rows.append(_mind_contention(row, contended["base"], contended["new"]))
    return rows


def _contended_cells(df: pd.DataFrame) -> dict[str, str]:
    """Cell -> why its measurements were contended, for the contended cells of a run."""
    if "contention" not in df:
        return {}
    out = {}
    for cell, group in df.groupby("cell", sort=True, observed=True):
        quality = verdict(group["contention"])
        if quality["verdict"] == "contended":
            out[str(cell)] = "; ".join(quality["reasons"])
    return out


def _mind_contention(row: CompareRow, base: dict[str, str], new: dict[str, str]) -> CompareRow:
    """A difference measured on a contended cell is not called a regression (or an
    improvement): the contention may be all of it. "unchanged" stands, with the note."""
    sides = [f"{side} contended: {why[row.cell]}" for side, why in (("base", base), ("new", new))
             if row.cell in why]  # fmt: skip
    if not sides:
        return row
    note = "; ".join(sides)
    if row.mark in ("regression", "improvement", "large-not-significant"):
        return replace(
            row, mark="contended", set_aside=row.mark, reason=f"{row.reason}; not judged, {note}"
        )
    return replace(row, reason=f"{row.reason}; {note}")


def _by_cell(values: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        str(cell): group["value"].to_numpy(dtype=float)
        for cell, group in values.groupby("cell", sort=True, observed=True)
    }


@dataclass
class Verdict:
    """Every row of a comparison, what the gating rows count, and the exit code."""

    rows: list[CompareRow]
    base_id: str
    new_id: str
    metrics: list[str]
    factor: float
    alpha: float
    run_problem: str = ""
    matrix_changes: list[str] = field(default_factory=list)
    # Metrics shown with their verdicts but never failing the comparison (e.g. client
    # latency measured across the internet); the counts leave them out.
    reported: list[str] = field(default_factory=list)
    # Leniently read: the records each side left out (bench.results.validate).
    base_dropped: list[str] = field(default_factory=list)
    new_dropped: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        gating = [r for r in self.rows if r.metric not in self.reported]
        return {mark: sum(r.mark == mark for r in gating) for mark in MARKS}

    @property
    def regressions(self) -> int:
        return self.counts["regression"]

    @property
    def improvements(self) -> int:
        return self.counts["improvement"]

    @property
    def not_comparable(self) -> int:
        return self.counts["not-comparable"]

    @property
    def insufficient(self) -> int:
        return self.counts["insufficient"]

    @property
    def contended(self) -> int:
        return self.counts["contended"]

    @property
    def reported_regressions(self) -> int:
        return sum(r.mark == "regression" for r in self.rows if r.metric in self.reported)

    @property
    def judged(self) -> int:
        """Gating rows that got a verdict; not comparable and insufficient rows did not."""
        return sum(r.mark in JUDGED for r in self.rows if r.metric not in self.reported)

    @property
    def hidden_regressions(self) -> int:
        """Gating rows that would be regressions but were measured contended: unknown,
        so the comparison cannot pass on them."""
        return sum(
            r.mark == "contended" and r.set_aside == "regression"
            for r in self.rows
            if r.metric not in self.reported
        )

    @property
    def exit_code(self) -> int:
        """1 on any regression; 2 when not one row could be judged; 3 when a regression
        was measured on a contended cell, so a quiet re-run must decide (never a silent
        pass)."""
        if self.regressions:
            return EXIT_REGRESSION
        if not self.judged:
            return EXIT_INPUT
        return EXIT_RUN_FAILED if self.hidden_regressions else EXIT_OK


def judge_runs(
    base: LoadedRun,
    new: LoadedRun,
    *,
    metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS,
    factor: float = DEFAULT_FACTOR,
    alpha: float = DEFAULT_ALPHA,
    report_only: list[str] | None = None,
) -> Verdict:
    """Judge `new` against `base`, both already read. `report_only` metrics are judged
    and shown like the others but never fail the comparison."""
    from bench.report.settings import matrix_changes

    reported = [m for m in dict.fromkeys(report_only or []) if m not in metrics]
    both = [m for m in dict.fromkeys(report_only or []) if m in metrics]
    if both:
        raise InputError(f"--report-only {both[0]}: also given as --metric; pick one")
    if not metrics:
        raise InputError("no --metric to judge: name at least one metric that gates")
    every = list(dict.fromkeys(metrics)) + reported
    rows = compare_runs(
        base.invocations, new.invocations, base.manifest, new.manifest,
        metrics=every, factor=factor, alpha=alpha,
    )  # fmt: skip
    return Verdict(
        rows=rows, base_id=base.run_id, new_id=new.run_id, metrics=every, factor=factor,
        alpha=alpha, run_problem=run_level_mismatch(base.manifest, new.manifest),
        matrix_changes=matrix_changes(base.manifest, new.manifest), reported=reported,
        base_dropped=list(base.dropped), new_dropped=list(new.dropped),
    )  # fmt: skip


def judge(
    base_dir: Path,
    new_dir: Path,
    *,
    metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS,
    factor: float = DEFAULT_FACTOR,
    alpha: float = DEFAULT_ALPHA,
    report_only: list[str] | None = None,
    lenient: bool = False,
) -> tuple[Verdict, LoadedRun, LoadedRun]:
    """Read two run directories and judge the second against the first; writes nothing."""
    from bench.report.load import load_runs

    base, new = load_runs([Path(base_dir), Path(new_dir)], lenient=lenient)
    found = judge_runs(
        base, new, metrics=metrics, factor=factor, alpha=alpha, report_only=report_only
    )
    return found, base, new
