"""What a keep-alive run found: per gap, P(an idle environment is still warm) with its
binomial 95% confidence interval (Clopper-Pearson, scipy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CONFIDENCE = 0.95
CI_METHOD = "Clopper-Pearson (exact binomial) 95% interval"


@dataclass(frozen=True)
class GapResult:
    cell: str  # the cell without its gap, e.g. python3.12-128mb-x86_64-none
    idle_s: float
    probes: int
    trials: int  # second-burst invocations that ran
    warm: int  # of which ran on an environment of the warming burst, without Init Duration

    @property
    def p_warm(self) -> float | None:
        return self.warm / self.trials if self.trials else None

    @property
    def ci(self) -> tuple[float, float] | None:
        if not self.trials:
            return None
        from scipy.stats import binomtest

        interval = binomtest(self.warm, self.trials).proportion_ci(CONFIDENCE, method="exact")
        return float(interval.low), float(interval.high)


def base_cell(cell: str, idle_s: float) -> str:
    return cell.removesuffix(f"-idle{idle_s:g}s")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def survival(invocations: pd.DataFrame) -> list[GapResult]:
    """One result per cell and gap, in gap order; empty for a run without probes."""
    if not len(invocations) or "probe_burst" not in invocations:
        return []
    probes = invocations[invocations["phase"].astype(str) == "probe"]
    results = []
    for (cell, idle_s), rows in probes.groupby(["cell", "idle_s"], observed=True, sort=True):
        warm = trials = count = 0
        for _, probe in rows.groupby("round", sort=True):
            first = probe[(probe["probe_burst"] == 1) & (probe["status"].astype(str) == "success")]
            second = probe[(probe["probe_burst"] == 2) & (probe["status"].astype(str) == "success")]
            if not len(second):
                continue
            count += 1
            warmed = {s for s in first["sandbox_id"] if not _missing(s)}
            for sandbox, init in zip(second["sandbox_id"], second["init_duration_ms"], strict=True):
                trials += 1
                same = sandbox in warmed if not _missing(sandbox) else True
                warm += bool(same and _missing(init))
        gap = float(str(idle_s))
        results.append(GapResult(base_cell(str(cell), gap), gap, count, trials, warm))
    return sorted(results, key=lambda r: (r.cell, r.idle_s))
