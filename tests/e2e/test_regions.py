"""`regions: [...]` on the local target: one endpoint per region, all measured at once,
one results directory, region as a cell dimension."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

MATRIX = """\
name: two-regions
target: {kind: local, regions: [us-east-1, eu-west-1]}
runtimes: [python3.12]
memory_mb: [128]
package:
  size_mb: [0]
cold_starts: 4
burst: 2
warm_invocations: 2
timeout_s: 10
budget_usd: 0.05
"""


def test_two_local_regions_run_at_once_into_one_results_directory(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    (workdir / "m.yaml").write_text(MATRIX)

    result = bench_cli("run", "m.yaml")

    assert result.exit_code == 0, result.output
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest["cells"]
    cells = manifest["cells"]
    assert sorted(cells) == ["python3.12-128mb-x86_64-none-eu-west-1",
                             "python3.12-128mb-x86_64-none-us-east-1"]  # fmt: skip
    assert {c["region"] for c in cells.values()} == {"us-east-1", "eu-west-1"}
    regions = manifest["target"]["regions"]
    assert sorted(regions) == ["eu-west-1", "us-east-1"]
    # One endpoint per region name.
    assert regions["us-east-1"]["endpoint_url"] != regions["eu-west-1"]["endpoint_url"]
    assert sorted(manifest["concurrency"]["regions"]) == ["eu-west-1", "us-east-1"]
    records = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert len(records) == 2 * (4 + 2)
    for record in records:
        assert record["cell"].endswith(record["region"])
        assert record["init_duration_ms"] is not None or record["phase"] == "warm"
    assert manifest["completeness"]["cloudwatch"]["matched"] == len(records)
    # Both regions were measured at the same time: their spans of invocations overlap.
    spans = {}
    for region in ("us-east-1", "eu-west-1"):
        sent = [r["client_send_ns"] for r in records if r["region"] == region]
        spans[region] = (min(sent), max(sent))
    (a0, a1), (b0, b1) = spans.values()
    assert a0 < b1 and b0 < a1, spans
    report = next((workdir / "reports").glob("*.html")).read_text()
    assert "Regions compared" in report


def test_a_single_region_run_keeps_its_cell_ids_and_records_carry_the_region(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    (workdir / "m.yaml").write_text(
        MATRIX.replace("{kind: local, regions: [us-east-1, eu-west-1]}", "{kind: local}")
        .replace("warm_invocations: 2", "warm_invocations: 0")
    )
    result = bench_cli("run", "m.yaml")
    assert result.exit_code == 0, result.output
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert list(manifest["cells"]) == ["python3.12-128mb-x86_64-none"]
    assert manifest["cells"]["python3.12-128mb-x86_64-none"]["region"] == "us-east-1"
    assert "regions" not in manifest["target"]
    records = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert {r["region"] for r in records} == {"us-east-1"}
    assert {r["driver_skew_ms"] for r in records} == {None}
