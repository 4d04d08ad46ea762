"""`bench analyze` at scale: 1,000,000 synthetic REPORT lines served by the local target's
CloudWatch Logs, read with Logs Insights (or FilterLogEvents), and a tenth of that beside
it, each analysed in a fresh interpreter with its wall time and peak RSS.

    python benchmarks/analyze.py [--lines 1000000] [--reader insights|filter]

The emulator (`bench emulator`) and the seeding run in processes of their own, so neither
counts against the analysis' peak memory. Peak RSS that barely moves from a tenth of the
lines to all of them is what "bounded memory" means here; the durations kept for the
percentiles add 8 bytes a line. Numbers on a shared machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START = "2026-01-01T00:00:00Z"
END = "2026-01-01T23:59:59Z"
STREAM_LINES = 4_000  # one PutLogEvents each: under the 1 MB request limit
SEED = """
import io, sys, zipfile
import boto3
name, lines, url, per = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
base = 1_767_225_600_000  # 2026-01-01T00:00:00Z
lam, logs = boto3.client("lambda", endpoint_url=url), boto3.client("logs", endpoint_url=url)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as zf:
    zf.writestr("handler.py", "def handler(event, context):\\n    return {}\\n")
lam.create_function(FunctionName=name, Runtime="python3.12", Handler="handler.handler",
                    Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": buf.getvalue()},
                    MemorySize=1024)
group = f"/aws/lambda/{name}"
logs.create_log_group(logGroupName=group)
streams = -(-lines // per)
day = 86_000_000
for s in range(streams):
    stream = f"2026/01/01/[$LATEST]{s:032x}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    count = min(per, lines - s * per)
    first = base + s * 997
    events = [{"timestamp": first, "message": "INIT_START Runtime Version: python:3.12.v40\\t"
               "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:x"}]
    for i in range(count):
        duration = 1.0 + (i * 7919 % 1000) / 100
        init = f"Init Duration: {150 + s % 50}.25 ms\\t" if i == 0 else ""
        billed = int(duration + (150 + s % 50 if i == 0 else 0)) + 1
        events.append({"timestamp": first + 300 + i * (day // per), "message":
            f"REPORT RequestId: {s:08x}-0000-4000-8000-{i:012x}\\tDuration: {duration:.2f} ms\\t"
            f"Billed Duration: {billed} ms\\tMemory Size: 1024 MB\\t"
            f"Max Memory Used: {60 + i % 40} MB\\t{init}"})
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[:1])
    for k in range(1, len(events), 2_000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[k:k + 2000])
"""


def _serve(state: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bench.cli import app; app()", "emulator", "--state-dir",
         str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    exports: dict[str, str] = {}
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench emulator exited: {proc.stderr.read() if proc.stderr else ''}")
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").strip().partition("=")
            exports[key] = value
        elif line.startswith("#"):
            return proc, exports


def _analyze(name: str, reader: str, env: dict[str, str], results: Path) -> dict[str, float]:
    command = [sys.executable, "-c", "from bench.cli import app; app()", "analyze",
               "--function", name, "--start", START, "--end", END, "--reader", reader,
               "--results", str(results), "--name", name,
               "--endpoint-url", env["AWS_ENDPOINT_URL"]]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"bench analyze {name} failed: {err[-2000:]}")
    (run_dir,) = [d for d in results.iterdir() if f"-{name}-" in d.name]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    entry = manifest["production"]["functions"][name]
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024,
            "invocations": entry["summary"]["invocations"],
            "cold": entry["summary"]["start_types"]["cold"],
            "queries": entry["reads"]["queries"], "calls": entry["reads"]["calls"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--reader", choices=("insights", "filter"), default="insights")
    args = parser.parse_args()
    sizes = [args.lines // 10, args.lines]
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        proc, exports = _serve(Path(tmp) / "emulator")
        env = {**os.environ, **exports, "AWS_EC2_METADATA_DISABLED": "true"}
        try:
            for n in sizes:
                subprocess.run([sys.executable, "-c", SEED, f"synthetic{n}", str(n),
                                exports["AWS_ENDPOINT_URL"], str(STREAM_LINES)],
                               env=env, check=True)  # fmt: skip
            figures = {n: _analyze(f"synthetic{n}", args.reader, env, Path(tmp) / "results")
                       for n in sizes}  # fmt: skip
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
    print(f"bench analyze, {args.reader} reader, lines served by the local target "
          "(shared machine: read the ratios)")
    print(f"{'lines':>10} {'wall s':>8} {'lines/s':>9} {'peak MB':>8} {'calls':>6} "
          f"{'queries':>7} {'cold':>5}")
    for n, f in figures.items():
        assert f["invocations"] == n, f
        print(f"{n:>10,} {f['seconds']:>8.1f} {n / f['seconds']:>9,.0f} {f['peak_mb']:>8.0f} "
              f"{f['calls']:>6.0f} {f['queries']:>7.0f} {f['cold']:>5.0f}")
    small, large = (figures[n] for n in sizes)
    print(f"x{sizes[1] // sizes[0]} lines: wall time x{large['seconds'] / small['seconds']:.2f}, "
          f"peak memory x{large['peak_mb'] / small['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
