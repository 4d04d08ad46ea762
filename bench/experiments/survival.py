"""What a keep-alive run found: per gap, P(an idle environment is still warm) with its
binomial 95% confidence interval (Clopper-Pearson, scipy).

The trials are environments, not requests: each distinct environment (sandbox id) of a
probe's warming burst is one. It survived the gap when it served an invocation of the
second burst without Init Duration. It was reclaimed when the second burst did not reach
it and started an environment (an invocation with Init Duration): a platform starts one
only when none is idle, so at that moment it was gone. When the second burst neither
reached it nor started one (an answer came back before the burst's last request arrived
and that environment took it again), what became of it is not known: it is counted as
unobserved, not as a trial.
"""

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
    trials: int  # environments of the warming bursts whose fate the second burst showed
    warm: int  # of which served the second burst without Init Duration
    unobserved: int = 0  # environments of the warming bursts the second burst did not show

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


def _probe(
    warming: list[object], second: list[object], inits: list[object]
) -> tuple[int, int, int]:
    """(warm, trials, unobserved) of one probe, from its bursts' sandbox ids and the second
    burst's Init Durations."""
    warmed = {s for s in warming if not _missing(s)}
    served: dict[object, bool] = {}  # environment of the warming burst -> ran without init
    warm = trials = 0
    for sandbox, init in zip(second, inits, strict=True):
        if _missing(sandbox):  # no sandbox id to follow: the invocation is the trial
            trials += 1
            warm += _missing(init)
        elif sandbox in warmed:
            served[sandbox] = served.get(sandbox, False) or _missing(init)
    started = any(not _missing(init) for init in inits)
    warm += sum(served.values())
    trials += len(served) + (len(warmed) - len(served) if started else 0)
    return warm, trials, 0 if started else len(warmed) - len(served)


def survival(invocations: pd.DataFrame) -> list[GapResult]:
    """One result per cell and gap, in gap order; empty for a run without probes."""
    if not len(invocations) or "probe_burst" not in invocations:
        return []
    probes = invocations[invocations["phase"].astype(str) == "probe"]
    results = []
    for (cell, idle_s), rows in probes.groupby(["cell", "idle_s"], observed=True, sort=True):
        warm = trials = unobserved = count = 0
        for _, probe in rows.groupby("round", sort=True):
            first = probe[(probe["probe_burst"] == 1) & (probe["status"].astype(str) == "success")]
            second = probe[(probe["probe_burst"] == 2) & (probe["status"].astype(str) == "success")]
            if not len(second):
                continue
            count += 1
            found = _probe(list(first["sandbox_id"]), list(second["sandbox_id"]),
                           list(second["init_duration_ms"]))  # fmt: skip
            warm, trials, unobserved = warm + found[0], trials + found[1], unobserved + found[2]
        gap = float(str(idle_s))
        results.append(GapResult(base_cell(str(cell), gap), gap, count, trials, warm, unobserved))
    return sorted(results, key=lambda r: (r.cell, r.idle_s))
