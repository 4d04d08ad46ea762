"""The cold start a caller sees, split: Init Duration, the first invocation's Duration, the
warm Duration, and their sum; and which memory size a function is best run at.

On Lambda a caller waits for the init and then for the first invocation, which for a
function that works lazily (loads, connects, JIT-compiles on first use) is much slower
than a warm one and scales with the CPU share, i.e. with memory. Each figure is a median
with its 95% CI from order statistics (bench.stats.median_ci); the sum is taken per cold
invocation, then its median, so it is a figure some caller really waited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.stats import median_ci

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Steady traffic starts a new execution environment for a small share of invocations:
# AWS describes cold starts as typically under 1% of invocations. The report's default
# mix; `bench report --cold-share` sets another.
DEFAULT_COLD_SHARE = 0.01
FIGURES = ("init", "first", "warm", "caller")
FIGURE_LABELS = {
    "init": "Init Duration",
    "first": "first-invoke Duration",
    "warm": "warm Duration",
    "caller": "cold start as a caller sees it (Init + first invoke)",
}
SPLIT_COLUMNS = (
    "cell", "series", "function", "runtime", "memory_mb", "architecture", "n_cold", "n_warm",
    *(f"{f}_{s}" for f in FIGURES for s in ("p50", "ci_low", "ci_high")),
    "cold_cost_usd", "warm_cost_usd",
)  # fmt: skip


def _series(first: Any) -> str:
    """What a memory sweep varies within: the function, or a fixture's runtime, architecture
    and package."""
    function = first.get("function")
    if isinstance(function, str) and function:
        runtime = first["runtime"]
        return f"{function} ({runtime}, {first['architecture']})"
    package = first["package_kind"]
    if package not in ("none", "requirements", "function"):
        package = f"{package} {float(first['package_mb']):g} MB"
    return f"{first['runtime']} {first['architecture']} ({package})"


def _median(values: np.ndarray) -> tuple[float, float, float]:
    import numpy as np

    values = values[~np.isnan(values)]
    if not len(values):
        return (float("nan"),) * 3
    low, high = median_ci(values)
    return float(np.median(values)), low, high


def _cost(group: pd.DataFrame) -> float:
    """Mean price of one of these invocations (compute at its billed duration + request)."""
    import numpy as np

    from bench.cost import PRICE_PER_REQUEST, price_per_gb_s

    billed = group["billed_duration_ms"].to_numpy(dtype=float)
    size = group["memory_size_mb"].fillna(group["memory_mb"]).to_numpy(dtype=float)
    price = price_per_gb_s(str(group["architecture"].iloc[0])) if len(group) else 0.0
    per_call = billed / 1000.0 * size / 1024.0 * price + PRICE_PER_REQUEST
    per_call = per_call[~np.isnan(per_call)]
    return float(per_call.mean()) if len(per_call) else float("nan")


def cold_split(invocations: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the four figures with their CIs, and the price of a cold and of a
    warm invocation. Only successful invocations count (an error's Duration is not the
    function's)."""
    import pandas as pd

    rows = []
    if invocations.empty:
        return pd.DataFrame(columns=list(SPLIT_COLUMNS))
    for cell, group in invocations.groupby("cell", sort=True, observed=True):
        ok = group[group["status"].astype(str) == "success"]
        cold = ok[ok["start_type"].astype(str) == "cold"]
        warm = ok[ok["start_type"].astype(str) == "warm"]
        first = group.iloc[0].to_dict()
        init = cold["init_duration_ms"].to_numpy(dtype=float)
        duration = cold["duration_ms"].to_numpy(dtype=float)
        figures = {
            "init": _median(init),
            "first": _median(duration),
            "warm": _median(warm["duration_ms"].to_numpy(dtype=float)),
            "caller": _median(init + duration),
        }
        row: dict[str, Any] = {
            "cell": str(cell),
            "series": _series(first),
            "function": first.get("function") if isinstance(first.get("function"), str) else None,
            "runtime": first["runtime"],
            "memory_mb": int(first["memory_mb"]),
            "architecture": first["architecture"],
            "n_cold": len(cold),
            "n_warm": len(warm),
            "cold_cost_usd": _cost(cold),
            "warm_cost_usd": _cost(warm),
        }
        for name, (p50, low, high) in figures.items():
            row.update({f"{name}_p50": p50, f"{name}_ci_low": low, f"{name}_ci_high": high})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))
    return frame.sort_values(["series", "memory_mb"], kind="stable", ignore_index=True)


def _balanced(points: list[tuple[int, float, float, float, float]]) -> int:
    """The memory whose cost and mixed latency, each over the lowest of its kind, have the
    smallest sum; the smaller memory on a tie."""
    low_cost, low_ms = min(p[1] for p in points), min(p[4] for p in points)

    def score(p: tuple[int, float, float, float, float]) -> float:
        return p[1] / low_cost + (p[4] / low_ms if low_ms > 0 else 1.0)

    return min(points, key=lambda p: (score(p), p[0]))[0]


@dataclass(frozen=True)
class SizeChoice:
    memory_mb: int
    cost_per_million_usd: float  # at the mix
    cold_ms: float  # caller-seen cold start p50
    warm_ms: float  # warm Duration p50
    mixed_ms: float  # cold_share x cold_ms + (1 - cold_share) x warm_ms
    cheapest: bool
    fastest: bool
    best: bool


@dataclass(frozen=True)
class Recommendation:
    series: str
    cold_share: float
    sizes: list[SizeChoice]

    @property
    def best(self) -> SizeChoice:
        return next(s for s in self.sizes if s.best)


def recommend(split: pd.DataFrame, cold_share: float = DEFAULT_COLD_SHARE) -> list[Recommendation]:
    """Per series measured at two or more memory sizes: cost per million invocations and
    latency at each size for a mix of `cold_share` cold invocations (the rest warm); the
    cheapest and the fastest size at that mix, and the best: the one whose cost and
    latency, each over the best of its kind, have the smallest sum (an even trade of a
    percent of cost for a percent of latency, as power tuning's balanced strategy weighs).
    Sizes without a cold and a warm figure are left out."""
    import math

    if not 0.0 <= cold_share <= 1.0:
        raise ValueError(f"cold share {cold_share!r} is not between 0 and 1")
    out = []
    for series, group in split.groupby("series", sort=True):
        points = []
        for row in group.sort_values("memory_mb").to_dict("records"):
            figures = (row["caller_p50"], row["warm_p50"], row["cold_cost_usd"],
                       row["warm_cost_usd"])  # fmt: skip
            if any(math.isnan(float(v)) for v in figures):
                continue
            cost = (cold_share * row["cold_cost_usd"] + (1 - cold_share) * row["warm_cost_usd"])
            mixed = cold_share * row["caller_p50"] + (1 - cold_share) * row["warm_p50"]
            points.append((int(row["memory_mb"]), cost * 1e6, row["caller_p50"],
                           row["warm_p50"], mixed))  # fmt: skip
        if len(points) < 2:
            continue
        cheapest = min(points, key=lambda p: (p[1], p[0]))[0]
        fastest = min(points, key=lambda p: (p[4], p[0]))[0]
        best = _balanced(points)
        sizes = [
            SizeChoice(mb, cost, cold, warm, mixed, mb == cheapest, mb == fastest, mb == best)
            for mb, cost, cold, warm, mixed in points
        ]
        out.append(Recommendation(str(series), cold_share, sizes))
    return out
