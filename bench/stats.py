"""Statistics over invocation records: per-cell summaries and the two-run comparison.

Medians and percentiles with confidence intervals, never means that hide the tail. A
regression needs both an effect size (ratio of medians beyond a factor) and a test
(Mann-Whitney U below a strict p); anything that cannot be judged says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bench.quality import summary_text, verdict

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CELL_KEYS = ("runtime", "memory_mb", "architecture", "package_mb", "package_kind")
# Cold-start samples unless named warm: init_duration_ms and duration_ms are the platform's
# REPORT numbers; client_latency_ms is what the client saw, network path included.
METRICS = ("init_duration_ms", "duration_ms", "client_latency_ms", "warm_duration_ms")

# Instability rules (shown next to the cell, with the rule that fired).
MIN_STABLE_SAMPLES = 10
MAX_IQR_OVER_MEDIAN = 0.5
# Fewer samples than this on either side and a comparison is "insufficient", not a pass.
MIN_COMPARE_SAMPLES = 5
BOOTSTRAP_RESAMPLES = 2000
# Above this many samples the bootstrap median is drawn from its exact order-statistic
# distribution instead of resampling, which is equivalent and keeps large runs fast.
DIRECT_BOOTSTRAP_MAX_N = 500

SUMMARY_COLUMNS = (
    "cell", *CELL_KEYS,
    "n_cold", "n_warm", "n_proactive", "n_unknown", "n_failed", "n_throttled",
    "init_p50", "init_p50_ci_low", "init_p50_ci_high", "init_p90", "init_p99", "init_max",
    "cold_latency_p50", "cold_latency_p99", "cold_duration_p50", "cold_queued_p50",
    "cold_rest_p50",
    "warm_duration_p50", "max_memory_used_mb", "cost_per_million_usd",
    "unstable", "unstable_reason", "contended", "quality_reason",
)  # fmt: skip


# ---------------------------------------------------------------- order statistics


def median_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (binomial, n >= 6).

    The interval [x_(k), x_(n+1-k)] covers the median with probability
    1 - 2 * P(Binom(n, 1/2) <= k - 1); k is the largest index that keeps it >= confidence.
    """
    import numpy as np
    from scipy.stats import binom

    n = len(values)
    if n == 0:
        return (float("nan"), float("nan"))
    k = int(binom.ppf((1 - confidence) / 2, n, 0.5))
    if k < 1:
        return (float("nan"), float("nan"))
    ordered = np.sort(values)
    return (float(ordered[k - 1]), float(ordered[n - k]))


def quantile_ci(
    values: np.ndarray, q: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Distribution-free CI of the q-quantile from order statistics: the ranks between
    which Binom(n, q) falls with the given confidence (NaN when n is too small for it)."""
    import numpy as np
    from scipy.stats import binom

    n = len(values)
    if n == 0:
        return (float("nan"), float("nan"))
    tail = (1 - confidence) / 2
    low, high = int(binom.ppf(tail, n, q)), int(binom.ppf(1 - tail, n, q)) + 1
    if low < 1 or high > n:
        return (float("nan"), float("nan"))
    ordered = np.sort(values)
    return (float(ordered[low - 1]), float(ordered[high - 1]))


def _percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    import numpy as np

    if len(values) == 0:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(values, qs)]


def instability(values: np.ndarray) -> str:
    """Why a sample of cold Init Durations is not to be trusted; empty when it is fine."""
    import numpy as np

    n = len(values)
    if n == 0:
        return "no cold starts"
    if n < MIN_STABLE_SAMPLES:
        return f"{n} cold starts (< {MIN_STABLE_SAMPLES})"
    q1, median, q3 = np.percentile(values, (25, 50, 75))
    if median > 0 and (q3 - q1) / median > MAX_IQR_OVER_MEDIAN:
        return f"IQR/median {(q3 - q1) / median:.2f} (> {MAX_IQR_OVER_MEDIAN})"
    return ""


# ---------------------------------------------------------------- per-cell summary


def _cost_per_million(group: pd.DataFrame) -> float:
    import numpy as np

    from bench.cost import PRICE_PER_REQUEST, price_per_gb_s

    billed = group["billed_duration_ms"].to_numpy(dtype=float)
    size = group["memory_size_mb"].fillna(group["memory_mb"]).to_numpy(dtype=float)
    price = price_per_gb_s(str(group["architecture"].iloc[0]))
    per_call = billed / 1000.0 * size / 1024.0 * price + PRICE_PER_REQUEST
    per_call = per_call[~np.isnan(per_call)]
    return float(per_call.mean() * 1_000_000) if len(per_call) else float("nan")


def _summarise_cell(cell: str, group: pd.DataFrame) -> dict[str, Any]:
    import numpy as np

    start = group["start_type"].to_numpy()
    status = group["status"].to_numpy()
    ok = status == "success"
    cold = (start == "cold") & ok
    warm = (start == "warm") & ok
    init = group["init_duration_ms"].to_numpy(dtype=float)[cold]
    init = init[~np.isnan(init)]
    latency = group["client_latency_ms"].to_numpy(dtype=float)
    duration = group["duration_ms"].to_numpy(dtype=float)
    cold_latency = latency[cold]
    cold_latency = cold_latency[~np.isnan(cold_latency)]
    # Where the cold client latency goes: Init, Duration, the target's wait for capacity
    # (queued_ms, null where the target does not say) and the rest.
    queued_all = (
        group["queued_ms"].to_numpy(dtype=float)
        if "queued_ms" in group
        else np.full(len(group), np.nan)
    )
    queued = queued_all[cold]
    queued = queued[~np.isnan(queued)]
    init_all = group["init_duration_ms"].to_numpy(dtype=float)
    rest = (latency - duration - init_all - np.nan_to_num(queued_all))[cold]
    rest = rest[~np.isnan(rest)]
    cold_duration = duration[cold]
    warm_duration = duration[warm]
    memory = group["max_memory_used_mb"].to_numpy(dtype=float)
    memory = memory[~np.isnan(memory)]
    first = group.iloc[0]
    p50, p90, p99, pmax = _percentiles(init, (50, 90, 99, 100))
    ci_low, ci_high = median_ci(init)
    lat50, lat99 = _percentiles(cold_latency, (50, 99))
    reason = instability(init)
    quality = _quality(group)
    return {
        "cell": cell,
        **{key: first[key] for key in CELL_KEYS},
        "n_cold": int((start == "cold").sum()),
        "n_warm": int((start == "warm").sum()),
        "n_proactive": int((start == "proactive").sum()),
        "n_unknown": int((start == "unknown").sum()),
        "n_failed": int(np.isin(status, ("error", "timeout")).sum()),
        "n_throttled": int((status == "throttled").sum()),
        "init_p50": p50,
        "init_p50_ci_low": ci_low,
        "init_p50_ci_high": ci_high,
        "init_p90": p90,
        "init_p99": p99,
        "init_max": pmax,
        "cold_latency_p50": lat50,
        "cold_latency_p99": lat99,
        "cold_duration_p50": _percentiles(cold_duration[~np.isnan(cold_duration)], (50,))[0],
        "cold_queued_p50": _percentiles(queued, (50,))[0],
        "cold_rest_p50": _percentiles(rest, (50,))[0],
        "warm_duration_p50": _percentiles(warm_duration[~np.isnan(warm_duration)], (50,))[0],
        "max_memory_used_mb": float(memory.max()) if len(memory) else float("nan"),
        "cost_per_million_usd": _cost_per_million(group),
        "unstable": bool(reason),
        "unstable_reason": reason,
        "contended": quality["verdict"] == "contended",
        "quality_reason": summary_text(quality),
    }


def _quality(group: pd.DataFrame) -> dict[str, Any]:
    """The cell's measurement-quality verdict (bench.quality) from its records."""
    return verdict(group.get("contention", ()))


def cell_summary(invocations: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, sorted by runtime, memory, architecture and package: counts, Init
    Duration percentiles with a 95% CI of the median, cold client latency, warm Duration,
    memory, cost per million and the instability flag."""
    import pandas as pd

    if invocations.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = [
        _summarise_cell(str(cell), group)
        for cell, group in invocations.groupby("cell", sort=True, observed=True)
    ]
    # Runtime, then memory as a number (512 before 1769), then package; cell id breaks ties.
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    order = [*CELL_KEYS, "cell"]
    return summary.sort_values(order, kind="stable", ignore_index=True)


# ---------------------------------------------------------------- comparison


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


def metric_values(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The samples a metric is judged on, as columns `cell` and `value`."""
    import pandas as pd

    if metric not in METRICS:
        from bench.errors import InputError

        raise InputError(f"--metric {metric}: unknown metric; use one of {', '.join(METRICS)}")
    ok = df["status"] == "success"
    if metric == "warm_duration_ms":
        mask, column = ok & (df["start_type"] == "warm"), "duration_ms"
    else:
        mask, column = ok & (df["start_type"] == "cold"), metric
    out = pd.DataFrame({"cell": df.loc[mask, "cell"], "value": df.loc[mask, column]})
    return out.dropna(subset=["value"])


def bootstrap_medians(
    values: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES
) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples of `values`, vectorised."""
    import numpy as np
    from scipy.stats import binom

    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n <= DIRECT_BOOTSTRAP_MAX_N:
        idx = rng.integers(0, n, size=(resamples, n))
        medians: np.ndarray = np.median(ordered[idx], axis=1)
        return medians
    # The resample's median (the upper one for even n) is x_(j) for the smallest j such
    # that at least m = n//2 + 1 draws fall on x_(1..j); that count is Binomial(n, j/n).
    # Sampling j from this exact distribution is the same bootstrap without materialising
    # the resamples.
    m = n // 2 + 1
    cdf = binom.sf(m - 1, n, np.arange(1, n + 1) / n)
    picks = np.searchsorted(cdf, rng.random(resamples), side="left")
    return ordered[np.minimum(picks, n - 1)]


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
        from bench.errors import InputError

        raise InputError(f"--factor {factor:g}: must be above 1 (e.g. 1.1 for 10%)")
    if not 0 < alpha < 1:
        from bench.errors import InputError

        raise InputError(f"--alpha {alpha:g}: must be between 0 and 1 (e.g. 0.002)")
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
        return replace(row, mark="contended", reason=f"{row.reason}; not judged, {note}")
    return replace(row, reason=f"{row.reason}; {note}")


def _by_cell(values: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        str(cell): group["value"].to_numpy(dtype=float)
        for cell, group in values.groupby("cell", sort=True, observed=True)
    }
