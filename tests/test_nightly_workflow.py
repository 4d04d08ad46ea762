"""The nightly workflow: what it gates on, how long its credentials last, and how it finds
its baseline when the last good night's results have expired (run with a stand-in `gh`)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.compare import METRICS
from bench.matrix import load_matrix

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"


def _steps() -> dict[str, dict[str, Any]]:
    job = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["bench"]
    return {step.get("id") or step.get("name") or step.get("uses"): step for step in job["steps"]}


def test_the_nightly_gates_on_platform_numbers_and_only_reports_client_latency() -> None:
    command = _steps()["compare"]["run"]
    gated = re.findall(r"--metric (\S+)", command)
    reported = re.findall(r"--report-only (\S+)", command)
    assert gated == ["init_duration_ms", "duration_ms"]
    assert reported == ["client_latency_ms"]
    assert set(gated + reported) <= set(METRICS)


def test_credentials_outlast_the_job() -> None:
    job = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["bench"]
    creds = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert int(creds["with"]["role-duration-seconds"]) >= job["timeout-minutes"] * 60


def test_the_nightly_matrix_loads() -> None:
    matrix = load_matrix(REPO / "nightly.yaml")
    assert matrix.target.kind == "aws"


def _fake_gh(tmp_path: Path, runs: list[int], live: set[int]) -> dict[str, str]:
    """A `gh` that lists `runs` newest first and says which still have their artifact."""
    script = tmp_path / "bin" / "gh"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = run ]; then printf "%s\\n" $FAKE_RUNS; exit 0; fi\n'
        'run=$(echo "$2" | sed -E "s|.*/runs/([0-9]+)/artifacts|\\1|")\n'
        'case " $FAKE_LIVE " in *" $run "*) echo 1;; *) echo 0;; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {
        "PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}",
        "FAKE_RUNS": " ".join(map(str, runs)),
        "FAKE_LIVE": " ".join(map(str, sorted(live))),
        "GITHUB_REPOSITORY": "org/repo",
        "GITHUB_REF_NAME": "main",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "GH_TOKEN": "unused",
    }


@pytest.mark.parametrize(
    ("runs", "live", "expected"),
    [
        ([30, 20, 10], {30, 20, 10}, "30"),  # the newest good night
        ([30, 20, 10], {20, 10}, "20"),  # its results expired: the next one that has them
        ([30, 20, 10], set(), ""),  # all expired: a new baseline
        ([], set(), ""),  # the first night
    ],
)
def test_the_baseline_is_the_newest_good_night_whose_results_are_left(
    tmp_path: Path, runs: list[int], live: set[int], expected: str
) -> None:
    env = _fake_gh(tmp_path, runs, live)
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", _steps()["previous"]["run"]],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    output = (tmp_path / "output").read_text()
    assert output == f"run-id={expected}\n"
    summary = (tmp_path / "summary").read_text() if (tmp_path / "summary").exists() else ""
    assert ("tonight starts a new baseline" in summary) == (expected == "")
    # Without a baseline the download and compare steps are skipped: the night passes.
    assert _steps()["Download its results"]["if"] == "steps.previous.outputs.run-id != ''"
