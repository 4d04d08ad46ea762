"""What a first run on AWS meets, played by the emulator reached as an AWS endpoint: a new
execution role that Lambda cannot use yet, and a create whose answer was lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.emulator.faults import KMS_GRANT_PRINCIPAL, ROLE_NOT_ASSUMABLE, Fault

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300

TINY = """\
name: {name}
runtimes: [python3.12]
memory_mb: [128]
package:
  size_mb: [0]
cold_starts: 2
burst: 2
warm_invocations: 1
timeout_s: 10
budget_usd: 1.0
"""


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[Any]:
    from bench.emulator.app import Emulator

    started: list[Any] = []

    def start(*faults: Fault) -> Any:
        state = "emulator-state" + (f"-{len(started)}" if started else "")
        emulator = Emulator(state_dir=tmp_path / state, faults=faults)
        started.append(emulator)
        emulator.start()
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def _run(workdir: Path, emulator: Any, emu: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in emu.env(emulator).items():
        monkeypatch.setenv(key, value)
    (workdir / "m.yaml").write_text(emu.matrix(emulator, stage=name, body=TINY.format(name=name)))
    from rich.console import Console

    from bench.run import RunOptions, run_matrix

    with open(os.devnull, "w") as sink:
        return run_matrix(RunOptions(matrix_path=Path("m.yaml")), console=Console(file=sink))


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_a_role_lambda_cannot_use_for_40s_delays_the_run_but_it_completes(
    tmp_path: Path, start_emulator: Any, emu: Any
) -> None:
    """Each propagation message (role not assumable, KMS grant principal) refuses every
    CreateFunction for 40 s: the run retries through it and completes. The two runs mostly
    wait, so they run at once, each a `bench run` process against its own emulator."""
    runs = []
    for name, message in (("role", ROLE_NOT_ASSUMABLE), ("kms", KMS_GRANT_PRINCIPAL)):
        text = message.format(account="123456789012", role="bench-prop-exec", function="f")
        fault = Fault("CreateFunction", "InvalidParameterValueException", text, for_s=40.0)
        emulator = start_emulator(fault)
        where = tmp_path / name
        (where / "results").mkdir(parents=True)
        (where / "m.yaml").write_text(
            emu.matrix(emulator, stage="prop", body=TINY.format(name="prop"))
        )
        env = {**emu.env(emulator), "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-c", "from bench.cli import app; app()", "run", "m.yaml"]
        began = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=where, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        runs.append((name, emulator, where, proc, began))
    try:
        for name, emulator, where, proc, began in runs:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
            elapsed = time.monotonic() - began
            (run_dir,) = (where / "results").iterdir()
            manifest = json.loads((run_dir / "manifest.json").read_text())
            assert proc.returncode == 0, out
            assert manifest["status"] == "complete", manifest["cells"]
            assert elapsed >= 40.0
            fired = emulator.info()["faults_fired"]
            refused = fired["CreateFunction:InvalidParameterValueException"]
            retries = [
                e for e in _events(run_dir)
                if e["kind"] == "retry"
                and e["detail"].startswith("CreateFunction: InvalidParameterValue")
            ]  # fmt: skip
            print(f"{name}: refused {refused} creates over {elapsed:.1f}s; {len(retries)} retries")
            assert refused >= 2 and len(retries) == refused
    finally:
        for *_, proc, _began in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_role_that_never_reaches_lambda_fails_the_cell_after_the_deadline(
    workdir: Path, start_emulator: Any, emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.deploy

    monkeypatch.setattr(bench.deploy, "ROLE_PROPAGATION_DEADLINE_S", 2.0)
    fault = Fault(
        "CreateFunction", "InvalidParameterValueException", ROLE_NOT_ASSUMABLE, for_s=600.0
    )
    emulator = start_emulator(fault)
    outcome = _run(workdir, emulator, emu, monkeypatch, "noprop")
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert outcome.status == "partial" and outcome.exit_code == 3
    (cell,) = manifest["cells"].values()
    assert cell["status"] == "failed"
    assert cell["error"].startswith(
        "deploy: TargetError: CreateFunction: the execution role had not reached Lambda after 2s"
    )


def test_an_sdk_retry_of_a_create_whose_answer_was_lost_carries_on(
    start_emulator: Any, emu: Any, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    import boto3
    from botocore.config import Config

    from bench.deploy import ControlPlane, FunctionSpec, deploy_function
    from bench.fixtures import build_artifact
    from bench.matrix import Cell
    from bench.naming import resource_tags

    # The first CreateFunction takes effect, but its answer comes after the client gave up.
    emulator = start_emulator(Fault("CreateFunction", delay_s=3.0, times=1))
    session = boto3.Session(
        aws_access_key_id=emulator.access_key_id,
        aws_secret_access_key=emulator.secret_access_key,
        region_name=emulator.region,
    )
    config = Config(read_timeout=1, retries={"max_attempts": 3, "mode": "standard"})
    events: list[tuple[str, str]] = []
    cp = ControlPlane(
        lambda_client=session.client("lambda", endpoint_url=emulator.endpoint_url, config=config),
        logs_client=session.client("logs", endpoint_url=emulator.endpoint_url),
        poll_interval_s=0.1,
        on_event=lambda kind, detail, cell: events.append((kind, detail)),
    )
    cell = Cell(
        runtime="python3.12",
        memory_mb=128,
        architecture="x86_64",
        package_mb=0.0,
        package_kind="none",
    )
    artifact = build_artifact(cell, tmp_path / "cache")
    run_id = "20261130T000000Z-lost-abcdef"
    spec = FunctionSpec.for_cell(
        cell,
        artifact,
        name="bench-lost-abcdef-00",
        timeout_s=10,
        reserved_concurrency=1,
        role_arn=f"arn:aws:iam::{emulator.account_id}:role/bench-lost-exec",
        tags=resource_tags(run_id=run_id, stage="lost", cell_id=cell.id, created=datetime.now(UTC)),
    )
    deploy_function(cp, spec)
    assert emulator.info()["faults_fired"] == {"CreateFunction:delay": 1}
    assert any("an earlier attempt's answer was lost" in detail for _, detail in events)
    config_now = cp.lambda_client.get_function(FunctionName=spec.name)["Configuration"]
    assert config_now["State"] == "Active"

    # Someone else's function under that name is never adopted.
    other = FunctionSpec.for_cell(
        cell,
        artifact,
        name=spec.name,
        timeout_s=10,
        reserved_concurrency=1,
        role_arn=spec.role_arn,
        tags=resource_tags(
            run_id="20261130T000000Z-other-fedcba",
            stage="lost",
            cell_id=cell.id,
            created=datetime.now(UTC),
        ),
    )
    from bench.errors import TargetError

    with pytest.raises(TargetError, match="exists already and is not this run's"):
        deploy_function(cp, other)


SMALL = """\
name: small
runtimes: [python3.12]
memory_mb: [128, 256]
package:
  size_mb: [0]
cold_starts: 8
burst: 4
warm_invocations: 2
timeout_s: 10
budget_usd: 1.0
"""


def test_a_small_account_runs_unreserved_with_reserve_auto_and_never_throttles(
    workdir: Path, tmp_path: Path, emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.emulator.account import AccountSettings
    from bench.emulator.app import Emulator

    # A new account's quota: 10 concurrent executions, none of which can be reserved.
    emulator = Emulator(state_dir=tmp_path / "small-state",
                        account=AccountSettings(concurrent_executions=10))  # fmt: skip
    emulator.start()
    try:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in emu.env(emulator).items():
            monkeypatch.setenv(key, value)
        (workdir / "s.yaml").write_text(emu.matrix(emulator, stage="small", body=SMALL))
        from rich.console import Console

        from bench.run import RunOptions, run_matrix

        with open(os.devnull, "w") as sink:
            outcome = run_matrix(RunOptions(matrix_path=Path("s.yaml")), console=Console(file=sink))
        account = emulator.info()["account"]
    finally:
        emulator.stop()
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert outcome.status == "complete", manifest["cells"]
    concurrency = manifest["concurrency"]
    assert (concurrency["reserve"], concurrency["mode"]) == ("auto", "unreserved")
    assert concurrency["account_limit"] == 10 and concurrency["unreserved"] == 10
    assert concurrency["reason"].startswith("the account cannot reserve 4 and keep 100")
    records = [json.loads(x) for x in (outcome.run_dir / "invocations.jsonl").read_text().split()]
    assert len(records) == 2 * (8 + 2)
    assert not [r for r in records if r["status"] != "success"]
    print("emulator account after the run:", account)
    assert account["unreserved_throttles"] == 0 and 4 <= account["unreserved_peak"] <= 10
