"""How a run's bursts get their concurrency: reserved per cell, or the account's shared pool.

A reservation guarantees a cell its burst (and caps it there), but AWS keeps at least 100
of the account's concurrency unreserved, and new accounts are often given only 10 or 50 in
all: there nothing can be reserved. The matrix's `reserve` decides:

- `on`: reserve, or refuse the run when the account cannot afford it;
- `off`: never reserve; the bursts share the unreserved pool;
- `auto` (default): reserve when the account can afford it, otherwise run unreserved.

Unreserved, the run first checks that burst x the cells measured at once fits the pool,
and says in the manifest that it ran unreserved and why. A reservation is taken just
before a cell is measured and released after it, so only the cells measured at the same
moment need to fit the account, however many cells the matrix has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

from bench.errors import TargetError

# AWS refuses reserved concurrency that leaves the account fewer unreserved than this.
MIN_UNRESERVED = 100

Mode = Literal["reserved", "unreserved"]


@dataclass(frozen=True)
class ConcurrencyPlan:
    reserve: str  # the matrix's setting: auto | on | off
    mode: Mode
    per_cell: int  # the burst: what each cell needs at once
    cells_at_once: int
    account_limit: int
    unreserved: int  # the account's unreserved pool before the run
    reason: str

    @property
    def reserved_concurrency(self) -> int | None:
        """What to reserve for a cell while it is measured; None: nothing."""
        return self.per_cell if self.mode == "reserved" else None

    def describe(self) -> dict[str, Any]:
        """The manifest's `concurrency` section."""
        return asdict(self)


def plan_concurrency(
    cp: Any, *, reserve: str, burst: int, cells: int, parallel_cells: int, drivers: int = 0
) -> ConcurrencyPlan:
    """Decide from the account's settings, before anything is created; TargetError when
    the bursts fit neither a reservation nor the shared pool. `drivers`: the driver
    invocations that fire a cell's burst (driver: lambda), which draw on the shared pool."""
    settings = cp.call(cp.lambda_client.get_account_settings, "GetAccountSettings")
    limit = int(settings["AccountLimit"].get("ConcurrentExecutions", 0))
    unreserved = int(settings["AccountLimit"]["UnreservedConcurrentExecutions"])
    at_once = max(1, min(parallel_cells, cells))
    needed = burst * at_once
    affordable = unreserved - needed - drivers * at_once >= MIN_UNRESERVED

    def plan(mode: Mode, reason: str) -> ConcurrencyPlan:
        return ConcurrencyPlan(reserve, mode, burst, at_once, limit, unreserved, reason)

    if reserve != "off" and affordable:
        return plan(
            "reserved",
            f"each cell reserves its burst of {burst} while it is measured "
            f"({at_once} at once; {unreserved} unreserved in the account)",
        )
    if reserve == "on":
        raise TargetError(
            f"reserve: on, but the account has {unreserved} unreserved concurrent executions "
            f"and reserving {needed} (burst {burst} x {at_once} cell(s) measured at once) "
            f"would leave fewer than the {MIN_UNRESERVED} AWS keeps unreserved: use "
            "reserve: auto or off, lower burst, or ask AWS for a higher concurrency quota"
        )
    if drivers:
        burst, needed = burst + drivers, needed + drivers * at_once
    if needed > unreserved:
        raise TargetError(
            f"burst {burst} x {at_once} cell(s) measured at once needs {needed} concurrent "
            f"executions, more than the account's unreserved pool of {unreserved} (account "
            f"limit {limit}): lower burst, or ask AWS for a higher concurrency quota"
        )
    why = (
        "reserve: off"
        if reserve == "off"
        else f"the account cannot reserve {needed} and keep {MIN_UNRESERVED} unreserved"
    )
    return plan(
        "unreserved",
        f"{why}: cells run unreserved, sharing the account's pool of {unreserved} "
        f"(burst {burst} x {at_once} at once fits); other functions of the account may "
        "take from it too",
    )


def reserve_for_cell(cp: Any, plan: ConcurrencyPlan, name: str, cell: str | None) -> None:
    if plan.reserved_concurrency is None:
        return
    cp.call(
        partial(
            cp.lambda_client.put_function_concurrency,
            FunctionName=name,
            ReservedConcurrentExecutions=plan.reserved_concurrency,
        ),
        "PutFunctionConcurrency",
        cell,
    )


def release_cell(cp: Any, plan: ConcurrencyPlan, name: str, cell: str | None) -> None:
    if plan.reserved_concurrency is None:
        return
    from bench.deploy import delete_if_present

    delete_if_present(
        cp,
        partial(cp.lambda_client.delete_function_concurrency, FunctionName=name),
        "DeleteFunctionConcurrency",
    )
