"""Report and compare at scale: a 1,000,000-record report and a compare of two 200,000-record
runs, each timed in a fresh interpreter with its own peak RSS.

    python benchmarks/report.py [--records 1000000] [--compare-records 200000] [--keep DIR]

Targets (issue 6): report under 30 s and 2 GB; compare under 10 s. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CELLS = 12  # tests.synthetic.default_cells()
# Each step runs in a fresh child of this small parent: Linux carries the peak RSS across
# fork and exec, so generating the data here would count against the report's figure.
GENERATE = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from tests.synthetic import SyntheticRun, default_cells, write_run
root, records, seed, slower = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per_cell = records // len(default_cells())
cold = per_cell * 3 // 5
factor = {default_cells()[4].id: 1.25} if slower == "slower" else {}
spec = SyntheticRun(name="perf", cold=cold, warm=per_cell - cold, burst=100, seed=seed,
                    started=datetime(2026, 11, 1 + seed, 14, tzinfo=UTC), init_factor=factor)
print(write_run(root, spec))
"""
CHILD = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from bench.report import render_compare, render_run
if sys.argv[1] == "report":
    out = render_run(Path(sys.argv[2]), Path(sys.argv[3]))
    detail = f"{out.stat().st_size / 1e6:.1f} MB HTML"
else:
    outcome = render_compare(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]),
                             metrics=["init_duration_ms", "client_latency_ms", "warm_duration_ms"])
    detail = f"{len(outcome.verdict.rows)} rows, {outcome.verdict.regressions} regression(s)"
seconds = time.perf_counter() - start
# Worker processes (compare parses both runs side by side) count too.
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
peak = max(own.ru_maxrss, kids.ru_maxrss) / 1024
cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak, "detail": detail}))
"""


def _child(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False, cwd=REPO)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"benchmark step {args[0]} failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def _generate(root: Path, records: int, seed: int, slower: bool = False) -> str:
    return _child(GENERATE, str(root), str(records), str(seed), "slower" if slower else "same")


def _timed(*args: str) -> dict[str, float | str]:
    return json.loads(_child(CHILD, *args))  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--compare-records", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="Write the runs here and keep them.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="coldbench-perf-") as tmp:
        root = args.keep or Path(tmp)
        t0 = time.perf_counter()
        big = _generate(root / "results", args.records, seed=1)
        base = _generate(root / "results", args.compare_records, seed=2)
        new = _generate(root / "results", args.compare_records, seed=3, slower=True)
        generated = time.perf_counter() - t0
        report = _timed("report", big, str(root / "reports"))
        compare = _timed("compare", base, new, str(root / "reports"))

    rows = [
        ("report", f"{args.records:,} records", report, 30.0, 2048.0),
        ("compare", f"2 x {args.compare_records:,} records", compare, 10.0, None),
    ]
    load = os.getloadavg()[0]
    print(f"(synthetic runs written in {generated:.1f} s, {CELLS} cells each; load average "
          f"{load:.1f} on {os.cpu_count()} CPUs: wall time above cpu time means contention)")
    print(f"{'step':<8} {'input':<22} {'seconds':>8} {'cpu s':>6} {'target s':>9} "
          f"{'peak RSS MB':>12} {'target MB':>10}  result")  # fmt: skip
    for step, size, figures, target_s, target_mb in rows:
        ok = figures["seconds"] < target_s and (target_mb is None or figures["peak_mb"] < target_mb)
        print(f"{step:<8} {size:<22} {figures['seconds']:>8.1f} {figures['cpu']:>6.1f} "
              f"{target_s:>9.0f} {figures['peak_mb']:>12.0f} {target_mb or '-':>10}  "
              f"{'ok' if ok else 'OVER TARGET'}: {figures['detail']}")  # fmt: skip


if __name__ == "__main__":
    main()
