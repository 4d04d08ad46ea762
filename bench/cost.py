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


@dataclass(frozen=True)
class Estimate:
    cells: list[CellEstimate]
    price_table: str = PRICE_TABLE_DATE
    source: str = "the matrix"
    target_kind: str = "local"
    notes: list[str] = field(default_factory=list)

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


def estimate_cell(cell: Cell, matrix: Matrix) -> CellEstimate:
    cold = matrix.cold_starts
    warm = matrix.warm_invocations
    invocations = cold + warm
    family = cell.family
    first_ms = TYPICAL_FIRST_INVOKE_MS.get(family, 50.0)
    warm_ms = TYPICAL_WARM_INVOKE_MS.get(family, 10.0)
    init_ms = _typical_init_ms(cell) if INIT_BILLED else 0.0
    # Billing rounds each invocation up to the millisecond.
    expected_ms = cold * math.ceil(init_ms + first_ms) + warm * math.ceil(warm_ms)
    worst_init_ms = INIT_LIMIT_S * 1000.0 if INIT_BILLED else 0.0
    worst_ms = cold * (worst_init_ms + matrix.timeout_s * 1000.0) + warm * matrix.timeout_s * 1000.0
    expected_gb_s = gb_seconds(expected_ms, cell.memory_mb)
    worst_gb_s = gb_seconds(worst_ms, cell.memory_mb)
    log_bytes = invocations * LOG_BYTES_PER_INVOCATION + cold * LOG_BYTES_PER_COLD_START
    worst_log_bytes = invocations * WORST_LOG_BYTES_PER_INVOCATION + cold * LOG_BYTES_PER_COLD_START
    log_usd = log_bytes / GB * PRICE_LOG_INGEST_PER_GB
    requests_usd = invocations * PRICE_PER_REQUEST
    price = price_per_gb_s(cell.architecture)
    return CellEstimate(
        cell=cell.id,
        architecture=cell.architecture,
        memory_mb=cell.memory_mb,
        cold_starts=cold,
        invocations=invocations,
        expected_gb_s=expected_gb_s,
        expected_usd=expected_gb_s * price + requests_usd + log_usd,
        worst_gb_s=worst_gb_s,
        worst_usd=worst_gb_s * price + requests_usd
        + worst_log_bytes / GB * PRICE_LOG_INGEST_PER_GB,
        log_bytes=log_bytes,
        log_usd=log_usd,
    )


def estimate_matrix(matrix: Matrix, source: str = "the matrix") -> Estimate:
    """Invocations, GB-seconds and cost per cell and in total, expected and worst case."""
    notes = [
        f"AWS us-east-1 prices of {PRICE_TABLE_DATE}; INIT billed (ZIP, managed runtimes).",
        f"Worst case: every invocation runs to timeout_s ({matrix.timeout_s} s) and every "
        f"cold start spends the {INIT_LIMIT_S:.0f} s init limit.",
    ]
    if matrix.target.kind == "local":
        notes.append("Target is local: this run costs nothing; figures are what AWS would bill.")
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
        caption="\n".join(est.notes),
    )
    table.add_column("cell", overflow="fold")
    table.add_column("arch")
    for name in ("calls", "GB-s", "expected", "GB-s worst", "worst case", "logs"):
        table.add_column(name, justify="right", no_wrap=True)
    for c in est.cells:
        table.add_row(
            c.cell, c.architecture, str(c.invocations), f"{c.expected_gb_s:.3f}",
            usd(c.expected_usd), f"{c.worst_gb_s:.1f}", usd(c.worst_usd), usd(c.log_usd),
        )
    table.add_section()
    table.add_row(
        "total", "", str(est.invocations), f"{est.expected_gb_s:.3f}", usd(est.expected_usd),
        f"{est.worst_gb_s:.1f}", usd(est.worst_case_usd), usd(est.log_usd),
    )
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
