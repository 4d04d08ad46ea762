"""A failing cell is recorded and the run goes on; a crash leaves no resources behind."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import bench.run
from bench.run import RunOptions, run_matrix

pytestmark = pytest.mark.e2e

MATRIX = """\
name: {name}
runtimes: [python3.12]
memory_mb: [256, 512]
package:
  size_mb: [0]
cold_starts: 2
burst: 2
warm_invocations: 2
timeout_s: 5
budget_usd: 0.05
"""


def _console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=160)


def test_an_init_error_fails_its_cell_and_the_run_goes_on(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = bench.run.build_artifacts

    def one_broken(matrix: Any, cells: list[Any]) -> dict[str, Any]:
        artifacts = real_build(matrix, cells)
        broken = cells[0].id  # its handler module does not exist: Runtime.ImportModuleError
        artifacts[broken] = dataclasses.replace(artifacts[broken], handler="missing.handler")
        return artifacts

    monkeypatch.setattr(bench.run, "build_artifacts", one_broken)
    (workdir / "m.yaml").write_text("target: {kind: local}\n" + MATRIX.format(name="broken"))

    outcome = run_matrix(RunOptions(matrix_path=Path("m.yaml")), console=_console())

    assert outcome.status == "partial" and outcome.exit_code == 3
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    cells = manifest["cells"]
    assert cells["python3.12-256mb-x86_64-none"]["status"] == "failed"
    assert "error" in cells["python3.12-256mb-x86_64-none"]["error"]
    assert cells["python3.12-512mb-x86_64-none"]["status"] == "complete"
    records = [
        json.loads(x) for x in (outcome.run_dir / "invocations.jsonl").read_text().splitlines()
    ]
    failed = [r for r in records if r["cell"] == "python3.12-256mb-x86_64-none"]
    assert failed and all(r["status"] == "error" for r in failed)
    assert {r["error_type"] for r in failed} <= {"Runtime.ImportModuleError", "Unhandled"}
    assert len([r for r in records if r["cell"] == "python3.12-512mb-x86_64-none"]) == 4
    events = [json.loads(x) for x in (outcome.run_dir / "events.jsonl").read_text().splitlines()]
    assert any(
        e["kind"] == "cell_failed" and e["cell"] == "python3.12-256mb-x86_64-none" for e in events
    )


def test_a_crash_mid_run_marks_the_run_and_tears_down(
    workdir: Path, emulator: Any, emu: Any, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_collect(self: Any) -> None:
        raise RuntimeError("collector exploded")

    monkeypatch.setattr(bench.run.Experiment, "_collect", broken_collect)
    body = MATRIX.format(name="crash")
    (workdir / "c.yaml").write_text(emu.matrix(emulator, stage="crash", body=body))

    with pytest.raises(RuntimeError, match="collector exploded"):
        run_matrix(RunOptions(matrix_path=Path("c.yaml")), console=_console())

    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["finished"]
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []


def test_an_endpoint_without_iam_and_no_role_arn_is_a_one_line_error(
    workdir: Path, emulator: Any, emu: Any, aws_env: dict[str, str], bench_cli: Any
) -> None:
    body = MATRIX.format(name="norole")
    target = f"target: {{kind: aws, stage: norole, endpoint_url: '{emulator.endpoint_url}'}}\n"
    (workdir / "n.yaml").write_text(target + body)
    result = bench_cli("run", "n.yaml")
    assert result.exit_code == 3, result.output
    # Progress lines ("[0:00] bench run ...") may come first; the error itself is one line.
    lines = [
        line for line in result.output.splitlines()
        if line.strip() and not re.match(r"\[\d+:\d\d\] ", line)
    ]  # fmt: skip
    # Without STS the account is unknown; without IAM no role: either way, give role_arn.
    assert len(lines) == 1 and "role_arn" in lines[0], lines
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []
    assert list((workdir / "results").iterdir()) == []


def test_a_bug_inside_a_cell_stops_the_run_with_its_traceback_under_bench_debug(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, bench_cli: Any
) -> None:
    """A programming error is not a failed cell: the run stops, says so in its results,
    and BENCH_DEBUG=1 shows where the error came from."""

    def broken_record(**kwargs: Any) -> Any:
        raise KeyError("sandbox_id")

    monkeypatch.setattr("bench.measure.make_record", broken_record)
    monkeypatch.setenv("BENCH_DEBUG", "1")
    (workdir / "k.yaml").write_text("target: {kind: local}\n" + MATRIX.format(name="keyerror"))
    result = bench_cli("run", "k.yaml")
    assert result.exit_code == 3, result.output
    assert "Traceback (most recent call last)" in result.output
    assert 'in broken_record\n    raise KeyError("sandbox_id")' in result.output
    assert "bench: internal error: KeyError: 'sandbox_id'" in result.output
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "partial"
    assert all(cell["status"] != "failed" for cell in manifest["cells"].values())
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["detail"] == "run stopped by KeyError: 'sandbox_id'" for e in events)
