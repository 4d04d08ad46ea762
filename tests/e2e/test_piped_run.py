"""`bench run` piped to a file, as a CI log holds it: progress lines from the start, a
line per finished cell, the local target's disclosure before the summary, a table that
fits the width it is given, results the group can read."""

from __future__ import annotations

import html
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

MATRIX = """\
name: piped
runtimes: [python3.12]
memory_mb: [128, 256]
package:
  size_mb: [0]
cold_starts: 2
burst: 2
warm_invocations: 2
timeout_s: 10
budget_usd: 0.05
"""
PROGRESS = re.compile(r"^\[(\d+):(\d\d)\] .*cells \d+")


def test_a_piped_run_shows_progress_within_ten_seconds(workdir: Path) -> None:
    (workdir / "m.yaml").write_text(MATRIX)
    log = workdir / "ci.log"
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("BENCH_DEBUG", None)
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "m.yaml"], cwd=workdir, env=env, stdout=out,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            first_at = None
            while first_at is None and time.monotonic() - started < 10 and proc.poll() is None:
                if any(PROGRESS.match(x) for x in log.read_text().splitlines()):
                    first_at = time.monotonic() - started
                time.sleep(0.05)  # polling the file for the condition, with a deadline
            assert first_at is not None, f"no progress line within 10 s:\n{log.read_text()}"
            print(f"first progress line {first_at:.1f} s after the start")
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, (text, err.decode())
    lines = text.splitlines()
    finished = [x for x in lines if re.match(r"^\[\d+:\d\d\] cell \S+ finished: ", x)]
    assert len(finished) == 2, text
    assert all("invocations" in x and "cells" in x for x in finished)
    # The disclosure comes before the table, in the report banner's words.
    table_at = next(i for i, x in enumerate(lines) if x.startswith("Cold starts per cell"))
    before = " ".join(" ".join(lines[:table_at]).split())
    assert "Local target: these numbers describe this machine" in before
    # The table fits the 80 columns it was given and says what it left out.
    table = [x for x in lines[table_at:] if x.strip() and not x.startswith(("status:", "results:",
             "report:"))]  # fmt: skip
    assert max(len(x) for x in table) <= 80, max(table, key=len)
    assert "not shown at 80 columns: $/M" in " ".join(lines[table_at:])
    (run_dir,) = list((workdir / "results").iterdir())
    report = next((workdir / "reports").iterdir()).read_text()
    banner = re.search(r'<div class="banner note">(.*?)</div>', report)
    assert banner is not None
    assert " ".join(html.unescape(banner.group(1)).split()) in before  # the same words
    for name in ("manifest.json", "invocations.jsonl"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) & stat.S_IRGRP, name
