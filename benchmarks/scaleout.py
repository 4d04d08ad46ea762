"""Beyond one client machine: `driver: lambda` against the client, one region against two.

    python benchmarks/scaleout.py [--pairs 2] [--cold 32]

1. Same cells, two drivers: `bench run`s of python3.12 at 128 MB, no payload, `--cold`
   cold starts in one round of that width, with `driver: lambda` and with the default
   client driver, alternated `--pairs` times so the host's drift falls on both alike.
   Prints each run's Init Duration median, the pooled medians per driver and their ratio
   (goal: within 10%), the driver invocations a round fanned out over and the skew between
   them (the spread of driver_skew_ms in a round).
2. Regions at once: the same matrix with `target.regions: [us-east-1, eu-west-1]` and with
   one region, back to back `--pairs` times; prints the wall time of each and the ratio
   two regions / one (goal: under 1.5).

Figures from a shared or busy host are noisy (this is a 2-core machine others use too):
read the contention marks of the runs beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MATRIX = """\
name: {name}
target: {target}
runtimes: [python3.12]
memory_mb: [128]
package:
  size_mb: [0]
cold_starts: {cold}
burst: {burst}
warm_invocations: 0
timeout_s: 30
budget_usd: 1.0
"""


def _run(work: Path, name: str, target: str, cold: int, burst: int) -> tuple[Path, float]:
    path = work / f"{name}.yaml"
    path.write_text(MATRIX.format(name=name, target=target, cold=cold, burst=burst))
    before = set((work / "results").iterdir()) if (work / "results").exists() else set()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(path), "--results", str(work / "results"),
         "--reports", str(work / "reports")],
        capture_output=True, text=True, check=False, cwd=work,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: bench run exited {done.returncode}\n{done.stdout[-2000:]}")
    (run_dir,) = set((work / "results").iterdir()) - before
    return run_dir, wall


def _records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _inits(run_dir: Path) -> list[float]:
    return [r["init_duration_ms"] for r in _records(run_dir)
            if r["phase"] == "cold" and r["init_duration_ms"] is not None]  # fmt: skip


def _quality(run_dir: Path) -> str:
    cells = json.loads((run_dir / "manifest.json").read_text())["cells"]
    return ", ".join(c.get("quality", {}).get("verdict", "?") for c in cells.values())


def drivers(work: Path, pairs: int, cold: int) -> None:
    pooled: dict[str, list[float]] = {"lambda": [], "client": []}
    for i in range(pairs):
        for mode in ("lambda", "client") if i % 2 == 0 else ("client", "lambda"):
            target = "{kind: local, driver: lambda}" if mode == "lambda" else "{kind: local}"
            run_dir, wall = _run(work, f"drv-{mode}-{i}", target, cold, cold)
            inits = _inits(run_dir)
            pooled[mode] += inits
            p50 = statistics.median(inits)
            line = (f"  {mode:6} pair {i + 1}: init p50 {p50:7.1f} ms (n={len(inits)}), "
                    f"wall {wall:5.1f} s, quality {_quality(run_dir)}")  # fmt: skip
            if mode == "lambda":
                manifest = json.loads((run_dir / "manifest.json").read_text())
                skews = sorted({r["driver_skew_ms"] for r in _records(run_dir)})
                line += (f", driver invocations {manifest['driver']['invocations']}, "
                         f"skew between drivers {skews[-1] - skews[0]:.3f} ms "
                         f"(latest {skews[-1]:.3f} ms after the instant)")  # fmt: skip
            print(line, flush=True)
    lam, cli = statistics.median(pooled["lambda"]), statistics.median(pooled["client"])
    print(f"Init Duration median: driver lambda {lam:.1f} ms, client {cli:.1f} ms, "
          f"ratio {lam / cli:.3f} (goal: 0.90 to 1.10)")  # fmt: skip


def regions(work: Path, pairs: int, cold: int) -> None:
    walls: dict[str, list[float]] = {"one": [], "two": []}
    burst = min(cold, 8)
    for i in range(pairs):
        for kind in ("two", "one") if i % 2 == 0 else ("one", "two"):
            target = ("{kind: local, regions: [us-east-1, eu-west-1]}" if kind == "two"
                      else "{kind: local}")  # fmt: skip
            run_dir, wall = _run(work, f"reg-{kind}-{i}", target, cold, burst)
            walls[kind].append(wall)
            print(f"  {kind} region(s) pair {i + 1}: wall {wall:5.1f} s, quality "
                  f"{_quality(run_dir)}", flush=True)  # fmt: skip
    one, two = statistics.median(walls["one"]), statistics.median(walls["two"])
    print(f"wall time median: one region {one:.1f} s, two regions {two:.1f} s, "
          f"ratio {two / one:.2f} (goal: under 1.5)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--cold", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coldbench-scaleout-") as scratch:
        work = Path(scratch)
        print("driver: lambda against the client driver", flush=True)
        drivers(work, args.pairs, args.cold)
        print("regions at once", flush=True)
        regions(work, args.pairs, args.cold)


if __name__ == "__main__":
    main()
