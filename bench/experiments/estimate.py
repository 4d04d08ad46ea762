"""Wall time and cost of the keep-alive and warm-up experiments, for `bench estimate` and
the finish time `bench run` prints. On AWS a keep-alive run is cheap but long: its wall
time is the longest gap times the repetitions."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bench.matrix import Cell, Matrix

if TYPE_CHECKING:
    from bench.cost import CellEstimate, Estimate

# Seconds a burst takes (signing, connections, a cold start) and what a run spends around
# its measurements (deploying, collecting REPORT lines, the report), per target kind.
BURST_S = 1.0
# A keep-alive probe first gives its function a new configuration value and waits for it.
UPDATE_S = {"local": 0.5, "aws": 2.0}
SETUP_S = {"local": 15.0, "aws": 120.0}
# For the *expected* number of cold starts only: SeBS's halving model (Jan 2020).
EXPECTED = {"warm_s": 360.0, "half_life_s": 380.0}


def _survival(idle_s: float) -> float:
    beyond = max(0.0, idle_s - EXPECTED["warm_s"])
    return float(0.5 ** (beyond / EXPECTED["half_life_s"]))


def _priced(cell: Cell, matrix: Matrix, *, cold: float, invocations: int) -> CellEstimate:
    """Expected cost with `cold` cold starts; the worst case with every invocation cold."""
    from bench.cost import estimate_cell

    cold_n = min(invocations, round(cold))
    expected = estimate_cell(cell, matrix, cold=cold_n, warm=invocations - cold_n)
    worst = estimate_cell(cell, matrix, cold=invocations, warm=0)
    return replace(expected, worst_gb_s=worst.worst_gb_s, worst_usd=worst.worst_usd,
                   levers_worst_usd=worst.levers_worst_usd)  # fmt: skip


def keepalive_wall_s(matrix: Matrix) -> float:
    assert matrix.idle_s is not None and matrix.repetitions is not None
    kind = matrix.target.kind if matrix.target.kind in SETUP_S else "aws"
    probes = matrix.repetitions * (max(matrix.idle_s) + 2 * BURST_S + UPDATE_S[kind])
    return probes + SETUP_S[kind]


def warmup_wall_s(matrix: Matrix) -> float:
    from bench.experiments.warmup import START_DELAY_S

    assert matrix.duration_s is not None
    return matrix.duration_s + START_DELAY_S + SETUP_S.get(matrix.target.kind, SETUP_S["aws"])


def estimate_experiment(matrix: Matrix, *, source: str, notes: list[str]) -> Estimate:
    from bench.cost import Estimate

    cells: list[CellEstimate] = []
    if matrix.experiment == "keepalive":
        from bench.experiments.keepalive import GapCell, KeepaliveExperiment

        n, reps = matrix.environments or 0, matrix.repetitions or 0
        for cell in KeepaliveExperiment.cells_of(matrix):
            assert isinstance(cell, GapCell)
            # every warming burst starts fresh environments; the second, the evicted
            cold = n * reps * (2 - _survival(cell.idle_s))
            cells.append(_priced(cell, matrix, cold=cold, invocations=2 * n * reps))
        wall = keepalive_wall_s(matrix)
        notes.append(
            f"Wall time: the longest gap ({max(matrix.idle_s or [0]):g} s) x {reps} repetitions "
            "plus the bursts (each probe's warming burst starts fresh environments), deploying "
            "and collecting; all gaps run at once."
        )
    else:
        from bench.experiments.warmup import ArmCell, WarmupExperiment, arrivals, ping_times

        users = arrivals(matrix)
        gap = (matrix.duration_s or 0) / max(1, len(users))
        pings = len(ping_times(matrix)) * (matrix.ping_concurrency or 0)
        for cell in WarmupExperiment.cells_of(matrix):
            assert isinstance(cell, ArmCell)
            if cell.arm == "pings":
                total, every = len(users) + pings, matrix.ping_every_s or gap
            else:
                total, every = len(users), gap
            cold = 1 + (len(users) - 1) * (1 - _survival(min(gap, every)))
            cells.append(_priced(cell, matrix, cold=cold, invocations=total))
        wall = warmup_wall_s(matrix)
        notes.append(f"Wall time: duration_s ({matrix.duration_s:g} s) plus deploying and "
                     "collecting; both arms run at once.")  # fmt: skip
    notes.append("Expected cold starts follow SeBS's model (all warm to 360 s idle, then half "
                 "per further 380 s); the worst case has every invocation cold.")  # fmt: skip
    return Estimate(cells=cells, source=source, target_kind=matrix.target.kind, notes=notes,
                    wall_s=wall)  # fmt: skip
