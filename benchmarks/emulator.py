"""The local Lambda's own overhead, measured side by side in one run (`nox -s perf`).

1. Warm invoke: boto3 round trip through the full Emulator vs the handler's own time, and
   the sandbox layer alone (SandboxManager.invoke, no HTTP) for the split.
2. Cold start: Init Duration (spawn to first GET /next) and the cold round trip, vs a bare
   process that imports the same handler (spawn to the end of its import).
3. Burst: 100 concurrent python invokes, all must succeed.

Prints a table; exits non-zero only when something errors, never on a missed goal (the
goals are printed next to the figures). Usage: python benchmarks/emulator.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HANDLER = """\
import time
INIT_START_MS = time.time() * 1000
import json, os
INIT_END_MS = time.time() * 1000

def handler(event, context):
    t = time.perf_counter()
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"handler_ms": (time.perf_counter() - t) * 1000, "pid": os.getpid(),
            "init_end_ms": INIT_END_MS}
"""
BARE = "import time, bench_handler; print(time.time() * 1000)"
# The same plus the runtime client's own modules: how much of the gap is awslambdaric's,
# which Lambda's python runtime pays too.
BARE_RIC = (
    "import time, awslambdaric.bootstrap, awslambdaric.lambda_runtime_client, "
    "concurrent.futures, bench_handler; print(time.time() * 1000)"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, values: list[float], goal: str = "") -> str:
    return (
        f"{name:<54} {statistics.median(values):9.2f} {pct(values, 0.9):9.2f} "
        f"{len(values):5d}  {goal}"
    )


def report_field(tail_b64: str, name: str) -> float | None:
    import base64

    tail = base64.b64decode(tail_b64).decode()
    for line in tail.splitlines():
        if line.startswith("REPORT "):
            for part in line.split("\t"):
                if part.startswith(name + ": "):
                    return float(part.split()[-2])
    return None


def zip_handler() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("bench_handler.py", HANDLER)
    return buf.getvalue()


def bare_import_ms(code_dir: Path, hierarchy: Any, code: str = BARE) -> float:
    """Spawn to the end of `import bench_handler` in a plain interpreter: same clean env,
    and, when cgroups are on, a cgroup like a 1769 MB sandbox's, timed from the same point
    (the child has joined it), so that both sides of the comparison run alike."""
    from bench.emulator.cgroups import SandboxGroup

    env = {
        "PATH": "/usr/local/bin:/usr/bin/:/bin",
        "PYTHONPATH": str(code_dir),
        "TZ": "UTC",
        "LANG": "en_US.UTF-8",
    }
    group = SandboxGroup(hierarchy, f"bare-{uuid.uuid4().hex[:8]}", 1769) if hierarchy else None
    stamp_r, stamp_w = os.pipe()

    def joined() -> None:
        if group is not None:
            group.attach()
        os.write(stamp_w, struct.pack("d", time.time() * 1000))

    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=code_dir,
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=joined,
        )
        os.close(stamp_w)
        (start,) = struct.unpack("d", os.read(stamp_r, 8))
    finally:
        os.close(stamp_r)
        if group is not None:
            group.remove()
    return float(done.stdout) - start


def wait_updated(client: Any, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cfg = client.get_function_configuration(FunctionName=name)
        if (
            cfg.get("State") == "Active"
            and cfg.get("LastUpdateStatus", "Successful") == "Successful"
        ):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{name} did not become Active/Successful within 30 s")


def invoke(client: Any, name: str, event: dict[str, Any]) -> tuple[float, dict[str, Any], str]:
    t = time.perf_counter()
    resp = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    rtt = (time.perf_counter() - t) * 1000
    body = resp["Payload"].read()
    if resp.get("FunctionError"):
        raise RuntimeError(f"invoke failed: {body[:300]!r}")
    return rtt, json.loads(body), resp["LogResult"]


class DirectSandboxes:
    """A SandboxManager driven from this thread: the sandbox layer without HTTP or boto3.

    Its loop only runs during an invoke; in between, the warm runtime's GET /next just
    waits in the kernel, as it would while the loop served other work."""

    def __init__(self, code_dir: Path) -> None:
        from bench.emulator.contracts import FunctionSpec, SandboxSettings
        from bench.emulator.sandbox import SandboxManager

        class Sink:
            def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
                pass

        self.spec = FunctionSpec(
            "bench-direct",
            "arn:aws:lambda:us-east-1:000000000000:function:bench-direct",
            "r1",
            "python3.12",
            "bench_handler.handler",
            code_dir,
            1769,
            30,
            {},
            "/aws/lambda/bench-direct",
        )
        self.loop = asyncio.new_event_loop()
        self.manager = SandboxManager(Sink(), SandboxSettings())

    def overhead_ms(self) -> float:
        """One invoke's round trip minus the handler's own time."""

        async def once() -> float:
            t = time.perf_counter()
            r = await self.manager.invoke(
                self.spec,
                b"{}",
                request_id=str(uuid.uuid4()),
                reserved_concurrency=None,
                log_tail=True,
            )
            return (time.perf_counter() - t) * 1000 - json.loads(r.payload)["handler_ms"]

        return self.loop.run_until_complete(once())

    def close(self) -> None:
        self.loop.run_until_complete(self.manager.shutdown())
        self.loop.close()


def warm_phase(client: Any, name: str, code_dir: Path, n: int) -> list[str]:
    """The three warm measures, interleaved so that load from elsewhere hits all alike."""
    direct = DirectSandboxes(code_dir)
    rtts, over, durations, floor, direct_over = [], [], [], [], []
    try:
        for i in range(n + 10):
            rtt, doc, tail = invoke(client, name, {})
            t = time.perf_counter()
            client.get_function_configuration(FunctionName=name)
            floor_ms = (time.perf_counter() - t) * 1000
            direct_ms = direct.overhead_ms()
            if i < 10:  # the first is cold; the next ones warm the caches
                continue
            rtts.append(rtt)
            over.append(rtt - doc["handler_ms"])
            durations.append(report_field(tail, "Duration") or 0.0)
            floor.append(floor_ms)
            direct_over.append(direct_ms)
    finally:
        direct.close()
    return [
        row("warm: boto3 round trip", rtts),
        row("warm: REPORT Duration", durations),
        row("warm: round trip - handler's own time", over, "<= 2 ms at p50"),
        row("warm: sandbox layer only (no HTTP, no boto3)", direct_over),
        row("floor: boto3 GetFunctionConfiguration round trip", floor),
    ]


def cold_phase(client: Any, name: str, code_dir: Path, n: int) -> list[str]:
    """A configuration change retires the sandbox (as `bench run` does); a bare import
    runs right before each cold start, so both see the same host load."""
    from bench.emulator import cgroups

    hierarchy = cgroups.detect("auto")
    init_ms, cold_rtt, bare, bare_ric = [], [], [], []
    for i in range(n):
        client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"BENCH_COLD_TOKEN": str(i)}}
        )
        wait_updated(client, name)
        bare.append(bare_import_ms(code_dir, hierarchy))
        bare_ric.append(bare_import_ms(code_dir, hierarchy, BARE_RIC))
        rtt, _, tail = invoke(client, name, {})
        cold_rtt.append(rtt)
        init = report_field(tail, "Init Duration")
        if init is None:
            raise RuntimeError("a cold invoke's REPORT has no Init Duration")
        init_ms.append(init)
    if hierarchy is not None:
        hierarchy.remove()
    paired = [a - b for a, b in zip(init_ms, bare, strict=True)]
    return [
        row("cold: Init Duration (spawn to first /next)", init_ms),
        row("cold: bare process importing the handler", bare),
        row("cold: Init Duration - bare import (paired)", paired, "<= 15 ms at p50"),
        row("cold: bare process importing awslambdaric + handler", bare_ric),
        row("cold: boto3 round trip", cold_rtt),
    ]


def burst_phase(client: Any, name: str, n: int) -> tuple[str, bool]:
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"BENCH_COLD_TOKEN": "burst"}}
    )
    wait_updated(client, name)
    t = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: invoke(client, name, {"sleep": 0.2}), range(n)))
    wall = time.perf_counter() - t
    pids = {doc["pid"] for _, doc, _ in results}
    line = (
        f"burst: {n} concurrent invokes, {len(results)} ok, {len(pids)} sandboxes, "
        f"{wall:.2f} s wall"
    )
    return line, len(results) == n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke test)")
    args = parser.parse_args()
    warm_n, cold_n, burst_n = (30, 5, 20) if args.quick else (300, 20, 100)

    import boto3
    from botocore.config import Config

    from bench.emulator.app import Emulator

    lines = [f"{'measure (ms)':<54} {'p50':>9} {'p90':>9} {'n':>5}  goal"]
    with tempfile.TemporaryDirectory(prefix="coldbench-perf-") as scratch, Emulator() as emu:
        code_dir = Path(scratch)
        (code_dir / "bench_handler.py").write_text(HANDLER)
        client = boto3.client(
            "lambda",
            endpoint_url=emu.endpoint_url,
            region_name=emu.region,
            aws_access_key_id=emu.access_key_id,
            aws_secret_access_key=emu.secret_access_key,
            config=Config(
                max_pool_connections=burst_n + 10, retries={"max_attempts": 0}, read_timeout=120
            ),
        )
        name = "perf-python"
        client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role="arn:aws:iam::000000000000:role/bench-perf",
            Handler="bench_handler.handler",
            Code={"ZipFile": zip_handler()},
            MemorySize=1769,
            Timeout=30,
        )
        wait_updated(client, name)
        lines += warm_phase(client, name, code_dir, warm_n)
        lines += cold_phase(client, name, code_dir, cold_n)
        burst_line, burst_ok = burst_phase(client, name, burst_n)
        info = emu.info()
        client.delete_function(FunctionName=name)

    limits = f"on (cgroup v{info.get('cgroup_version')})" if info.get("cpu_limits") else "off"
    lines += [
        burst_line,
        f"host: {info.get('host_cpus')} CPUs ({info.get('host_cpu_model')}), cpu limits {limits}, "
        f"oversubscription events {info.get('oversubscription', {}).get('events')}, "
        f"substitutions {info.get('runtime_substitutions')}",
    ]
    print("\n".join(lines))
    return 0 if burst_ok else 1


if __name__ == "__main__":
    sys.exit(main())
