"""docs/ci-gate.md: its workflow is valid GitHub Actions YAML, and its commands, run here in
order on the local target (a stand-in `gh` plays GitHub's artifact store), keep a baseline
and fail a pull request whose function starts slower."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.compare import METRICS
from bench.matrix import parse_matrix

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ci-gate.md"


def _blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(_blocks()[1])


def _steps() -> dict[str, dict[str, Any]]:
    steps = _workflow()["jobs"]["cold-start"]["steps"]
    return {step.get("name") or step["uses"]: step for step in steps}


def test_the_workflow_is_a_valid_github_actions_workflow() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert triggers["push"] == {"branches": ["main"]}
    assert workflow["permissions"] == {"contents": "read", "actions": "read"}
    job = workflow["jobs"]["cold-start"]
    assert job["runs-on"].startswith("ubuntu-")
    for step in job["steps"]:
        assert ("run" in step) != ("uses" in step), step  # each step does one thing
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]
    steps = _steps()
    assert steps["Keep as the baseline"]["with"]["name"] == "cold-start-baseline"
    assert steps["Keep as the baseline"]["if"] == "github.event_name == 'push'"
    assert "--name cold-start-baseline" in steps["Fetch the baseline of main"]["run"]
    assert steps["Compare with main"]["env"] == {"COLUMNS": "200"}
    gated = re.findall(r"--metric (\S+)", steps["Compare with main"]["run"])
    assert gated == ["init_duration_ms", "duration_ms"] and set(gated) <= set(METRICS)


def test_the_documented_matrix_is_a_valid_matrix(tmp_path: Path) -> None:
    (tmp_path / "src" / "orders").mkdir(parents=True)
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "order.json").write_text("{}")
    (tmp_path / "coldbench").mkdir()
    matrix = parse_matrix(yaml.safe_load(_blocks()[0]), base_dir=tmp_path / "coldbench")
    assert [c.id for c in matrix.cells()] == ["orders-512mb-x86_64"]
    assert matrix.cold_starts >= 20


def _run(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # As GitHub Actions runs a `run:` step: bash -eo pipefail, with the step's env.
    env = {**env, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip


APP = "import time\n{slow}\ndef handler(event, context):\n    return {{'ok': True}}\n"


@pytest.mark.e2e
def test_the_workflow_commands_keep_a_baseline_and_fail_a_slower_pull_request(
    tmp_path: Path,
) -> None:
    from bench.emulator.isolation import probe

    support = probe()
    if not support.available:
        pytest.skip(f"user code runs only isolated and bubblewrap is unusable: {support.reason}")
    if shutil.which("bash") is None:
        pytest.skip("bash not found: the workflow's steps are bash scripts")
    steps = _steps()
    # The documented matrix, with 10 cold starts instead of 20 to keep the test short.
    matrix = yaml.safe_load(_blocks()[0]) | {"cold_starts": 10, "warm_invocations": 2}
    store, fake_bin = tmp_path / "artifacts", tmp_path / "bin"
    fake_bin.mkdir()
    gh = fake_bin / "gh"  # GitHub's artifact store: one run, 4242, holds the baseline
    gh.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "run list" ]; then echo 4242; exit 0; fi\n'
        'if [ "$1 $2 $3" = "run download 4242" ]; then mkdir -p "$7" && '
        f'cp -r {store}/. "$7"; exit 0; fi\n'
        "exit 1\n"
    )
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=f"{fake_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
               f"{env['PATH']}", PYTHONPATH=str(REPO), NO_COLOR="1", COLUMNS="160")  # fmt: skip
    if shutil.which("bench", path=env["PATH"]) is None:
        pytest.skip("the bench console script is not installed (pip install -e .)")

    def checkout(slow: str) -> Path:
        repo = tmp_path / f"checkout-{len(list(tmp_path.glob('checkout-*')))}"
        (repo / "src" / "orders").mkdir(parents=True)
        (repo / "src" / "orders" / "app.py").write_text(APP.format(slow=slow))
        (repo / "events").mkdir()
        (repo / "events" / "order.json").write_text('{"order": 1}')
        (repo / "coldbench").mkdir()
        (repo / "coldbench" / "cold-start.yaml").write_text(yaml.safe_dump(matrix))
        return repo

    # A push to main: measure, keep results/ as the artifact.
    main = checkout(slow="")
    done = _run(steps["Measure"], main, env)
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copytree(main / "results", store)  # what upload-artifact keeps
    # A pull request whose module takes 400 ms longer to import.
    pr = checkout(slow="time.sleep(0.4)")
    done = _run(steps["Measure"], pr, env)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run(steps["Fetch the baseline of main"], pr, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in (pr / "baseline").iterdir()] == [p.name for p in store.iterdir()]
    done = _run(steps["Compare with main"], pr, env)
    out = done.stdout.lower()
    # The job fails, never passes: a regression (exit 1) or, where this shared machine's
    # load made the runs contended, a row not judged (exit 3 when it would have been a
    # regression, the step's check, or exit 2 when nothing at all could be judged).
    assert done.returncode in (1, 2, 3), done.stdout + done.stderr
    if "1 regression(s)" not in out:
        assert "contended" in out, done.stdout
        assert any(said in out for said in ("could not be judged", "nothing could be judged",
                                            "not passed, re-run on a quiet host")), done.stdout
    assert "init_duration_ms" in out
    assert list((pr / "reports").glob("compare-*.html"))
