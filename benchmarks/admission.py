"""Capacity admission: do local numbers stay the same however hard the harness pushes?

    python benchmarks/admission.py [--cold 24] [--rounds-only] [--demo]

1. Interleaved, in one emulator: python3.12 and nodejs22.x at 512 MB, no payload, `--cold`
   cold starts each at burst 8 and at burst 1, round by round in turn, so the host's drift
   falls on both alike. Prints the medians of Init Duration, their ratio (goal: within
   10%), IQR/median at burst 8 (goal <= 0.3), samples per minute of both and their ratio,
   and how many burst-8 cold starts waited for capacity (queued_ms > 0).
2. Real `bench run`s of the same cells (skipped with --rounds-only): burst 8, burst 1 and
   burst 8 again, back to back. Two separate runs' medians (goal: within 15%); `bench
   compare` of burst 1 against burst 8 (goal: exit 0); a copy of the burst-8 run with one
   cell's cold Init Duration made 25% slower (goal: exit 1, a regression in exactly that
   cell). A cell either run measured contended is not judged: that is said, not hidden.
3. `--demo`: the demo matrix (matrix.yaml) against the same python3.12 no-payload cells
   at burst 1 (goal: medians within 15%).

Figures from a shared or busy host are noisy: read the contention marks beside them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.burst import fire_burst, invoke_once
from bench.classify import bench_event, tail_report
from bench.deploy import ControlPlane, FunctionSpec, bump, deploy_function
from bench.matrix import Cell
from bench.naming import resource_tags
from bench.pacing import RateLimiter
from bench.target import open_local_target

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ("python3.12", "nodejs22.x")
WIDE = 8
MATRIX = """\
name: {name}
target: {{kind: local}}
runtimes: [{runtimes}]
memory_mb: [{memory}]
package: {{size_mb: [0]}}
cold_starts: {cold}
burst: {burst}
warm_invocations: 0
timeout_s: 30
budget_usd: 1.0
"""


def _iqr_ratio(values: list[float]) -> float:
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / q2


def _cold(outcome: Any) -> tuple[float, float | None, list[str]] | None:
    found = tail_report(outcome)
    if outcome.status != "success" or found is None or found[0].init_duration_ms is None:
        return None
    return found[0].init_duration_ms, outcome.queued_ms, outcome.contention or []


def interleaved(cold: int) -> None:
    from bench.fixtures import build_artifact

    samples: dict[tuple[str, int], list[tuple[float, float | None, list[str]]]] = {}
    seconds: dict[int, float] = {WIDE: 0.0, 1: 0.0}
    with open_local_target() as target:
        cp = ControlPlane.from_target(target, RateLimiter(12))
        names = {}
        for i, runtime in enumerate(RUNTIMES):
            cell = Cell(runtime=runtime, memory_mb=512, architecture="x86_64",
                        package_mb=0.0, package_kind="none")  # fmt: skip
            names[runtime] = name = f"bench-perf-adm000-{i:02d}"
            deploy_function(cp, FunctionSpec.for_cell(
                cell, build_artifact(cell), name=name, timeout_s=30, reserved_concurrency=WIDE,
                role_arn=str(target.role_arn),
                tags=resource_tags(run_id="bench", stage="perf", cell_id=cell.id,
                                   created=datetime.now(UTC)),
            ))  # fmt: skip
        client = target.lambda_client(WIDE)
        for round_ in range(1, cold // WIDE + 1):
            for runtime in RUNTIMES:
                name = names[runtime]
                start = time.perf_counter_ns()
                bump(cp, name, f"wide-{round_}-{start}")
                payloads = [bench_event("perf", name, round_, s) for s in range(1, WIDE + 1)]
                outcomes = fire_burst(client, name, payloads, run_start_ns=start).outcomes
                seconds[WIDE] += (time.perf_counter_ns() - start) / 1e9
                samples.setdefault((runtime, WIDE), []).extend(
                    c for c in map(_cold, outcomes) if c is not None)
                start = time.perf_counter_ns()
                for seq in range(1, WIDE + 1):
                    bump(cp, name, f"one-{round_}-{seq}-{start}")
                    event = bench_event("perf", name, round_, seq)
                    found = _cold(invoke_once(client, name, event, run_start_ns=start))
                    if found is not None:
                        samples.setdefault((runtime, 1), []).append(found)
                seconds[1] += (time.perf_counter_ns() - start) / 1e9
    print(f"1. interleaved, one emulator: {cold} cold starts per runtime and burst, 512 MB")
    for runtime in RUNTIMES:
        wide = [s[0] for s in samples.get((runtime, WIDE), [])]
        one = [s[0] for s in samples.get((runtime, 1), [])]
        if len(wide) < 4 or len(one) < 4:
            print(f"   {runtime}: too few cold starts ({len(wide)}, {len(one)})")
            continue
        ratio = statistics.median(wide) / statistics.median(one)
        queued = [s[1] for s in samples[(runtime, WIDE)] if s[1] is not None]
        touched = sum(bool(s[2]) for s in samples[(runtime, WIDE)] + samples[(runtime, 1)])
        print(f"   {runtime:11} Init p50 burst {WIDE} {statistics.median(wide):6.1f} ms, "
              f"burst 1 {statistics.median(one):6.1f} ms: ratio {ratio:4.2f} "
              f"(goal 0.90-1.10); IQR/median burst {WIDE} {_iqr_ratio(wide):4.2f}, "
              f"burst 1 {_iqr_ratio(one):4.2f} (goal <= 0.30 at {WIDE}); "
              f"queued > 0: {sum(q > 0 for q in queued)}/{len(queued)}; "
              f"contended invocations: {touched}/{len(wide) + len(one)}")  # fmt: skip
    rate = {w: sum(len(v) for (_, ww), v in samples.items() if ww == w) / s * 60
            for w, s in seconds.items() if s}  # fmt: skip
    print(f"   samples/min: burst {WIDE} {rate.get(WIDE, 0):5.0f}, burst 1 {rate.get(1, 0):5.0f}"
          f" = {rate.get(WIDE, 0) / max(rate.get(1, 1), 1e-9):4.2f}x")  # fmt: skip


# ------------------------------------------------------------------ real runs


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from bench.cli import app; app()", *args]
    env = {"PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200", "PATH": _path()}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def run_matrix(work: Path, name: str, *, burst: int, cold: int, runtimes: tuple[str, ...],
               memory: str = "512", matrix: Path | None = None) -> Path:  # fmt: skip
    path = matrix or work / f"{name}.yaml"
    if matrix is None:
        path.write_text(MATRIX.format(name=name, runtimes=", ".join(runtimes), memory=memory,
                                      cold=cold, burst=burst))  # fmt: skip
    before = set((work / "results").glob("*")) if (work / "results").exists() else set()
    done = _bench("run", str(path), cwd=work)
    after = set((work / "results").glob("*")) - before
    if done.returncode != 0 or len(after) != 1:
        raise SystemExit(f"bench run {path.name} exited {done.returncode}:\n{done.stdout[-2000:]}")
    return after.pop()


def _records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line]


def _medians(run_dir: Path) -> dict[str, float]:
    by_cell: dict[str, list[float]] = {}
    for r in _records(run_dir):
        if r["start_type"] == "cold" and r["status"] == "success" and r["init_duration_ms"]:
            by_cell.setdefault(r["cell"], []).append(r["init_duration_ms"])
    return {cell: statistics.median(v) for cell, v in sorted(by_cell.items())}


def _quality(run_dir: Path) -> dict[str, str]:
    cells = json.loads((run_dir / "manifest.json").read_text())["cells"]
    return {cell: (c.get("quality") or {}).get("verdict", "?") for cell, c in cells.items()}


def slower_copy(run_dir: Path, cell: str, factor: float) -> Path:
    """A copy of a run, under a new run id, with one cell's cold Init Durations scaled."""
    new_id = run_dir.name[:-6] + "5109e7"
    copy = run_dir.parent / new_id
    shutil.copytree(run_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["run_id"] = new_id
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2))
    lines = []
    for record in _records(copy):
        record["run"] = new_id
        if record["cell"] == cell and record["phase"] == "cold" and record["init_duration_ms"]:
            record["init_duration_ms"] = round(record["init_duration_ms"] * factor, 3)
        lines.append(json.dumps(record))
    (copy / "invocations.jsonl").write_text("\n".join(lines) + "\n")
    return copy


def runs(cold: int, work: Path) -> None:
    print(f"2. separate bench runs of the same cells, {cold} cold starts each")
    wide = run_matrix(work, "adm-wide", burst=WIDE, cold=cold, runtimes=RUNTIMES)
    one = run_matrix(work, "adm-one", burst=1, cold=cold, runtimes=RUNTIMES)
    again = run_matrix(work, "adm-wide", burst=WIDE, cold=cold, runtimes=RUNTIMES)
    m_wide, m_one, m_again = _medians(wide), _medians(one), _medians(again)
    q = {"wide": _quality(wide), "one": _quality(one), "again": _quality(again)}
    for cell in m_wide:
        print(f"   {cell:30} Init p50 burst {WIDE} {m_wide[cell]:6.1f} ms, burst 1 "
              f"{m_one.get(cell, float('nan')):6.1f} ms, burst {WIDE} again "
              f"{m_again.get(cell, float('nan')):6.1f} ms: back to back "
              f"{m_again.get(cell, float('nan')) / m_wide[cell]:4.2f} (goal 0.85-1.15); "
              f"quality {q['wide'].get(cell)}/{q['one'].get(cell)}/{q['again'].get(cell)}")
    cold_wide = [r for r in _records(wide) if r["phase"] == "cold"]
    queued = [r["queued_ms"] for r in cold_wide if r["queued_ms"] is not None]
    print(f"   burst {WIDE} cold records with queued_ms: {len(queued)}/{len(cold_wide)}, "
          f"> 0: {sum(x > 0 for x in queued)} (goal: some)")
    check = _bench("compare", str(wide), str(one), "--reports", str(work / "reports"), cwd=work)
    print(f"   bench compare burst {WIDE} -> burst 1: exit {check.returncode} (goal 0)")
    print("     " + "\n     ".join(_verdict_lines(check.stdout)))
    planted = sorted(m_wide)[0]
    slow = slower_copy(wide, planted, 1.25)
    check = _bench("compare", str(wide), str(slow), "--reports", str(work / "reports"), cwd=work)
    print(f"   bench compare burst {WIDE} -> its copy with {planted} 25% slower: exit "
          f"{check.returncode} (goal 1, a regression in exactly that cell)")
    print("     " + "\n     ".join(_verdict_lines(check.stdout)))


def _verdict_lines(table: str) -> list[str]:
    marks = ("REGRESSION", "unchanged", "improvement", "large, not", "contended,", "insuffic")
    return [" ".join(line.split())[:160] for line in table.splitlines()
            if any(m in line for m in marks) and "│" in line] or [table[-400:]]  # fmt: skip


def demo(work: Path) -> None:
    print("3. the demo matrix against the same python3.12 no-payload cells at burst 1")
    shutil.copy(REPO / "matrix.yaml", work / "demo.yaml")
    demo_run = run_matrix(work, "demo", burst=0, cold=0, runtimes=(), matrix=work / "demo.yaml")
    one = run_matrix(work, "demo-one", burst=1, cold=12, runtimes=("python3.12",),
                     memory="256, 1024")  # fmt: skip
    m_demo, m_one = _medians(demo_run), _medians(one)
    q_demo, q_one = _quality(demo_run), _quality(one)
    for cell, value in m_one.items():
        ratio = m_demo.get(cell, float("nan")) / value
        print(f"   {cell:30} demo {m_demo.get(cell, float('nan')):6.1f} ms, burst 1 "
              f"{value:6.1f} ms: ratio {ratio:4.2f} (goal 0.85-1.15); quality "
              f"{q_demo.get(cell)}/{q_one.get(cell)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=24, help="cold starts per runtime and burst")
    parser.add_argument("--rounds-only", action="store_true", help="only part 1")
    parser.add_argument("--demo", action="store_true", help="also part 3 (about 2 minutes)")
    args = parser.parse_args()
    if args.cold < WIDE or args.cold % WIDE:
        raise SystemExit(f"--cold {args.cold}: a multiple of {WIDE}")
    interleaved(args.cold)
    if args.rounds_only:
        return
    work = Path(tempfile.mkdtemp(prefix="coldbench-admission-"))
    try:
        runs(args.cold, work)
        if args.demo:
            demo(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
