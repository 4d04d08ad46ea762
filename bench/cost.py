"""What a matrix costs on AWS: a dated price table, an estimate, a budget guard, actual cost.

The worst case is what the budget guard judges: every invocation runs to its timeout and
every cold start spends Lambda's full 10 s init limit, so a hung or misbehaving fixture
can never cost more than what was accepted. The expected figures are a guide only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.errors import BudgetExceeded
from bench.lambda_limits import INIT_LIMIT_S
from bench.matrix import Cell, Matrix

if TYPE_CHECKING:
    from rich.table import Table

# us-east-1, first tier. Re-check https://aws.amazon.com/lambda/pricing/ when updating.
PRICE_TABLE_DATE = "2026-08-01"
PRICE_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000
PRICE_LOG_INGEST_PER_GB = 0.50
# Provisioned concurrency: its environments cost per GB-s from enable to disable, rounded
# up to 5 minutes; invocations on them cost less per GB-s than on demand.
PRICE_PROVISIONED_PER_GB_S = {"x86_64": 0.0000041667, "arm64": 0.0000033334}
PRICE_PROVISIONED_DURATION_PER_GB_S = {"x86_64": 0.0000097222, "arm64": 0.0000077778}
PROVISIONED_BILLING_UNIT_S = 300
TYPICAL_PROVISIONED_READY_S = 120.0  # AWS's allocation time, for the expected figure only
# SnapStart on python and dotnet (Java's costs nothing extra): the snapshot's cache per
# GB-s of memory, at least 3 hours per published version, and each restore per GB.
PRICE_SNAPSTART_CACHE_PER_GB_S = 0.0000015046
PRICE_SNAPSTART_RESTORE_PER_GB = 0.0001397998
SNAPSTART_MIN_CACHE_S = 3 * 3600
# Since 2025-08-01 the INIT phase is billed for on-demand ZIP functions on managed
# runtimes, so a cold start bills Init Duration + Duration.
INIT_BILLED = True

# Typical figures for our fixtures, for the *expected* estimate only. Init: the published
# daily mean at 128 MB (python3.12 85 ms, nodejs 135 ms, java21 242 ms), rounded up for
# the fixture's own imports. Duration: the fixture handler does almost nothing, but the
# first invoke in a sandbox pays lazy loading (and for Java, the JIT).
TYPICAL_INIT_MS = {"python": 120.0, "nodejs": 150.0, "java": 450.0}
TYPICAL_FIRST_INVOKE_MS = {"python": 10.0, "nodejs": 10.0, "java": 150.0}
TYPICAL_WARM_INVOKE_MS = {"python": 2.0, "nodejs": 2.0, "java": 5.0}
# Loaded code costs init time roughly in proportion to its size (Node 18: +220 ms for
# 8 MB); bytes that are never read cost little more than the unzip.
INIT_MS_PER_IMPORTED_MB = 30.0
INIT_MS_PER_INERT_MB = 1.0
INIT_MS_REQUIREMENTS = 400.0
UNKNOWN_FAMILY_INIT_MS = 500.0
# START + END + REPORT lines are ~350 bytes, INIT_START ~200; the fixture logs a little.
LOG_BYTES_PER_INVOCATION = 500
LOG_BYTES_PER_COLD_START = 250
WORST_LOG_BYTES_PER_INVOCATION = 4096  # a timeout adds its own lines and stack traces
GB = 1024**3


@dataclass(frozen=True)
class CellEstimate:
    cell: str
    architecture: str
    memory_mb: int
    cold_starts: int
    invocations: int
    expected_gb_s: float
    expected_usd: float
    worst_gb_s: float
    worst_usd: float
    log_bytes: int
    log_usd: float
    # Provisioned environments and SnapStart's cache and restores (both in the totals).
    levers_usd: float = 0.0
    levers_worst_usd: float = 0.0


@dataclass(frozen=True)
class Estimate:
    cells: list[CellEstimate]
    price_table: str = PRICE_TABLE_DATE
    source: str = "the matrix"
    target_kind: str = "local"
    notes: list[str] = field(default_factory=list)
    wall_s: float | None = None  # expected wall time, where it is estimated

    def finish_at(self) -> str | None:
        """When a run started now is expected to end, e.g. `14:05 UTC (in 1 h 52 min)`."""
        if self.wall_s is None:
            return None
        from datetime import UTC, datetime, timedelta

        end = datetime.now(UTC) + timedelta(seconds=self.wall_s)
        return f"{end:%H:%M} UTC (in {duration_text(self.wall_s)})"

    @property
    def invocations(self) -> int:
        return sum(c.invocations for c in self.cells)

    @property
    def expected_gb_s(self) -> float:
        return sum(c.expected_gb_s for c in self.cells)

    @property
    def worst_gb_s(self) -> float:
        return sum(c.worst_gb_s for c in self.cells)

    @property
    def expected_usd(self) -> float:
        return sum(c.expected_usd for c in self.cells)

    @property
    def worst_case_usd(self) -> float:
        return sum(c.worst_usd for c in self.cells)

    @property
    def log_usd(self) -> float:
        return sum(c.log_usd for c in self.cells)


def gb_seconds(billed_ms: float, memory_mb: float) -> float:
    return billed_ms / 1000.0 * memory_mb / 1024.0


def _typical_init_ms(cell: Cell) -> float:
    init = TYPICAL_INIT_MS.get(cell.family, UNKNOWN_FAMILY_INIT_MS)
    if cell.package_kind == "imported":
        init += INIT_MS_PER_IMPORTED_MB * cell.package_mb
    elif cell.package_kind == "inert":
        init += INIT_MS_PER_INERT_MB * cell.package_mb
    elif cell.package_kind == "requirements":
        init += INIT_MS_REQUIREMENTS
    return init


def price_per_gb_s(architecture: str) -> float:
    """Compute price of one GB-second on `architecture` (x86_64 for one we do not know)."""
    return PRICE_PER_GB_S.get(architecture, PRICE_PER_GB_S["x86_64"])


def _rounds(matrix: Matrix) -> int:
    """Cold rounds: each publishes a version when the cell uses a lever."""
    if matrix.strategy == "sequential":
        return matrix.cold_starts
    return math.ceil(matrix.cold_starts / matrix.burst)


def _billed_units(seconds: float) -> float:
    return math.ceil(seconds / PROVISIONED_BILLING_UNIT_S) * PROVISIONED_BILLING_UNIT_S


def levers_cost(cell: Cell, matrix: Matrix) -> tuple[float, float]:
    """(expected, worst) dollars of the cell's provisioned environments and SnapStart.

    Provisioned: every round holds N environments from its PutProvisionedConcurrency
    Config until the next round (the last one through the warm phase), each hold billed in
    5-minute units; expected with AWS's usual allocation time, worst with the driver's
    whole READY deadline plus every invocation at its timeout. SnapStart (python,
    dotnet): each round's version caches a snapshot for at least 3 hours, and every cold
    start restores it."""
    from bench.levers import PROVISIONED_READY_TIMEOUT_S

    gb = cell.memory_mb / 1024.0
    rounds = _rounds(matrix)
    expected = worst = 0.0
    if cell.provisioned:
        prices = PRICE_PROVISIONED_PER_GB_S
        price = prices.get(cell.architecture, prices["x86_64"])
        per_round = cell.provisioned * gb * price
        expected = rounds * per_round * _billed_units(TYPICAL_PROVISIONED_READY_S)
        round_s = PROVISIONED_READY_TIMEOUT_S + matrix.timeout_s
        warm_s = matrix.warm_invocations * matrix.timeout_s
        worst = per_round * (rounds * _billed_units(round_s) + _billed_units(warm_s))
    if cell.snapstart == "on" and cell.family in ("python", "dotnet"):
        cache = rounds * gb * SNAPSTART_MIN_CACHE_S * PRICE_SNAPSTART_CACHE_PER_GB_S
        restores = matrix.cold_starts * gb * PRICE_SNAPSTART_RESTORE_PER_GB
        expected += cache + restores
        worst += cache + restores
    return expected, worst


def duration_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


# driver: lambda (bench.driver.fleet): its invocations are billed like any function's.
DRIVER_WIDTH = 16  # = bench.driver.fleet.DRIVER_WIDTH (kept here: cost imports no driver)
DRIVER_MEMORY_MB = 1024  # = the AWS target's driver memory (bench.target)
TYPICAL_DRIVER_ROUND_S = 2.0  # the lead (1 s) and a round's cold starts
TYPICAL_DRIVER_ONCE_S = 0.1


def driver_cost(cell: Cell, matrix: Matrix, cold: int, warm: int) -> tuple[float, float]:
    """(expected, worst) dollars of the driver invocations that fire `cell`'s invocations
    (driver: lambda): one per DRIVER_WIDTH of each cold round, one per warm invocation;
    worst, each runs to the driver's timeout."""
    if matrix.target.driver != "lambda":
        return 0.0, 0.0
    rounds = math.ceil(cold / matrix.burst) if cold else 0
    per_round = math.ceil(min(matrix.burst, max(cold, 1)) / DRIVER_WIDTH)
    calls = rounds * per_round + warm
    timeout_s = min(900, matrix.timeout_s + 61)
    price = price_per_gb_s("x86_64")
    expected_s = rounds * per_round * TYPICAL_DRIVER_ROUND_S + warm * TYPICAL_DRIVER_ONCE_S
    expected = gb_seconds(expected_s * 1000, DRIVER_MEMORY_MB) * price
    worst = gb_seconds(calls * timeout_s * 1000, DRIVER_MEMORY_MB) * price
    requests = calls * PRICE_PER_REQUEST
    return expected + requests, worst + requests


def estimate_cell(
    cell: Cell, matrix: Matrix, *, cold: int | None = None, warm: int | None = None
) -> CellEstimate:
    """`cold` and `warm` invocations (default: the matrix's cold_starts and
    warm_invocations)."""
    cold = matrix.cold_starts if cold is None else cold
    warm = matrix.warm_invocations if warm is None else warm
    invocations = cold + warm
    family = cell.family
    first_ms = TYPICAL_FIRST_INVOKE_MS.get(family, 50.0)
    warm_ms = TYPICAL_WARM_INVOKE_MS.get(family, 10.0)
    init_ms = _typical_init_ms(cell) if INIT_BILLED else 0.0
    # Billing rounds each invocation up to the millisecond.
    expected_ms = cold * math.ceil(init_ms + first_ms) + warm * math.ceil(warm_ms)
    worst_init_ms = INIT_LIMIT_S * 1000.0 if INIT_BILLED else 0.0
    timeout_ms = matrix.timeout_of(cell) * 1000.0  # a user's function may set its own
    worst_ms = cold * (worst_init_ms + timeout_ms) + warm * timeout_ms
    expected_gb_s = gb_seconds(expected_ms, cell.memory_mb)
    worst_gb_s = gb_seconds(worst_ms, cell.memory_mb)
    log_bytes = invocations * LOG_BYTES_PER_INVOCATION + cold * LOG_BYTES_PER_COLD_START
    worst_log_bytes = invocations * WORST_LOG_BYTES_PER_INVOCATION + cold * LOG_BYTES_PER_COLD_START
    log_usd = log_bytes / GB * PRICE_LOG_INGEST_PER_GB
    requests_usd = invocations * PRICE_PER_REQUEST
    price = price_per_gb_s(cell.architecture)
    levers_usd, levers_worst_usd = levers_cost(cell, matrix)
    driver_usd, driver_worst_usd = driver_cost(cell, matrix, cold, warm)
    return CellEstimate(
        cell=cell.id,
        architecture=cell.architecture,
        memory_mb=cell.memory_mb,
        cold_starts=cold,
        invocations=invocations,
        expected_gb_s=expected_gb_s,
        expected_usd=expected_gb_s * price + requests_usd + log_usd + levers_usd + driver_usd,
        worst_gb_s=worst_gb_s,
        worst_usd=worst_gb_s * price + requests_usd
        + worst_log_bytes / GB * PRICE_LOG_INGEST_PER_GB + levers_worst_usd + driver_worst_usd,
        log_bytes=log_bytes,
        log_usd=log_usd,
        levers_usd=levers_usd,
        levers_worst_usd=levers_worst_usd,
    )


def estimate_matrix(matrix: Matrix, source: str = "the matrix") -> Estimate:
    """Invocations, GB-seconds and cost per cell and in total, expected and worst case."""
    notes = [
        f"AWS us-east-1 prices of {PRICE_TABLE_DATE}; INIT billed (ZIP, managed runtimes).",
        f"Worst case: every invocation runs to timeout_s ({matrix.timeout_s} s) and every "
        f"cold start spends the {INIT_LIMIT_S:.0f} s init limit.",
    ]
    if any(c.provisioned for c in matrix.cells()):
        notes.append(
            "Levers: provisioned environments at their GB-s price for every round, in "
            f"{PROVISIONED_BILLING_UNIT_S // 60}-minute units (expected: "
            f"{TYPICAL_PROVISIONED_READY_S:.0f} s to allocate)."
        )
    if any(c.snapstart == "on" for c in matrix.cells()):
        notes.append(
            "Levers: SnapStart's snapshot cache (3 h minimum per version) and restores "
            "(python, dotnet; none for java)."
        )
    if matrix.target.driver == "lambda":
        notes.append(
            f"Driver: one {DRIVER_MEMORY_MB} MB driver invocation per {DRIVER_WIDTH} of each "
            "cold round and per warm invocation, in each cell's price (worst: each runs to "
            "its timeout)."
        )
    if matrix.regions:
        notes.append(f"Regions: every cell in each of {', '.join(matrix.regions)}.")
    if matrix.target.kind == "local":
        notes.append("Target is local: this run costs nothing; figures are what AWS would bill.")
    if matrix.experiment != "coldstart":
        from bench.experiments.estimate import estimate_experiment

        return estimate_experiment(matrix, source=source, notes=notes)
    return Estimate(
        cells=[estimate_cell(cell, matrix) for cell in matrix.cells()],
        source=source,
        target_kind=matrix.target.kind,
        notes=notes,
    )


def usd(value: float) -> str:
    """Dollars readable at both ends: $12.35, $0.0263, $0.00000312 (3 significant digits)."""
    if value >= 1:
        return f"${value:,.2f}"
    if value <= 0:
        return "$0"
    digits = 2 - math.floor(math.log10(value))
    return f"${value:.{digits}f}"


def format_estimate(est: Estimate) -> Table:
    """The estimate as a table, per cell and in total (pure: the CLI prints it)."""
    from rich.table import Table

    table = Table(
        title=f"Cost estimate for {est.source} (price table {est.price_table})",
        caption="\n".join(
            est.notes
            + ([f"Expected wall time: {duration_text(est.wall_s)}."] if est.wall_s else [])
        ),
    )
    table.add_column("cell", overflow="fold")
    table.add_column("arch")
    levers = any(c.levers_worst_usd for c in est.cells)
    names = ("calls", "GB-s", "expected", "GB-s worst", "worst case", "logs")
    for name in (*names, "levers") if levers else names:
        table.add_column(name, justify="right", no_wrap=True)
    for c in est.cells:
        row = [
            c.cell, c.architecture, str(c.invocations), f"{c.expected_gb_s:.3f}",
            usd(c.expected_usd), f"{c.worst_gb_s:.1f}", usd(c.worst_usd), usd(c.log_usd),
        ]  # fmt: skip
        table.add_row(*row, *([usd(c.levers_usd)] if levers else []))
    table.add_section()
    total = [
        "total", "", str(est.invocations), f"{est.expected_gb_s:.3f}", usd(est.expected_usd),
        f"{est.worst_gb_s:.1f}", usd(est.worst_case_usd), usd(est.log_usd),
    ]  # fmt: skip
    table.add_row(*total, *([usd(sum(c.levers_usd for c in est.cells))] if levers else []))
    return table


def check_budget(
    est: Estimate, budget_usd: float, accept_cost: bool, source: str | None = None
) -> None:
    """Raise BudgetExceeded when the worst case is over budget and not explicitly accepted."""
    if accept_cost or est.worst_case_usd <= budget_usd:
        return
    raise BudgetExceeded(
        f"worst case {usd(est.worst_case_usd)} exceeds budget_usd {usd(budget_usd)} in "
        f"{source or est.source}; raise budget_usd or pass --accept-cost"
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return float(value)


def actual_cost(records: Iterable[dict[str, Any]]) -> float:
    """Compute and request charges of recorded invocations, from their Billed Duration.

    Billed Duration already includes the INIT phase where AWS bills it. A throttled call
    never ran and costs nothing; log ingestion is not measured and not included.
    """
    total = 0.0
    for record in records:
        if record.get("status") == "throttled" or record.get("request_id") is None:
            continue
        total += PRICE_PER_REQUEST
        billed = _number(record.get("billed_duration_ms"))
        memory = _number(record.get("memory_size_mb")) or _number(record.get("memory_mb"))
        if billed is None or memory is None:
            continue
        total += gb_seconds(billed, memory) * price_per_gb_s(str(record.get("architecture")))
    return total


def init_invoke_cost(
    billed_ms: float, duration_ms: float, init_ms: float | None, memory_mb: float,
    architecture: str,
) -> tuple[float, float]:
    """One REPORT line's charge split into (INIT, invoke) dollars. Where INIT is billed,
    Billed Duration holds both: the handler's own time rounded up to the millisecond is
    invoke, the rest is INIT. The request charge is invoke's."""
    price = price_per_gb_s(architecture)
    invoke_ms = billed_ms if init_ms is None else min(billed_ms, float(math.ceil(duration_ms)))
    return (
        gb_seconds(billed_ms - invoke_ms, memory_mb) * price,
        gb_seconds(invoke_ms, memory_mb) * price + PRICE_PER_REQUEST,
    )
