"""How wide one driver fires: launch skew of one start barrier against its width.

    python benchmarks/driver_width.py [--repeat 5]

A driver fires its share of a round through bench.burst's start barrier; the launch skew
(first to last release of the parked threads) grows with the number of threads one
interpreter wakes. This fires bursts of 4 to 64 at a trivial local function (warm after
the first burst, so the sandboxes' inits do not matter here) and prints the median launch
skew per width and its ratio to width 4. `bench.driver.fleet.DRIVER_WIDTH` is the widest
burst whose skew stays within a couple of milliseconds on this measure. Figures from a
shared host are noisy.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

from bench.burst import fire_burst
from bench.emulator.app import Emulator

WIDTHS = (4, 8, 16, 32, 64)
HANDLER = "def handler(event, context):\n    return {}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", HANDLER)
    with tempfile.TemporaryDirectory() as scratch, Emulator(state_dir=Path(scratch)) as emu:
        config = Config(retries={"total_max_attempts": 1}, max_pool_connections=80)
        client = boto3.client(
            "lambda", endpoint_url=emu.endpoint_url, region_name=emu.region, config=config,
            aws_access_key_id=emu.access_key_id, aws_secret_access_key=emu.secret_access_key,
        )  # fmt: skip
        role = f"arn:aws:iam::{emu.account_id}:role/bench-width"
        client.create_function(FunctionName="width", Runtime="python3.12", Role=role,
                               Handler="handler.handler", Code={"ZipFile": buf.getvalue()},
                               MemorySize=128, Timeout=30)  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName="width")
        start = time.perf_counter_ns()
        fire_burst(client, "width", [b"{}"] * max(WIDTHS), run_start_ns=start)  # warm them
        base = None
        for width in WIDTHS:
            skews = [
                fire_burst(client, "width", [b"{}"] * width, run_start_ns=start).launch_skew_ms
                for _ in range(args.repeat)
            ]
            median = statistics.median(skews)
            base = base or median
            print(f"width {width:3}: launch skew median {median:6.2f} ms "
                  f"(x{median / base:.1f} of width {WIDTHS[0]})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
