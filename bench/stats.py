"""Statistics over invocation records: per-cell summaries, order statistics, bootstrap.

Medians and percentiles with confidence intervals, never means that hide the tail. The
verdict on two runs is bench.compare's; this module only computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.quality import summary_text, verdict

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CELL_KEYS = ("runtime", "memory_mb", "architecture", "package_mb", "package_kind")

# Instability rules (shown next to the cell, with the rule that fired).
MIN_STABLE_SAMPLES = 10
MAX_IQR_OVER_MEDIAN = 0.5
BOOTSTRAP_RESAMPLES = 2000
# Above this many samples the bootstrap median is drawn from its exact order-statistic
# distribution instead of resampling, which is equivalent and keeps large runs fast.
DIRECT_BOOTSTRAP_MAX_N = 500

SUMMARY_COLUMNS = (
    "cell", *CELL_KEYS,
    "n_cold", "n_warm", "n_proactive", "n_provisioned", "n_restored", "n_unknown", "n_failed",
    "n_throttled",
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
        # Starts the levers took off the cold path: provisioned environments, restores.
        "n_provisioned": int((start == "provisioned").sum()),
        "n_restored": int((start == "restored").sum()),
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


# ---------------------------------------------------------------- resampling


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
