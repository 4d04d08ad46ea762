"""Burst vs sequential cold starts on the local target, side by side.

Prints cold samples per minute for each strategy (goal: burst >= 10x sequential), the
median Init Duration of each strategy's samples (a faster strategy that moves the value is
not a win: with capacity admission a burst waits for the host instead of inflating Init)
and the launch skew (max - min release time) of 50-wide bursts (goal: p100 <= 10 ms).

    python benchmarks/strategies.py [--cold 20] [--burst 10 20] [--update-delay 0.1 2.0]

`--update-delay` sets how long the emulator keeps an update InProgress: 0.1 s is the
emulator's default, about 1 to 3 s is what AWS takes; sequential pays it once per sample,
burst once per round of `--burst` invokes, so the ratio grows with both and every
combination is shown. Local sandboxes share this host's 2 cores, which bounds how fast a
wide burst's inits can go; on AWS they do not.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bench.burst import fire_burst, invoke_once
from bench.classify import bench_event, tail_report
from bench.deploy import ControlPlane, FunctionSpec, bump, deploy_function
from bench.matrix import Cell
from bench.naming import resource_tags
from bench.pacing import RateLimiter
from bench.target import Target, open_local_target
from bench.target_aws import open_aws_target

CELL = Cell(
    runtime="python3.12", memory_mb=1769, architecture="x86_64", package_mb=0.0, package_kind="none"
)


def _deploy(target: Target, cp: ControlPlane, name: str, concurrency: int) -> None:
    from bench.fixtures import build_artifact

    artifact = build_artifact(CELL)
    deploy_function(
        cp,
        FunctionSpec.for_cell(
            CELL,
            artifact,
            name=name,
            timeout_s=30,
            reserved_concurrency=concurrency,
            role_arn=str(target.role_arn),
            tags=resource_tags(
                run_id="bench", stage="perf", cell_id=CELL.id, created=datetime.now(UTC)
            ),
        ),
    )


def _cold(outcomes: list[Any]) -> tuple[int, float]:
    """Cold samples, and the median of their Init Durations (NaN when none has one)."""
    cold = [
        o for o in outcomes if o.status == "success" and (o.response or {}).get("invocation") == 1
    ]
    inits = []
    for outcome in cold:
        found = tail_report(outcome)
        if found is not None and found[0].init_duration_ms is not None:
            inits.append(found[0].init_duration_ms)
    return len(cold), statistics.median(inits) if inits else float("nan")


Sampled = tuple[tuple[int, float], float]  # ((cold samples, median Init ms), seconds)


def sequential(target: Target, cp: ControlPlane, name: str, cold: int) -> Sampled:
    client = target.lambda_client(1)
    start = time.perf_counter_ns()
    outcomes = []
    for i in range(1, cold + 1):
        bump(cp, name, f"seq-{i}-{start}")
        event = bench_event("perf", CELL.id, i, 1)
        outcomes.append(invoke_once(client, name, event, run_start_ns=start))
    return _cold(outcomes), (time.perf_counter_ns() - start) / 1e9


def burst(target: Target, cp: ControlPlane, name: str, cold: int, width: int) -> Sampled:
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
    parser.add_argument(
        "--burst", type=int, nargs="+", default=[10, 20], help="widths of a cold round"
    )
    parser.add_argument("--skew-width", type=int, default=50)
    parser.add_argument("--skew-repeats", type=int, default=5)
    parser.add_argument("--update-delay", type=float, nargs="+", default=[0.1, 2.0])
    args = parser.parse_args()

    print(f"{args.cold} cold samples per strategy; python3.12 at 1769 MB (one vCPU)")
    for delay in args.update_delay:
        with open_local_target(update_delay_s=delay) as target:
            cp = ControlPlane.from_target(target, RateLimiter(12))
            _deploy(target, cp, "bench-perf-aaaaaa-00", 1)
            (seq_n, seq_init), seq_s = sequential(target, cp, "bench-perf-aaaaaa-00", args.cold)
            if not seq_n:
                raise SystemExit("no sequential cold samples: see the errors above")
            seq_rate = seq_n / seq_s * 60
            print(
                f"update delay {delay:>4.1f}s  sequential: {seq_n} cold in {seq_s:5.1f}s "
                f"= {seq_rate:5.0f}/min; median Init {seq_init:5.1f} ms"
            )
            for i, width in enumerate(args.burst, start=1):
                name = f"bench-perf-aaaaaa-{i:02d}"
                _deploy(target, cp, name, width)
                (bur_n, bur_init), bur_s = burst(target, cp, name, args.cold, width)
                bur_rate = bur_n / bur_s * 60
                print(
                    f"{'':20}burst {width:>3}: {bur_n} cold in {bur_s:5.1f}s = {bur_rate:5.0f}/min"
                    f"  = {bur_rate / seq_rate:4.1f}x sequential (goal >= 10x); median Init "
                    f"{bur_init:5.1f} ms = {bur_init / seq_init:4.2f}x sequential's (goal ~1.0)"
                )

    with open_local_target(cpu_limits="off") as target:
        cp = ControlPlane.from_target(target, RateLimiter(12))
        _deploy(target, cp, "bench-perf-bbbbbb-00", args.skew_width)
        inside = skew(target, cp, "bench-perf-bbbbbb-00", args.skew_width, args.skew_repeats)
    _print_skews("emulator in this process", inside, args)
    with external_emulator() as target:
        cp = ControlPlane.from_target(target, RateLimiter(12))
        _deploy(target, cp, "bench-perf-cccccc-00", args.skew_width)
        outside = skew(target, cp, "bench-perf-cccccc-00", args.skew_width, args.skew_repeats)
    _print_skews("endpoint in its own process, as AWS's is", outside, args)


def _print_skews(where: str, skews: list[float], args: argparse.Namespace) -> None:
    print(
        f"launch skew, {args.skew_repeats} bursts of {args.skew_width} ({where}): "
        f"p50 {statistics.median(skews):.2f} ms, p100 {max(skews):.2f} ms (goal <= 10 ms); "
        f"each: {', '.join(f'{s:.2f}' for s in skews)}"
    )


@contextlib.contextmanager
def external_emulator() -> Iterator[Target]:
    """`bench emulator` in a child process, reached like any Lambda-compatible endpoint:
    the emulator's own request handling then does not compete with the burst threads
    for this interpreter."""
    code = "from bench.cli import app; app()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        exports = {}
        assert child.stdout is not None
        while len(exports) < 4:
            line = child.stdout.readline()
            if not line:
                raise SystemExit("bench emulator exited before it printed its endpoint")
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
        os.environ["AWS_ACCESS_KEY_ID"] = exports["AWS_ACCESS_KEY_ID"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = exports["AWS_SECRET_ACCESS_KEY"]
        with open_aws_target(
            region=exports["AWS_DEFAULT_REGION"],
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            stage="perf",
            role_arn="arn:aws:iam::000000000000:role/bench-perf-execution",
        ) as target:
            yield target
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()
