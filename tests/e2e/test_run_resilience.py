"""The driver against a persistent emulator reached as an AWS-style endpoint: AWS quotas,
a crash in the middle of a run, cleanup of what it left, concurrency reservations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

TINY = """\
name: {name}
runtimes: [python3.12]
memory_mb: [{memory}]
package:
  size_mb: [0]
cold_starts: {cold}
burst: {burst}
warm_invocations: {warm}
timeout_s: 10
budget_usd: 1.0
"""


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def test_quota_mode_twelve_cells_burst_ten_without_harness_throttles(
    workdir: Path, quota_emulator: Any, emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in emu.env(quota_emulator).items():
        monkeypatch.setenv(key, value)
    memories = ", ".join(str(128 + 8 * i) for i in range(12))
    body = TINY.format(name="quota", memory=memories, cold=10, burst=10, warm=1)
    (workdir / "q.yaml").write_text(emu.matrix(quota_emulator, stage="quota", body=body))
    from bench.run import RunOptions, run_matrix

    outcome = run_matrix(RunOptions(matrix_path=Path("q.yaml")), console=_quiet_console())

    info = quota_emulator.info()
    print("emulator after the run:", json.dumps(info, default=str)[:2000])
    throttles = _throttle_counts(info)
    assert throttles and sum(throttles.values()) == 0, throttles
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert outcome.status == "complete", manifest["cells"]
    records = [
        json.loads(x) for x in (outcome.run_dir / "invocations.jsonl").read_text().splitlines()
    ]
    assert len(records) == 12 * 11
    assert not [r for r in records if r["status"] == "throttled"]
    for source in ("tail", "cloudwatch"):
        assert manifest["completeness"][source] == {"expected": 132, "matched": 132}
    lambda_client, _ = emu.clients(quota_emulator)
    assert lambda_client.list_functions()["Functions"] == []  # torn down


def _throttle_counts(info: dict[str, Any]) -> dict[str, int]:
    """The emulator's per-API throttle counters, wherever info() keeps them."""
    for key in ("throttles", "quota_throttles", "throttle_counts"):
        if isinstance(info.get(key), dict):
            return {str(k): int(v) for k, v in info[key].items()} or {"none": 0}
    quota = info.get("quota")
    if isinstance(quota, dict) and isinstance(quota.get("throttles"), dict):
        return {str(k): int(v) for k, v in quota["throttles"].items()} or {"none": 0}
    raise AssertionError(f"no throttle counters in emulator info: {sorted(info)}")


def _quiet_console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=160)


def test_kill_9_leaves_a_readable_partial_run_and_cleanup_removes_leftovers(
    workdir: Path, emulator: Any, emu: Any, bench_cli: Callable[..., Result]
) -> None:
    body = TINY.format(name="killed", memory="512, 1024, 1769", cold=4, burst=2, warm=5)
    (workdir / "k.yaml").write_text(emu.matrix(emulator, stage="e2ekill", body=body))
    env = emu.env(emulator)
    bench = [sys.executable, "-c", "from bench.cli import app; app()"]
    proc = subprocess.Popen(
        [*bench, "run", "k.yaml", "--keep"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def some_records() -> bool:
            files = list((workdir / "results").glob("*/invocations.jsonl"))
            return bool(files) and len(files[0].read_text().splitlines()) >= 3

        _wait_for(some_records, 120, "the first invocation records")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    from bench.results import load_run

    (run_dir,) = list((workdir / "results").iterdir())
    loaded = load_run(run_dir)
    assert loaded.status == "partial"
    assert len(loaded.invocations) >= 3
    lambda_client, logs_client = emu.clients(emulator)
    left = [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]]
    assert left, "the killed run should have left its functions behind"

    report = bench_cli("report", str(run_dir))
    assert report.exit_code == 0, report.output
    html = Path(report.output.strip().splitlines()[-1]).read_text()
    assert "partial" in html.lower()

    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        cleaned = bench_cli(
            "cleanup", "--stage", "e2ekill", "--endpoint-url", emulator.endpoint_url
        )
    finally:
        for key in [k for k in env if k.startswith("AWS_")]:
            os.environ.pop(key, None)
    assert cleaned.exit_code == 0, cleaned.output
    assert lambda_client.list_functions()["Functions"] == []
    groups = logs_client.describe_log_groups(logGroupNamePrefix="/aws/lambda/bench-e2ekill-")
    assert groups["logGroups"] == []
    for name in left:
        assert name in cleaned.output


def test_too_little_unreserved_concurrency_is_refused_before_anything_is_created(
    workdir: Path,
    emulator: Any,
    emu: Any,
    aws_env: dict[str, str],
    bench_cli: Callable[..., Result],
) -> None:
    # The emulator's account has 1,000 concurrent executions, like a fresh AWS account;
    # reserving 960 leaves fewer than the 100 AWS insists stay unreserved, and `reserve: on`
    # asks for a reservation or nothing.
    body = TINY.format(name="greedy", memory="128, 256", cold=960, burst=960, warm=0)
    body += "reserve: on\n"
    (workdir / "g.yaml").write_text(emu.matrix(emulator, stage="greedy", body=body))
    result = bench_cli("run", "g.yaml", "--accept-cost")
    assert result.exit_code == 3, result.output
    assert "unreserved" in result.output and "Traceback" not in result.output
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []
    assert list((workdir / "results").iterdir()) == []


def _start_run(workdir: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    bench = [sys.executable, "-c", "from bench.cli import app; app()"]
    return subprocess.Popen(
        [*bench, "run", *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _records_written(workdir: Path, at_least: int) -> Callable[[], bool]:
    def check() -> bool:
        files = list((workdir / "results").glob("*/invocations.jsonl"))
        return bool(files) and len(files[0].read_text().splitlines()) >= at_least

    return check


def test_ctrl_c_finishes_in_flight_invokes_writes_aborted_and_tears_down(
    workdir: Path, emulator: Any, emu: Any
) -> None:
    body = TINY.format(name="stopped", memory="512, 1024, 1769", cold=4, burst=2, warm=20)
    (workdir / "s.yaml").write_text(emu.matrix(emulator, stage="e2eint", body=body))
    proc = _start_run(workdir, emu.env(emulator), "s.yaml")
    try:
        _wait_for(_records_written(workdir, 3), 120, "the first invocation records")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err.decode()
    (run_dir,) = list((workdir / "results").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted" and manifest["finished"]
    records = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert 3 <= len(records) < 3 * 24  # stopped early, every started invoke recorded
    assert all(r["status"] == "success" for r in records)  # in-flight ones were let finish
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []


def test_resume_completes_the_cells_a_killed_run_left(
    workdir: Path, emulator: Any, emu: Any
) -> None:
    body = TINY.format(name="resumed", memory="512, 1024, 1769", cold=4, burst=2, warm=6)
    (workdir / "r.yaml").write_text(emu.matrix(emulator, stage="e2eres", body=body))
    env = emu.env(emulator)
    proc = _start_run(workdir, env, "r.yaml")
    try:
        # Cells of an `aws`-kind target measure in parallel: wait for the first to finish.
        _wait_for(_a_cell_complete(workdir), 120, "a complete cell")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    (run_dir,) = list((workdir / "results").iterdir())
    before = json.loads((run_dir / "manifest.json").read_text())
    done = [cid for cid, c in before["cells"].items() if c["status"] == "complete"]
    assert done and before["status"] == "running", before["cells"]
    kept = {r["request_id"] for r in _lines(run_dir) if r["cell"] in done}

    # As the README writes it: the matrix comes from the run's manifest.
    resumed = _start_run(workdir, env, "--resume", run_dir.name)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, (out.decode()[-2000:], err.decode())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    records = _lines(run_dir)
    assert len(records) == 3 * 10
    assert kept <= {r["request_id"] for r in records}  # complete cells were not rerun
    per_cell = {cid: sum(r["cell"] == cid for r in records) for cid in manifest["cells"]}
    assert set(per_cell.values()) == {10}
    cold = [r for r in records if r["phase"] == "cold"]
    assert len({r["sandbox_id"] for r in cold}) == len(cold)
    assert all("cloudwatch" in r["report_sources"] for r in records)
    lambda_client, _ = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines() if x]


def _a_cell_complete(workdir: Path) -> Callable[[], bool]:
    def check() -> bool:
        for path in (workdir / "results").glob("*/manifest.json"):
            try:
                cells = json.loads(path.read_text())["cells"].values()
            except (OSError, ValueError, KeyError):
                return False
            return any(c["status"] == "complete" for c in cells)
        return False

    return check
