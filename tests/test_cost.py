"""Cost estimate, budget guard and actual cost against hand-computed figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.cli import app
from bench.cost import (
    INIT_LIMIT_S,
    PRICE_PER_GB_S,
    PRICE_PER_REQUEST,
    PRICE_TABLE_DATE,
    actual_cost,
    check_budget,
    estimate_matrix,
    format_estimate,
    usd,
)
from bench.errors import EXIT_INPUT, BudgetExceeded
from bench.matrix import parse_matrix


def matrix(**overrides: Any) -> Any:
    data: dict[str, Any] = {
        "name": "t", "runtimes": ["python3.12"], "memory_mb": [1024],
        "cold_starts": 10, "burst": 5, "warm_invocations": 20, "timeout_s": 30,
    }
    data.update(overrides)
    return parse_matrix(data, "t.yaml")


def test_price_table_is_dated_and_current() -> None:
    assert PRICE_TABLE_DATE == "2026-08-01"
    assert PRICE_PER_GB_S == {"x86_64": 0.0000166667, "arm64": 0.0000133334}
    assert abs(PRICE_PER_REQUEST - 0.20 / 1e6) < 1e-18


def test_worst_case_is_timeout_on_every_call_plus_init_limit_on_every_cold_start() -> None:
    est = estimate_matrix(matrix(architectures=["x86_64", "arm64"]))
    assert [c.invocations for c in est.cells] == [30, 30]
    # 10 cold x (30 s + 10 s) + 20 warm x 30 s = 1000 s at 1 GB.
    assert INIT_LIMIT_S == 10.0
    x86, arm = est.cells
    assert x86.worst_gb_s == pytest.approx(1000.0)
    requests = 30 * 0.20 / 1e6
    logs_worst = (30 * 4096 + 10 * 250) / 1024**3 * 0.50
    assert x86.worst_usd == pytest.approx(1000 * 0.0000166667 + requests + logs_worst)
    assert arm.worst_usd == pytest.approx(1000 * 0.0000133334 + requests + logs_worst)
    assert est.worst_case_usd == pytest.approx(x86.worst_usd + arm.worst_usd)
    assert est.invocations == 60


def test_expected_cost_bills_init_and_grows_with_memory_and_imported_code() -> None:
    est = estimate_matrix(matrix(memory_mb=[128, 1024], package={"size_mb": [0, 5],
                                                                 "kind": ["inert", "imported"]}))
    by_id = {c.cell: c for c in est.cells}
    small = by_id["python3.12-128mb-x86_64-none"]
    big = by_id["python3.12-1024mb-x86_64-none"]
    assert big.expected_gb_s == pytest.approx(small.expected_gb_s * 8)
    inert = by_id["python3.12-1024mb-x86_64-inert-5mb"]
    imported = by_id["python3.12-1024mb-x86_64-imported-5mb"]
    assert big.expected_gb_s < inert.expected_gb_s < imported.expected_gb_s
    # Init is billed: the cold part alone exceeds a warm-only run of the same count.
    assert small.expected_gb_s > 30 * 0.002 * 128 / 1024
    for c in est.cells:
        assert 0 < c.expected_usd < c.worst_usd


def test_budget_guard_refuses_with_a_one_line_message() -> None:
    est = estimate_matrix(matrix(), source="nightly.yaml")
    assert est.worst_case_usd > 0.01
    with pytest.raises(BudgetExceeded) as info:
        check_budget(est, 0.01, accept_cost=False)
    message = str(info.value)
    assert message.startswith(f"worst case {usd(est.worst_case_usd)} exceeds budget_usd $0.0100")
    assert "in nightly.yaml; raise budget_usd or pass --accept-cost" in message
    assert "\n" not in message
    check_budget(est, 0.01, accept_cost=True)
    check_budget(est, est.worst_case_usd, accept_cost=False)  # exactly at budget is fine


def test_format_estimate_lists_every_cell_and_the_total() -> None:
    est = estimate_matrix(matrix(memory_mb=[128, 256]))
    console = Console(width=200, record=True, color_system=None)
    console.print(format_estimate(est))
    text = console.export_text()
    assert "python3.12-128mb-x86_64-none" in text
    assert "python3.12-256mb-x86_64-none" in text
    assert "total" in text and usd(est.worst_case_usd) in text
    assert PRICE_TABLE_DATE in text
    assert "costs nothing" in text  # the local target is said to be free


@pytest.mark.parametrize(
    ("value", "text"),
    [(12.345, "$12.35"), (0.0263, "$0.0263"), (0.00000312, "$0.00000312"), (0, "$0")],
)
def test_usd(value: float, text: str) -> None:
    assert usd(value) == text


def test_actual_cost_from_billed_duration() -> None:
    records = [
        {"status": "success", "request_id": "a", "billed_duration_ms": 1000,
         "memory_size_mb": 1024, "memory_mb": 1024, "architecture": "x86_64"},
        {"status": "success", "request_id": "b", "billed_duration_ms": 500,
         "memory_size_mb": None, "memory_mb": 2048, "architecture": "arm64"},
        {"status": "error", "request_id": "c", "billed_duration_ms": None,
         "memory_size_mb": None, "memory_mb": 128, "architecture": "x86_64"},
        {"status": "throttled", "request_id": "d", "billed_duration_ms": None,
         "memory_size_mb": None, "memory_mb": 128, "architecture": "x86_64"},
        {"status": "success", "request_id": None, "billed_duration_ms": float("nan"),
         "memory_size_mb": 128, "memory_mb": 128, "architecture": "x86_64"},
    ]
    expected = 1.0 * 0.0000166667 + 1.0 * 0.0000133334 + 3 * 0.20 / 1e6
    assert actual_cost(records) == pytest.approx(expected)
    assert actual_cost([]) == 0.0
    assert not math.isnan(actual_cost(records))


def test_bench_estimate_cli(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nruntimes: [nodejs22.x]\nmemory_mb: [512]\ncold_starts: 2\n"
                    "burst: 2\nwarm_invocations: 1\n")
    result = CliRunner().invoke(app, ["estimate", str(path)], env={"COLUMNS": "200",
                                                                   "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "nodejs22.x-512mb-x86_64-none" in result.output
    assert str(path) in result.output


def test_bench_estimate_bad_matrix_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nruntimes: [nodejs22.x]\nmemory_mb: [100]\n")
    result = CliRunner().invoke(app, ["estimate", str(path)])
    assert result.exit_code == EXIT_INPUT
    assert "memory_mb[0]: 100 is below the Lambda minimum of 128" in result.output
