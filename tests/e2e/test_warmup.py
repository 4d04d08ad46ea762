"""experiment: warmup on the local target with a 3 s idle timeout: pings every 2 s bring
cold starts per 1,000 user requests down, and the report prices each one avoided."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

pytestmark = pytest.mark.e2e

ARRIVALS = [1.3, 5.6, 9.9, 14.3, 18.7, 23.1]  # 4.3 s apart: past the idle timeout


def test_pings_every_2s_avoid_cold_starts_and_are_priced(tmp_path: Path) -> None:
    from bench.experiments.warmup import warmup_figures
    from bench.results import load_run
    from bench.run import RunOptions, run_matrix

    matrix = tmp_path / "w.yaml"
    matrix.write_text(
        "name: warm\ntarget: {kind: local, eviction: {idle_timeout_s: 3}}\n"
        "runtimes: [python3.12]\nmemory_mb: [128]\npackage: {size_mb: [0]}\n"
        "experiment: warmup\nduration_s: 24\nping_every_s: 2\nping_concurrency: 1\n"
        f"traffic: {{arrivals_s: {ARRIVALS}}}\n"
    )
    out = io.StringIO()
    outcome = run_matrix(
        RunOptions(matrix_path=matrix, results_root=tmp_path / "results",
                   reports_root=tmp_path / "reports"),
        console=Console(file=out, width=200, color_system=None),
    )  # fmt: skip
    assert outcome.status == "complete"
    # 24 s of traffic, the start delay and the local target's set-up: about 40 s
    assert "expected to finish at " in out.getvalue() and "(in 40 s)" in out.getvalue()
    figures = warmup_figures(load_run(outcome.run_dir).invocations)
    print(json.dumps(figures, indent=1))
    without, with_pings = figures["nopings"], figures["pings"]
    assert without["requests"] == with_pings["requests"] == len(ARRIVALS)
    assert without["pings"] == 0 and with_pings["pings"] == 12  # t = 0, 2, ..., 22
    assert without["cold"] == len(ARRIVALS)  # every request found its environment gone
    assert with_pings["cold"] < without["cold"]
    assert with_pings["ping_cost_usd"] > 0
    html = outcome.report_path.read_text()
    assert "Warm-up pings" in html and "cost per cold start avoided:</strong> $" in html
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert {c["arm"] for c in manifest["cells"].values()} == {"pings", "nopings"}
