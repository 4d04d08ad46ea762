"""What isolating sandboxes (bubblewrap) costs, measured side by side in one run.

For fixture cells (the generated handlers, no payload), cold starts alternate between a
sandbox layer that isolates and one that does not, so both see the same host noise.
Printed per runtime: the median Init Duration of each and their ratio (goal: within 5%,
as Init Duration starts at the runtime's exec, after the sandbox is set up), the median
wall time of the cold start as the caller sees it (where setting up the namespaces does
show), and the median warm invocation's Duration (the Runtime API is served on a socket
in the sandbox's own network namespace, with no relay: goal, no difference).

Exits non-zero only when something errors or this host cannot isolate (then it says
why), never on a missed goal. Usage: python benchmarks/isolation.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

RUNTIMES = ("python3.12", "nodejs22.x", "java21")
WARM = 10


class Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        self.lines.extend(message for _, message in events)

    def report(self, request_id: str) -> str:
        prefix = f"REPORT RequestId: {request_id}\t"
        return next(line for line in self.lines if line.startswith(prefix))


def _field(report: str, name: str) -> float | None:
    for part in report.split("\t"):
        if part.startswith(f"{name}: "):
            return float(part.split(": ")[1].split()[0])
    return None


def _spec(runtime: str, workdir: Path) -> Any:
    from bench.emulator.contracts import FunctionSpec
    from bench.fixtures import build_artifact
    from bench.matrix import Cell

    cell = Cell(
        runtime=runtime, memory_mb=1769, architecture="x86_64", package_mb=0.0, package_kind="none"
    )
    artifact = build_artifact(cell)
    code = workdir / runtime
    with zipfile.ZipFile(artifact.zip_path) as archive:
        archive.extractall(code)
    for path in [code, *code.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # as the emulator stores code
    return FunctionSpec(
        name=f"iso-{runtime.replace('.', '-')}",
        arn=f"arn:aws:lambda:us-east-1:000000000000:function:iso-{runtime}",
        revision_id="r1",
        runtime=runtime,
        handler=artifact.handler,
        code_dir=code,
        memory_mb=1769,
        timeout_s=30,
        environment={},
        log_group=f"/aws/lambda/iso-{runtime}",
    )


def _event(seq: int) -> bytes:
    return json.dumps({"bench": {"run": "iso", "cell": "c", "round": seq, "seq": 0}}).encode()


async def _cold(manager: Any, sink: Sink, spec: Any, seq: int) -> tuple[float, float, float]:
    """(Init Duration, cold wall ms, median warm Duration) of one fresh sandbox."""
    manager.retire(spec.name)
    spec = replace(spec, revision_id=f"r{seq}")
    rid = str(uuid.uuid4())
    start = time.perf_counter()
    result = await manager.invoke(
        spec, _event(seq), request_id=rid, reserved_concurrency=None, log_tail=False
    )
    wall = (time.perf_counter() - start) * 1000
    if result.function_error:
        raise RuntimeError(f"{spec.runtime}: {result.payload[:300]!r}")
    init = _field(sink.report(rid), "Init Duration")
    assert init is not None
    warm = []
    for i in range(WARM):
        wid = str(uuid.uuid4())
        await manager.invoke(
            spec, _event(seq * 100 + i), request_id=wid, reserved_concurrency=None, log_tail=False
        )
        duration = _field(sink.report(wid), "Duration")
        assert duration is not None
        warm.append(duration)
    return init, wall, statistics.median(warm)


async def _measure(runtimes: list[str], rounds: int, workdir: Path) -> list[str]:
    from bench.emulator.contracts import SandboxSettings
    from bench.emulator.sandbox import SandboxManager

    sinks = {"on": Sink(), "off": Sink()}
    managers = {
        mode: SandboxManager(
            sinks[mode],
            SandboxSettings(cpu_limits="auto", isolation=mode, allow_unisolated=True),
        )
        for mode in ("on", "off")
    }
    lines = [
        f"{'runtime':<12} {'init off':>9} {'init on':>9} {'ratio':>6} {'goal':>5}  "
        f"{'cold wall off/on':>17}  {'warm Duration off/on':>21}"
    ]
    try:
        for runtime in runtimes:
            spec = _spec(runtime, workdir)
            seen: dict[str, list[tuple[float, float, float]]] = {"on": [], "off": []}
            for seq in range(rounds + 1):
                # Alternate which goes first, so neither always follows the other.
                for mode in ("on", "off") if seq % 2 else ("off", "on"):
                    sample = await _cold(managers[mode], sinks[mode], spec, seq)
                    if seq:  # the first round warms the page cache and the JIT caches
                        seen[mode].append(sample)
            med = {m: [statistics.median(s[i] for s in seen[m]) for i in range(3)] for m in seen}
            ratio = med["on"][0] / med["off"][0]
            lines.append(
                f"{runtime:<12} {med['off'][0]:>7.1f}ms {med['on'][0]:>7.1f}ms {ratio:>6.3f} "
                f"{'ok' if abs(ratio - 1) <= 0.05 else 'MISS':>5}  "
                f"{med['off'][1]:>7.1f}/{med['on'][1]:<7.1f}ms  "
                f"{med['off'][2]:>8.2f}/{med['on'][2]:<8.2f}ms"
            )
    finally:
        for manager in managers.values():
            await manager.shutdown()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, python only")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    from bench.emulator import isolation

    support = isolation.probe()
    if not support.available:
        print(f"isolation benchmark: this host cannot isolate sandboxes: {support.reason}")
        return 1
    runtimes = ["python3.12"] if args.quick else list(RUNTIMES)
    # 15 rounds move a median by about 10% from one run to the next here; 60 settle it.
    rounds = args.rounds or (5 if args.quick else 60)
    print(
        f"isolation ({support.mode}) vs none: fixture cells at 1769 MB, {rounds} cold starts "
        f"each, interleaved; medians; ratio = Init Duration isolated / not (goal within 5%)"
    )
    with tempfile.TemporaryDirectory(prefix="coldbench-isolation-") as tmp:
        for line in asyncio.run(_measure(runtimes, rounds, Path(tmp))):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
