"""`driver: lambda` on the local target: a round of 32 handed to driver invocations in the
region (the local endpoint), fired through the same start barrier, recorded as usual."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

MATRIX = """\
name: in-region
target: {kind: local, driver: lambda}
runtimes: [python3.12]
memory_mb: [128]
package:
  size_mb: [0]
cold_starts: 32
burst: 32
warm_invocations: 2
timeout_s: 30
budget_usd: 1.0
"""


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]


def test_a_round_of_32_fans_out_over_driver_invocations_in_the_region(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    (workdir / "m.yaml").write_text(MATRIX)

    result = bench_cli("run", "m.yaml")

    assert result.exit_code == 0, result.output
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest["cells"]
    driver = manifest["driver"]
    print("driver:", driver)
    assert driver["mode"] == "lambda" and driver["width"] == 16
    assert driver["rounds"] == {"us-east-1": 1}
    assert driver["invocations"]["us-east-1"] >= 2  # 32 wide: two drivers of 16
    records = _records(run_dir)
    cold = [r for r in records if r["phase"] == "cold"]
    warm = [r for r in records if r["phase"] == "warm"]
    assert len(cold) == 32 and len(warm) == 2
    assert all(r["status"] == "success" for r in records)
    # Every cold start verified as usual: REPORT from the tail and from CloudWatch.
    assert all(r["start_type"] == "cold" and r["init_duration_ms"] > 0 for r in cold)
    assert manifest["completeness"]["cloudwatch"]["matched"] == len(records)
    assert len({r["sandbox_id"] for r in cold}) == 32
    # The driver's skew on every cold record: one value per driver invocation.
    skews = {r["driver_skew_ms"] for r in cold}
    assert None not in skews and 1 <= len(skews) <= 2
    print("driver skews (ms):", sorted(skews))
    assert all(r["driver_skew_ms"] is None for r in warm)
    # Client latency measured by the driver, from its release to the answer.
    assert all(r["client_latency_ms"] > 0 and r["launch_skew_ms"] is not None for r in cold)
    # The driver function is torn down with the run's functions.
    assert driver["functions"]["us-east-1"].endswith("-driver")


def test_driver_records_have_the_same_fields_as_client_driven_ones(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    small = MATRIX.replace("cold_starts: 32", "cold_starts: 4").replace("burst: 32", "burst: 4")
    (workdir / "lambda.yaml").write_text(small.replace("name: in-region", "name: lam"))
    (workdir / "client.yaml").write_text(
        small.replace("name: in-region", "name: cli").replace(", driver: lambda", "")
    )
    assert bench_cli("run", "lambda.yaml").exit_code == 0
    assert bench_cli("run", "client.yaml").exit_code == 0
    runs = {p.name.split("-")[1]: _records(p) for p in (workdir / "results").iterdir()}
    by_lambda, by_client = runs["lam"], runs["cli"]
    assert [list(r) for r in by_lambda] == [list(r) for r in by_client]
    assert {r["driver_skew_ms"] is None for r in by_client} == {True}
    assert all(r["driver_skew_ms"] is not None for r in by_lambda if r["phase"] == "cold")
