"""Burst vs sequential cold starts on the local target, side by side.

Prints cold samples per minute for each strategy (goal: burst >= 10x sequential) and the
launch skew (max - min release time) of 50-wide bursts (goal: p100 <= 10 ms).

    python benchmarks/strategies.py [--cold 20] [--burst 10] [--update-delay 0.1 2.0]

`--update-delay` sets how long the emulator keeps an update InProgress: 0.1 s is the
emulator's default, about 1 to 3 s is what AWS takes; sequential pays it once per sample,
burst once per round, so the ratio depends on it and both are shown.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench.burst import fire_burst, invoke_once
from bench.classify import bench_event
from bench.deploy import ControlPlane, FunctionSpec, bump, deploy_function, resource_tags
from bench.matrix import Cell
from bench.pacing import RateLimiter
from bench.target import Target, open_local_target

CELL = Cell(
    runtime="python3.12", memory_mb=1769, architecture="x86_64", package_mb=0.0, package_kind="none"
)


def _deploy(target: Target, cp: ControlPlane, name: str, concurrency: int) -> None:
    from bench.fixtures import build_artifact

    artifact = build_artifact(CELL)
    deploy_function(
        cp,
        FunctionSpec(
            name=name,
            cell_id=CELL.id,
            runtime=CELL.runtime,
            handler=artifact.handler,
            memory_mb=CELL.memory_mb,
            architecture=CELL.architecture,
            timeout_s=30,
            reserved_concurrency=concurrency,
            role_arn=str(target.role_arn),
            tags=resource_tags(
                run_id="bench", stage="perf", cell_id=CELL.id, created=datetime.now(UTC)
            ),
            zip_path=artifact.zip_path,
            zipped_bytes=artifact.zipped_bytes,
            sha256=artifact.sha256,
        ),
    )


def _cold(outcomes: list[Any]) -> int:
    return sum(
        1 for o in outcomes if o.status == "success" and (o.response or {}).get("invocation") == 1
    )


def sequential(target: Target, cp: ControlPlane, name: str, cold: int) -> tuple[int, float]:
    client = target.lambda_client(1)
    start = time.perf_counter_ns()
    outcomes = []
    for i in range(1, cold + 1):
        bump(cp, name, f"seq-{i}-{start}")
        event = bench_event("perf", CELL.id, i, 1)
        outcomes.append(invoke_once(client, name, event, run_start_ns=start))
    return _cold(outcomes), (time.perf_counter_ns() - start) / 1e9


def burst(target: Target, cp: ControlPlane, name: str, cold: int, width: int) -> tuple[int, float]:
    client = target.lambda_client(width)
    start = time.perf_counter_ns()
    outcomes = []
    done, round_ = 0, 0
    while done < cold:
        round_ += 1
        size = min(width, cold - done)
        bump(cp, name, f"burst-{round_}-{start}")
        payloads = [bench_event("perf", CELL.id, round_, s) for s in range(1, size + 1)]
        outcomes += fire_burst(client, name, payloads, run_start_ns=start).outcomes
        done += size
    return _cold(outcomes), (time.perf_counter_ns() - start) / 1e9


def skew(target: Target, cp: ControlPlane, name: str, width: int, repeats: int) -> list[float]:
    client = target.lambda_client(width)
    skews = []
    for r in range(repeats):
        bump(cp, name, f"skew-{r}-{time.time_ns()}")
        payloads = [bench_event("perf", CELL.id, r + 1, s) for s in range(1, width + 1)]
        result = fire_burst(client, name, payloads, run_start_ns=time.perf_counter_ns())
        failed = [o.status for o in result.outcomes if o.status != "success"]
        if failed:
            print(f"  skew burst {r + 1}: {len(failed)} of {width} not successful: {set(failed)}")
        skews.append(result.launch_skew_ms)
    return skews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=20, help="cold samples per strategy")
    parser.add_argument("--burst", type=int, default=10, help="width of a cold round")
    parser.add_argument("--skew-width", type=int, default=50)
    parser.add_argument("--skew-repeats", type=int, default=5)
    parser.add_argument("--update-delay", type=float, nargs="+", default=[0.1, 2.0])
    args = parser.parse_args()

    print(f"cold samples per strategy: {args.cold}; burst width {args.burst}; python3.12 1769 MB")
    for delay in args.update_delay:
        with open_local_target(update_delay_s=delay) as target:
            cp = ControlPlane.from_target(target, RateLimiter(12))
            _deploy(target, cp, "bench-perf-aaaaaa-00", 1)
            _deploy(target, cp, "bench-perf-aaaaaa-01", args.burst)
            seq_n, seq_s = sequential(target, cp, "bench-perf-aaaaaa-00", args.cold)
            bur_n, bur_s = burst(target, cp, "bench-perf-aaaaaa-01", args.cold, args.burst)
        seq_rate, bur_rate = seq_n / seq_s * 60, bur_n / bur_s * 60
        if not seq_n or not bur_n:
            raise SystemExit(f"no cold samples (sequential {seq_n}, burst {bur_n}): see above")
        print(
            f"update delay {delay:>4.1f}s  sequential: {seq_n} cold in {seq_s:6.1f}s = "
            f"{seq_rate:6.0f}/min   burst: {bur_n} cold in {bur_s:6.1f}s = {bur_rate:6.0f}/min"
            f"   burst/sequential = {bur_rate / seq_rate:4.1f}x (goal >= 10x)"
        )

    with open_local_target(cpu_limits="off") as target:
        cp = ControlPlane.from_target(target, RateLimiter(12))
        _deploy(target, cp, "bench-perf-bbbbbb-00", args.skew_width)
        skews = skew(target, cp, "bench-perf-bbbbbb-00", args.skew_width, args.skew_repeats)
    print(
        f"launch skew of {args.skew_repeats} bursts of {args.skew_width}: "
        f"p50 {statistics.median(skews):.2f} ms, p100 {max(skews):.2f} ms (goal <= 10 ms); "
        f"each: {', '.join(f'{s:.2f}' for s in skews)}"
    )


if __name__ == "__main__":
    main()
