"""The levers, measured end to end on the local target: a `provisioned: [0, 2]` matrix and
its estimate."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.cost import estimate_matrix
from bench.matrix import load_matrix
from bench.run import RunOptions, run_matrix

pytestmark = pytest.mark.e2e

MATRIX = """\
name: provisioned
target: {kind: local}
runtimes: [python3.12]
memory_mb: [512]
provisioned: [0, 2]
cold_starts: 8
burst: 4
warm_invocations: 3
timeout_s: 10
budget_usd: 0.5
"""


def _console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=160)


def test_provisioned_cells_start_two_environments_ahead_and_the_rest_on_demand(
    workdir: Path,
) -> None:
    (workdir / "m.yaml").write_text(MATRIX)
    outcome = run_matrix(RunOptions(matrix_path=Path("m.yaml")), console=_console())
    assert outcome.status == "complete", outcome

    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    cells = manifest["cells"]
    assert set(cells) == {"python3.12-512mb-x86_64-none", "python3.12-512mb-x86_64-none-pc2"}
    assert cells["python3.12-512mb-x86_64-none-pc2"]["provisioned"] == 2
    assert cells["python3.12-512mb-x86_64-none"]["provisioned"] == 0
    records = [
        json.loads(line)
        for line in (outcome.run_dir / "invocations.jsonl").read_text().splitlines()
    ]
    pc = [r for r in records if r["cell"].endswith("-pc2")]
    assert all(r["provisioned"] == 2 and r["snapstart"] == "off" for r in pc)
    for round_ in (1, 2):  # two bursts of 4: 2 provisioned, 2 on demand, each round
        burst = [r for r in pc if r["phase"] == "cold" and r["round"] == round_]
        kinds = Counter(r["start_type"] for r in burst)
        # The first two take the provisioned environments; the other two start on demand,
        # unless a provisioned one was already free again when one of them arrived (the
        # burst is released at once, but a busy host can stretch the release): then warm.
        assert kinds["provisioned"] == 2 and kinds["cold"] >= 1, burst
        assert kinds["cold"] + kinds["warm"] == 2, burst
        for r in burst:
            assert r["status"] == "success"
            # No Init Duration on a provisioned environment: its init was no invocation's.
            assert (r["init_duration_ms"] is None) == (r["start_type"] != "cold")
            assert (r["sandbox_invocation"] == 1) == (r["start_type"] != "warm")
    first, second = ({r["sandbox_id"] for r in pc if r["round"] == n} for n in (1, 2))
    assert not first & second  # each round's version has environments of its own
    on_demand = [r for r in records if not r["cell"].endswith("-pc2")]
    assert Counter(r["start_type"] for r in on_demand if r["phase"] == "cold") == {"cold": 8}
    assert manifest["start_types"]["provisioned"] == 4
    from bench.results import load_run
    from bench.stats import cell_summary

    summary = cell_summary(load_run(outcome.run_dir).invocations).set_index("cell")
    assert summary.loc["python3.12-512mb-x86_64-none-pc2", "n_provisioned"] == 4
    assert summary.loc["python3.12-512mb-x86_64-none-pc2", "n_cold"] >= 2  # beyond N
    assert summary.loc["python3.12-512mb-x86_64-none", "n_provisioned"] == 0

    # The estimate prices the provisioned environments on top of the invocations.
    estimate = estimate_matrix(load_matrix(workdir / "m.yaml"))
    by_cell = {c.cell: c for c in estimate.cells}
    plain, provisioned = by_cell["python3.12-512mb-x86_64-none"], by_cell[
        "python3.12-512mb-x86_64-none-pc2"
    ]
    assert plain.levers_usd == 0 and provisioned.levers_usd > 0
    # Two rounds x 2 environments x 0.5 GB x one 5-minute unit at the provisioned price.
    assert provisioned.levers_usd == pytest.approx(2 * 2 * 0.5 * 300 * 0.0000041667)
    assert provisioned.expected_usd == pytest.approx(plain.expected_usd + provisioned.levers_usd)
    assert manifest["cost"]["estimate_usd"] == pytest.approx(estimate.expected_usd, abs=1e-6)


SNAPSTART = """\
name: snapstart
runtimes: [python3.12, nodejs22.x]
memory_mb: [512]
snapstart: [off, on]
cold_starts: 4
burst: 2
warm_invocations: 1
timeout_s: 10
budget_usd: 0.5
"""


def test_snapstart_on_the_local_target_is_marked_not_emulated(workdir: Path) -> None:
    (workdir / "m.yaml").write_text("target: {kind: local}\n" + SNAPSTART)
    outcome = run_matrix(RunOptions(matrix_path=Path("m.yaml")), console=_console())
    assert outcome.status == "complete", outcome
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    cells = manifest["cells"]
    # No SnapStart cell for Node.js; python3.12 has one, marked, with the target's reason.
    assert sorted(cells) == [
        "nodejs22.x-512mb-x86_64-none", "python3.12-512mb-x86_64-none",
        "python3.12-512mb-x86_64-none-snapstart",
    ]  # fmt: skip
    snap = cells["python3.12-512mb-x86_64-none-snapstart"]
    assert (snap["snapstart"], snap["snapstart_emulated"]) == ("on", False)
    assert cells["python3.12-512mb-x86_64-none"]["snapstart_emulated"] is None
    reason = manifest["target"]["local"]["snapstart"]["reason"]
    assert "fork is not implemented" in reason
    events = (outcome.run_dir / "events.jsonl").read_text()
    assert f"SnapStart is not emulated on this host: {reason}" in events
    records = [
        json.loads(line)
        for line in (outcome.run_dir / "invocations.jsonl").read_text().splitlines()
    ]
    marked = [r for r in records if r["cell"].endswith("-snapstart") and r["phase"] == "cold"]
    # No invented numbers: on-demand inits measured as such, never a Restore Duration.
    assert len(marked) == 4
    assert all(r["restore_duration_ms"] is None and r["init_duration_ms"] for r in marked)
    assert {r["start_type"] for r in marked} == {"cold"}
    from bench.report.run import render_run

    html = render_run(outcome.run_dir, workdir / "reports").read_text()
    assert "SnapStart restores were NOT emulated on this host" in html


def test_snapstart_cells_publish_wait_for_the_snapshot_and_invoke_the_version(
    workdir: Path, emulator: Any, emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS path, against the local target's API: SnapStart on, a version published per
    round and waited for until OptimizationStatus On, that version invoked."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in emu.env(emulator).items():
        monkeypatch.setenv(key, value)
    body = SNAPSTART.replace("runtimes: [python3.12, nodejs22.x]", "runtimes: [python3.12]")
    (workdir / "s.yaml").write_text(emu.matrix(emulator, stage="snap", body=body))
    outcome = run_matrix(RunOptions(matrix_path=Path("s.yaml"), keep=True), console=_console())
    assert outcome.status == "complete", outcome
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    snap = manifest["cells"]["python3.12-512mb-x86_64-none-snapstart"]
    assert snap["snapstart_emulated"] is None  # an AWS-kind target says nothing either way
    lam, logs = emu.clients(emulator)  # the same endpoint, as a user would look
    name = snap["function_name"]
    config = lam.get_function_configuration(FunctionName=name)
    assert config["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    published = [v for v in versions if v["Version"] != "$LATEST"]
    assert [v["Version"] for v in published] == ["1", "2"]  # one per cold round
    for version in published:
        full = lam.get_function_configuration(FunctionName=name, Qualifier=version["Version"])
        assert full["SnapStart"]["OptimizationStatus"] == "On"
        assert full["Environment"]["Variables"]["BENCH_COLD_TOKEN"].endswith(
            f"-{version['Version']}"
        )
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    # One stream per environment: a burst of 2 on each version, named with its number.
    assert sorted(s["logStreamName"].split("]")[0][-1] for s in streams) == ["1", "1", "2", "2"]
    plain = manifest["cells"]["python3.12-512mb-x86_64-none"]["function_name"]
    listed = lam.list_versions_by_function(FunctionName=plain)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST"]  # no lever, nothing published
