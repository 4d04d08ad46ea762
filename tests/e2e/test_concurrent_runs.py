"""Two `bench run`s at once on one host: each is the other's contention, and both say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MATRIX = """\
name: {name}
target: {{kind: local}}
runtimes: [python3.12]
memory_mb: [128, 256]
package:
  size_mb: [0]
cold_starts: 8
burst: 4
warm_invocations: 4
timeout_s: 10
budget_usd: 0.05
"""
RUN_TIMEOUT_S = 300


def test_two_runs_at_once_mark_each_others_cells_contended(tmp_path: Path) -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat: host contention is only sampled on Linux")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200"}
    runs = []
    for name in ("left", "right"):
        where = tmp_path / name
        where.mkdir()
        (where / "m.yaml").write_text(MATRIX.format(name=name))
        cmd = [sys.executable, "-c", "from bench.cli import app; app()", "run", "m.yaml"]
        runs.append((where, subprocess.Popen(cmd, cwd=where, env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)))  # fmt: skip
    outputs = []
    for _, proc in runs:
        try:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for _, other in runs:
                other.kill()
            raise
        outputs.append(out)
        assert proc.returncode == 0, out
    for (where, _), out in zip(runs, outputs, strict=True):
        (run_dir,) = (where / "results").iterdir()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        qualities = {cell: c["quality"] for cell, c in manifest["cells"].items()}
        assert len(qualities) == 2
        for cell, quality in qualities.items():
            assert quality["verdict"] == "contended", (cell, quality)
            assert quality["judged"] == 12 and quality["touched"] >= 2, (cell, quality)
            assert quality["reasons"], quality
        lines = (run_dir / "invocations.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert all(isinstance(r["contention"], list) for r in records)
        assert "contended: " in out  # the terminal summary
        (report,) = (where / "reports").glob("*.html")
        assert report.read_text().count("contended: ") >= 2  # the HTML report's table
