"""`bench run` end to end on the embedded local target, over real HTTP."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

MATRIX = """\
name: e2e-demo
target: {{kind: local}}
runtimes: [{runtimes}]
memory_mb: [256]
package:
  size_mb: [0]
cold_starts: 4
burst: 2
warm_invocations: 3
timeout_s: 10
budget_usd: 0.05
"""


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "invocations.jsonl").read_text().splitlines()]


def test_demo_run_end_to_end(workdir: Path, bench_cli: Callable[..., Result]) -> None:
    runtimes = ["python3.12"]
    if shutil.which("node"):
        runtimes.append("nodejs22.x")
    else:
        print("node not found: the Node.js cell is left out of this run")
    (workdir / "m.yaml").write_text(MATRIX.format(runtimes=", ".join(runtimes)))

    result = bench_cli("run", "m.yaml")

    assert result.exit_code == 0, result.output
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["status"] == "complete"
    assert manifest["matrix"]["runtimes"] == runtimes
    assert manifest["matrix"]["proactive_threshold_ms"] == 1000.0  # defaults resolved
    assert manifest["target"]["kind"] == "local"
    assert manifest["target"]["endpoint_url"].startswith("http://127.0.0.1:")
    assert manifest["target"]["local"]["host_cpus"] >= 1
    assert all(c["status"] == "complete" for c in manifest["cells"].values())

    records = _records(run_dir)
    assert len(records) == len(runtimes) * (4 + 3)
    cold = [r for r in records if r["phase"] == "cold"]
    warm = [r for r in records if r["phase"] == "warm"]
    assert all(r["status"] == "success" for r in records)
    for r in cold:
        assert r["init_duration_ms"] is not None and r["init_duration_ms"] > 0
        assert "cloudwatch" in r["report_sources"], r
        assert r["sandbox_invocation"] == 1
        assert r["start_type"] == "cold"
        assert r["launch_skew_ms"] is not None
    assert len({r["sandbox_id"] for r in cold}) == len(cold)
    cold_sandboxes = {r["sandbox_id"] for r in cold}
    for r in warm:
        assert r["sandbox_id"] in cold_sandboxes
        assert r["init_duration_ms"] is None
        assert r["sandbox_invocation"] > 1
        assert r["start_type"] == "warm"
        assert "cloudwatch" in r["report_sources"]
    assert manifest["completeness"]["cloudwatch"] == {
        "expected": len(records),
        "matched": len(records),
    }
    assert manifest["start_types"]["cold"] == len(cold)
    # The CloudWatch REPORT lines are kept for audit, one per invocation.
    audit = (run_dir / "report-lines.log").read_text().splitlines()
    assert sum(line.startswith("cloudwatch\t") for line in audit) == len(records)
    # The summary and the report path are printed.
    assert f"results: results/{run_dir.name}" in result.output
    report = next((workdir / "reports").glob("*.html"))
    assert f"report: reports/{report.name}" in result.output
    assert "python3.12-256mb-x86_64-none" in result.output  # the summary table


def test_sequential_strategy_bumps_once_per_cold_start(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    (workdir / "m.yaml").write_text(MATRIX.format(runtimes="python3.12"))
    result = bench_cli("run", "m.yaml", "--strategy", "sequential")
    assert result.exit_code == 0, result.output
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["matrix"]["strategy"] == "sequential"
    cold = [r for r in _records(run_dir) if r["phase"] == "cold"]
    assert [(r["round"], r["seq"]) for r in cold] == [(1, 1), (2, 1), (3, 1), (4, 1)]
    # A round of one opens its connection before the clock starts, like a burst: skew 0.
    assert all(r["start_type"] == "cold" and r["launch_skew_ms"] == 0.0 for r in cold)
    assert len({r["sandbox_id"] for r in cold}) == 4
