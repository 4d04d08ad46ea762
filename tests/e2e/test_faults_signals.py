"""Signals and kills: SIGTERM and SIGHUP stop a run as Ctrl-C does (in-flight invocations
finish, the run ends `aborted` with exit 3, everything it deployed is gone); a second
signal stops it now (exit 128+N); a killed local run's state is tidied by `bench cleanup`;
a resumed local run ends complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, "-c", "from bench.cli import app; app()"]
BODY = """\
name: {name}
runtimes: [python3.12]
memory_mb: [256, 512, 1024]
package:
  size_mb: [0]
cold_starts: 2
burst: 2
warm_invocations: {warm}
timeout_s: 10
budget_usd: 0.5
"""
WAIT_S = 180


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    # The local target's state goes to a temporary directory of this test's own.
    env.update(PYTHONPATH=str(REPO), NO_COLOR="1", COLUMNS="160", TMPDIR=str(tmp_path / "tmp"))
    env.update(AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


class Run:
    """`bench run` as a subprocess, its output in a file that can be read while it works."""

    def __init__(self, workdir: Path, env: dict[str, str], *args: str) -> None:
        self.workdir = workdir
        self.out = workdir / f"out-{time.monotonic_ns()}.txt"
        self.proc = subprocess.Popen(
            [*BENCH, "run", *args], cwd=workdir, env=env,
            stdout=self.out.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def output(self) -> str:
        return self.out.read_text()

    def records(self, at_least: int) -> Callable[[], bool]:
        def check() -> bool:
            files = list((self.workdir / "results").glob("*/invocations.jsonl"))
            return bool(files) and len(files[0].read_text().splitlines()) >= at_least

        return check

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=WAIT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def manifest(self) -> dict[str, Any]:
        (path,) = (self.workdir / "results").glob("*/manifest.json")
        return dict(json.loads(path.read_text()))


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`bench emulator` started on its own, as a user would for the AWS code path."""
    env = _env(tmp_path)
    log = tmp_path / "emulator.txt"
    proc = subprocess.Popen([*BENCH, "emulator"], env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_for(lambda: "Ctrl-C stops it" in log.read_text(), "bench emulator", 60)
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in log.read_text().splitlines()
            if line.startswith("export ")
        )
        yield exports
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)


def _clients(exports: dict[str, str]) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name=exports["AWS_REGION"],
    )
    url = exports["AWS_ENDPOINT_URL"]
    return session.client("lambda", endpoint_url=url), session.client("logs", endpoint_url=url)


def _aws_matrix(exports: dict[str, str], stage: str, warm: int) -> str:
    return (
        f"target: {{kind: aws, stage: {stage}, endpoint_url: '{exports['AWS_ENDPOINT_URL']}', "
        f"role_arn: 'arn:aws:iam::123456789012:role/bench-{stage}-execution'}}\n"
        + BODY.format(name=stage, warm=warm)
    )


def _nothing_deployed(exports: dict[str, str]) -> None:
    lambda_client, logs_client = _clients(exports)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_against_an_endpoint_aborts_and_removes_everything(
    workdir: Path, tmp_path: Path, endpoint: dict[str, str], signum: int
) -> None:
    name = signal.Signals(signum).name
    (workdir / "m.yaml").write_text(_aws_matrix(endpoint, "sig", warm=60))
    run = Run(workdir, _env(tmp_path, **endpoint), "m.yaml")
    _wait_for(run.records(3), "the first invocation records")
    run.proc.send_signal(signum)
    code = run.wait()
    out = run.output()
    assert code == 3, out
    assert "Traceback" not in out
    assert f"stopping on {name}: finishing " in out
    assert f"in-flight invocations; send {name} again to stop now" in out
    manifest = run.manifest()
    assert manifest["status"] == "aborted" and manifest["finished"], out
    assert f"resume: bench run --resume {manifest['run_id']}" in out
    records = [json.loads(x) for x in next((workdir / "results").glob("*/invocations.jsonl"))
               .read_text().splitlines()]  # fmt: skip
    assert 3 <= len(records) < 3 * 62
    assert all(r["status"] == "success" for r in records)  # in-flight ones finished
    _nothing_deployed(endpoint)


def test_a_second_sigterm_stops_now_with_143_and_still_removes_everything(
    workdir: Path, tmp_path: Path, endpoint: dict[str, str]
) -> None:
    (workdir / "m.yaml").write_text(_aws_matrix(endpoint, "sigtwice", warm=60))
    run = Run(workdir, _env(tmp_path, **endpoint), "m.yaml")
    _wait_for(run.records(3), "the first invocation records")
    run.proc.send_signal(signal.SIGTERM)
    _wait_for(lambda: "stopping on SIGTERM" in run.output(), "the stop message", 30)
    run.proc.send_signal(signal.SIGTERM)
    code = run.wait()
    out = run.output()
    assert code == 143, out
    assert "Traceback" not in out
    assert "bench: stopped now (SIGTERM received twice); the run is marked aborted" in out
    manifest = run.manifest()
    assert manifest["status"] == "aborted", out
    assert f"resume: bench run --resume {manifest['run_id']}" in out
    _nothing_deployed(endpoint)


def _local_matrix(name: str, warm: int) -> str:
    return "target: {kind: local}\n" + BODY.format(name=name, warm=warm)


def _state_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("coldbench-emulator-*"))


def test_sigterm_on_the_local_target_aborts_and_leaves_nothing(
    workdir: Path, tmp_path: Path
) -> None:
    (workdir / "m.yaml").write_text(_local_matrix("localterm", warm=60))
    run = Run(workdir, _env(tmp_path), "m.yaml")
    _wait_for(run.records(3), "the first invocation records")
    assert len(_state_dirs(tmp_path)) == 1  # the local target's state, while it runs
    run.proc.send_signal(signal.SIGTERM)
    code = run.wait()
    out = run.output()
    assert code == 3, out
    assert "stopping on SIGTERM: finishing " in out
    assert run.manifest()["status"] == "aborted"
    assert _state_dirs(tmp_path) == []
    assert _processes_naming(tmp_path / "tmp") == []


def _cgroups_of(pid: int) -> list[Path]:
    from bench.emulator import cgroups

    return [g for parent in cgroups.parents() for g in parent.glob(f"coldbench-{pid}-*")]


def _processes_naming(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _a_cell_complete(run: Run) -> Callable[[], bool]:
    def check() -> bool:
        try:
            cells = run.manifest()["cells"].values()
        except (OSError, ValueError, KeyError):
            return False
        return any(c["status"] == "complete" for c in cells)

    return check


def test_ctrl_c_says_so_and_a_resumed_local_run_ends_complete(
    workdir: Path, tmp_path: Path
) -> None:
    (workdir / "m.yaml").write_text(_local_matrix("localint", warm=40))
    env = _env(tmp_path)
    run = Run(workdir, env, "m.yaml")
    _wait_for(_a_cell_complete(run), "a complete cell")
    run.proc.send_signal(signal.SIGINT)
    code = run.wait()
    out = run.output()
    assert code == 3, out
    assert "stopping: finishing " in out
    assert "in-flight invocations; Ctrl-C again to stop now" in out
    stopped = run.manifest()
    assert stopped["status"] == "aborted"
    assert any(c["status"] == "complete" for c in stopped["cells"].values())
    resume = f"bench run --resume {stopped['run_id']}"
    assert f"resume: {resume}" in out

    resumed = Run(workdir, env, *resume.split()[2:])
    code = resumed.wait()
    out = resumed.output()
    assert code == 0, out
    assert "measuring 1 kept cell(s) again: their CloudWatch REPORT lines" in out or (
        "kept cell(s) again" in out
    )
    manifest = resumed.manifest()
    assert manifest["status"] == "complete"
    records = [json.loads(x) for x in next((workdir / "results").glob("*/invocations.jsonl"))
               .read_text().splitlines()]  # fmt: skip
    assert len(records) == 3 * 42
    assert all("cloudwatch" in r["report_sources"] for r in records)
    assert manifest["completeness"]["cloudwatch"]["matched"] == 3 * 42
    assert "resume:" not in out


def test_cleanup_tidies_what_a_killed_local_run_left(workdir: Path, tmp_path: Path) -> None:
    (workdir / "m.yaml").write_text(_local_matrix("localkill", warm=60))
    env = _env(tmp_path)
    run = Run(workdir, env, "m.yaml")
    _wait_for(run.records(3), "the first invocation records")
    run.proc.send_signal(signal.SIGKILL)
    run.wait()
    run_id = run.manifest()["run_id"]
    (state,) = _state_dirs(tmp_path)
    owner = json.loads((state / "owner.json").read_text())
    assert owner["run_id"] == run_id and owner["pid"] == run.proc.pid
    groups = _cgroups_of(run.proc.pid)
    if not groups:
        print("no sandbox cgroups on this host (cgroups not writable): only state is checked")

    listed = subprocess.run([*BENCH, "cleanup", "--dry-run"], cwd=workdir, env=env, check=False,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"run {run_id}" in listed.stdout and state.exists()

    done = subprocess.run([*BENCH, "cleanup"], cwd=workdir, env=env, check=False,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run {run_id}" in done.stdout
    assert "AWS not checked: no region" in done.stdout
    assert not state.exists()
    assert _processes_naming(state) == []
    assert _cgroups_of(run.proc.pid) == []
    if groups:
        assert "cgroup(s)" in done.stdout
    again = subprocess.run([*BENCH, "cleanup"], cwd=workdir, env=env, check=False,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "nothing to delete" in again.stdout


def test_sigterm_while_the_local_target_starts_leaves_nothing(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the run's own handlers take over (packages, the local endpoint starting),
    SIGTERM ends the command at once and the local target it started is gone with it."""
    import tempfile

    from bench.emulator.app import Emulator
    from bench.run import RunOptions, run_matrix
    from bench.stopping import StopNow

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    real = Emulator.prepare_runtimes
    started: list[Path] = []

    def signalled(self: Any, runtimes: Any) -> None:
        started.extend(_state_dirs(tmp_path))
        os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or a cancelled CI job would
        real(self, runtimes)

    monkeypatch.setattr(Emulator, "prepare_runtimes", signalled)
    (workdir / "m.yaml").write_text(_local_matrix("early", warm=2))
    with pytest.raises(StopNow) as stopped:
        run_matrix(RunOptions(matrix_path=Path("m.yaml")), console=None)
    assert stopped.value.exit_code == 143
    assert str(stopped.value) == "stopped by SIGTERM before anything was deployed"
    assert len(started) == 1  # the local target's state existed while it started
    assert _state_dirs(tmp_path) == []
    assert list((workdir / "results").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_bench_emulator_stops_its_sandboxes_on_sighup(tmp_path: Path) -> None:
    env = _env(tmp_path)
    log = tmp_path / "emulator.txt"
    proc = subprocess.Popen([*BENCH, "emulator"], env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_for(lambda: "Ctrl-C stops it" in log.read_text(), "bench emulator", 60)
        assert len(_state_dirs(tmp_path)) == 1
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=90) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "# stopped: every sandbox is gone" in log.read_text()
    assert _state_dirs(tmp_path) == []
