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
import statistics
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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, values: list[float], goal: str = "") -> str:
    return (
        f"{name:<46} {statistics.median(values):9.2f} {pct(values, 0.9):9.2f} "
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


def bare_import_ms(code_dir: Path, rounds: int) -> list[float]:
    """Spawn to the end of `import bench_handler` in a plain interpreter, same clean env."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin/:/bin",
        "PYTHONPATH": str(code_dir),
        "TZ": "UTC",
        "LANG": "en_US.UTF-8",
    }
    out = []
    for _ in range(rounds):
        start = time.time() * 1000
        done = subprocess.run(
            [sys.executable, "-c", BARE],
            env=env,
            cwd=code_dir,
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(float(done.stdout) - start)
    return out


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


def sandbox_layer_warm(code_dir: Path, rounds: int) -> list[float]:
    """SandboxManager.invoke round trip minus handler time: the sandbox layer alone."""
    from bench.emulator.contracts import FunctionSpec, SandboxSettings
    from bench.emulator.sandbox import SandboxManager

    class Sink:
        def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
            pass

    spec = FunctionSpec(
        "bench-direct",
        "arn:aws:lambda:us-east-1:000000000000:function:d",
        "r1",
        "python3.12",
        "bench_handler.handler",
        code_dir,
        1769,
        30,
        {},
        "/aws/lambda/bench-direct",
    )

    async def run() -> list[float]:
        manager = SandboxManager(Sink(), SandboxSettings())
        out = []
        try:
            for i in range(rounds + 5):
                t = time.perf_counter()
                r = await manager.invoke(
                    spec,
                    b"{}",
                    request_id=str(uuid.uuid4()),
                    reserved_concurrency=None,
                    log_tail=True,
                )
                rtt = (time.perf_counter() - t) * 1000
                if i >= 5:  # the first is cold, the next few warm the caches
                    out.append(rtt - json.loads(r.payload)["handler_ms"])
        finally:
            await manager.shutdown()
        return out

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke test)")
    args = parser.parse_args()
    warm_n, cold_n, burst_n = (30, 5, 20) if args.quick else (300, 20, 100)

    import boto3
    from botocore.config import Config

    from bench.emulator.app import Emulator

    lines = [f"{'measure (ms)':<46} {'p50':>9} {'p90':>9} {'n':>5}  goal"]
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

        # 1. warm
        for _ in range(10):
            invoke(client, name, {})
        warm_rtt, warm_over, warm_dur = [], [], []
        for _ in range(warm_n):
            rtt, doc, tail = invoke(client, name, {})
            warm_rtt.append(rtt)
            warm_over.append(rtt - doc["handler_ms"])
            warm_dur.append(report_field(tail, "Duration") or 0.0)
        floor = []  # boto3 + HTTP + SigV4 check + API layer, no sandbox: the client's floor
        for _ in range(warm_n):
            t = time.perf_counter()
            client.get_function_configuration(FunctionName=name)
            floor.append((time.perf_counter() - t) * 1000)
        direct = sandbox_layer_warm(code_dir, warm_n)

        # 2. cold: a configuration change retires the sandbox, as `bench run` does
        init_ms, cold_rtt = [], []
        for i in range(cold_n):
            client.update_function_configuration(
                FunctionName=name, Environment={"Variables": {"BENCH_COLD_TOKEN": str(i)}}
            )
            wait_updated(client, name)
            rtt, _, tail = invoke(client, name, {})
            cold_rtt.append(rtt)
            init = report_field(tail, "Init Duration")
            if init is None:
                raise RuntimeError("a cold invoke's REPORT has no Init Duration")
            init_ms.append(init)
        bare = bare_import_ms(code_dir, cold_n)

        # 3. burst on fresh sandboxes
        client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"BENCH_COLD_TOKEN": "burst"}}
        )
        wait_updated(client, name)
        t = time.perf_counter()
        with ThreadPoolExecutor(burst_n) as pool:
            results = list(pool.map(lambda _: invoke(client, name, {"sleep": 0.2}), range(burst_n)))
        burst_s = time.perf_counter() - t
        pids = {doc["pid"] for _, doc, _ in results}
        info = emu.info()
        client.delete_function(FunctionName=name)

    limits = f"on (cgroup v{info.get('cgroup_version')})" if info.get("cpu_limits") else "off"
    init_over = [a - b for a, b in zip(sorted(init_ms), sorted(bare), strict=True)]
    lines += [
        row("warm: boto3 round trip", warm_rtt),
        row("warm: REPORT Duration", warm_dur),
        row("warm: round trip - handler's own time", warm_over, "<= 2 ms at p50"),
        row("warm: sandbox layer only (no HTTP, no boto3)", direct),
        row("floor: boto3 GetFunctionConfiguration round trip", floor),
        row("cold: Init Duration (spawn to first /next)", init_ms),
        row("cold: bare process importing the handler", bare),
        row("cold: Init Duration - bare import (by rank)", init_over, "<= 15 ms at p50"),
        row("cold: boto3 round trip", cold_rtt),
        f"burst: {burst_n} concurrent invokes, {len(results)} ok, {len(pids)} sandboxes, "
        f"{burst_s:.2f} s wall",
        f"host: {info.get('host_cpus')} CPUs ({info.get('host_cpu_model')}), cpu limits "
        f"{limits}, "
        f"oversubscription events {info.get('oversubscription', {}).get('events')}, "
        f"substitutions {info.get('runtime_substitutions')}",
    ]
    print("\n".join(lines))
    return 0 if len(results) == burst_n else 1


if __name__ == "__main__":
    sys.exit(main())
