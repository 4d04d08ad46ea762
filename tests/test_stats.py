"""Statistics: order-statistic CIs, instability rules, per-cell summary, the verdict rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from bench.compare import compare_samples, metric_values
from bench.errors import InputError
from bench.stats import (
    bootstrap_medians,
    cell_summary,
    instability,
    median_ci,
)
from tests.synthetic import SyntheticRun, invocations_frame


def test_median_ci_uses_the_textbook_order_statistics() -> None:
    # n=10: the 95% interval is [x_(2), x_(9)] (coverage 97.9%).
    assert median_ci(np.arange(1.0, 11.0)) == (2.0, 9.0)
    # n=20: [x_(6), x_(15)].
    assert median_ci(np.arange(1.0, 21.0)) == (6.0, 15.0)


@pytest.mark.parametrize("n", [6, 7, 15, 40, 101, 1000])
def test_median_ci_coverage_is_at_least_95_percent(n: int) -> None:
    low, high = median_ci(np.arange(1.0, n + 1))
    k = int(low)  # values are 1..n, so the value is the 1-based index
    assert high == n + 1 - k
    coverage = 1 - 2 * binom.cdf(k - 1, n, 0.5)
    assert coverage >= 0.95
    # ...and it is the narrowest symmetric one: one step in drops below 95%.
    narrower = 1 - 2 * binom.cdf(k, n, 0.5)
    assert narrower < 0.95


def test_median_ci_is_undefined_below_six_samples() -> None:
    low, high = median_ci(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert np.isnan(low) and np.isnan(high)


def test_instability_names_the_rule() -> None:
    assert instability(np.array([])) == "no cold starts"
    assert instability(np.full(9, 100.0)) == "9 cold starts (< 10)"
    wide = np.concatenate([np.full(10, 50.0), np.full(10, 200.0)])
    assert "IQR/median" in instability(wide)
    assert instability(np.random.default_rng(0).lognormal(np.log(100), 0.1, 50)) == ""


def test_cell_summary_counts_and_percentiles() -> None:
    spec = SyntheticRun(cold=30, warm=12, throttles_per_cell=2, errors_per_cell=1)
    frame = invocations_frame(spec)
    summary = cell_summary(frame)
    assert len(summary) == 12
    assert list(summary["runtime"].unique()) == ["nodejs22.x", "python3.12"]
    first = summary.iloc[0]
    assert [first["memory_mb"] for _, first in summary.head(6).iterrows()] == [
        128, 128, 512, 512, 1769, 1769
    ]
    assert (summary["n_cold"] == 30).all() and (summary["n_warm"] == 12).all()
    assert (summary["n_throttled"] == 2).all() and (summary["n_failed"] == 1).all()
    assert (summary["n_unknown"] == 3).all()
    cell = frame[(frame["cell"] == first["cell"]) & (frame["start_type"] == "cold")]
    init = cell["init_duration_ms"].to_numpy()
    assert first["init_p50"] == pytest.approx(np.median(init))
    assert first["init_max"] == pytest.approx(init.max())
    assert first["init_p50_ci_low"] <= first["init_p50"] <= first["init_p50_ci_high"]
    assert not summary["unstable"].any(), summary["unstable_reason"].tolist()
    assert (summary["cost_per_million_usd"] > 0.2).all()  # at least the request price


def test_cell_summary_flags_a_cell_with_too_few_cold_starts() -> None:
    summary = cell_summary(invocations_frame(SyntheticRun(cold=7, warm=2, burst=7)))
    assert summary["unstable"].all()
    assert (summary["unstable_reason"] == "7 cold starts (< 10)").all()


def test_unknown_metric_is_an_input_error() -> None:
    frame = invocations_frame(SyntheticRun(cold=5, warm=1, burst=5))
    with pytest.raises(InputError, match="--metric init_ms: unknown metric"):
        metric_values(frame, "init_ms")


def test_fast_bootstrap_matches_resampling() -> None:
    # Above the direct-resampling size the median is drawn from its exact order-statistic
    # distribution; its spread must match plain resampling of the same data.
    data = np.random.default_rng(3).lognormal(np.log(100), 0.3, 1001)
    fast = bootstrap_medians(data, np.random.default_rng(1), resamples=4000)
    idx = np.random.default_rng(2).integers(0, len(data), size=(4000, len(data)))
    slow = np.median(data[idx], axis=1)
    for q in (2.5, 50, 97.5):
        assert np.percentile(fast, q) == pytest.approx(np.percentile(slow, q), rel=0.01)


def test_too_few_samples_is_insufficient_not_a_pass() -> None:
    rng = np.random.default_rng(0)
    row = compare_samples("c", "init_duration_ms", np.array([1.0, 2, 3, 4]), np.arange(1.0, 50),
                          factor=1.1, alpha=0.002, rng=rng)  # fmt: skip
    assert row.mark == "insufficient"
    assert "4 vs 49 samples" in row.reason


@pytest.mark.parametrize(
    ("shift", "n", "mark"),
    [(1.5, 60, "regression"), (0.6, 60, "improvement"), (1.5, 6, "large-not-significant"),
     (1.0, 60, "unchanged")],
)  # fmt: skip
def test_verdicts(shift: float, n: int, mark: str) -> None:
    rng = np.random.default_rng(7)
    base = rng.lognormal(np.log(100), 0.3, n)
    new = rng.lognormal(np.log(100 * shift), 0.3, n)
    row = compare_samples("c", "init_duration_ms", base, new, factor=1.1, alpha=0.002, rng=rng)
    assert row.mark == mark, row
    assert row.ratio_ci_low <= row.ratio <= row.ratio_ci_high
