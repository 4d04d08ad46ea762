"""Acceptance of `bench analyze`: a function deployed and invoked with boto3 on the local
target, 500 invocations at varying concurrency; `bench analyze` reports exactly the
invocation count, the cold starts (= environments created) and the Init Duration values
of the REPORT lines, through FilterLogEvents and through Logs Insights alike."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

NAME = "orders-api"
# (concurrency, invocations) phases; the configuration change before the third retires
# every environment, so cold starts happen in bursts of different sizes.
PHASES = [(1, 60), (6, 150), (10, 200), (3, 90)]
INIT_RE = re.compile(r"Init Duration: (\d+\.\d+) ms")


def _deploy_and_invoke(lam: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {'ok': True}\n")
    lam.create_function(
        FunctionName=NAME, Runtime="python3.12", Handler="handler.handler",
        Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": buf.getvalue()},
        MemorySize=1024, LoggingConfig={"LogFormat": "Text", "LogGroup": "/team/orders"},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=NAME)
    for index, (concurrency, count) in enumerate(PHASES):
        if index == 2:
            lam.update_function_configuration(
                FunctionName=NAME, Environment={"Variables": {"RELEASE": "2"}}
            )
            lam.get_waiter("function_updated_v2").wait(FunctionName=NAME)
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = list(pool.map(
                lambda _i: lam.invoke(FunctionName=NAME, Payload=b"{}")["StatusCode"],
                range(count),
            ))  # fmt: skip
        assert statuses == [200] * count


def _ground_truth(logs: Any) -> tuple[int, int, list[float]]:
    """From the raw lines, read without bench: REPORTs, INIT_STARTs and Init Durations."""
    deadline = time.monotonic() + 30
    while True:
        events = [e for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName="/team/orders") for e in page["events"]]  # fmt: skip
        reports = [e["message"] for e in events if e["message"].startswith("REPORT ")]
        if len(reports) >= sum(n for _, n in PHASES) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    inits = sum(e["message"].startswith("INIT_START") for e in events)
    values = sorted(float(m.group(1)) for r in reports if (m := INIT_RE.search(r)))
    return len(reports), inits, values


@pytest.mark.parametrize("reader", ["filter", "insights"])
@pytest.mark.usefixtures("aws_env", "workdir")
def test_analyze_reports_exactly_what_the_report_lines_say(
    emulator: Any, emu: Any, bench_cli: Any, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.analyze.read

    lam, logs = emu.clients(emulator)
    _deploy_and_invoke(lam)
    reports, environments, init_values = _ground_truth(logs)
    assert reports == 500
    assert environments >= 11  # 10 concurrent after the change, and the ones before it
    if reader == "insights":  # a small row limit makes the reader split its window
        monkeypatch.setattr(bench.analyze.read, "MAX_INSIGHTS_ROWS", 120)
        # The local Logs Insights answers within milliseconds and has no TPS quota.
        monkeypatch.setattr(bench.analyze.read, "INSIGHTS_POLL_S", 0.02)
        monkeypatch.setattr(bench.analyze.read, "INSIGHTS_PER_S", 100.0)
    result = bench_cli("analyze", "--function", NAME, "--since", "30m", "--reader", reader,
                       "--endpoint-url", emulator.endpoint_url)  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = (Path.cwd() / "results").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    entry = manifest["production"]["functions"][NAME]
    assert entry["log_group"] == "/team/orders"
    summary = entry["summary"]
    assert summary["invocations"] == 500
    assert summary["start_types"]["cold"] == environments
    assert summary["environments"] == environments
    assert entry["lines"]["init_starts"] == environments
    assert entry["lines"]["malformed"] == 0
    records = [json.loads(line) for line in (run_dir / "invocations.jsonl").read_text()
               .splitlines()]  # fmt: skip
    cold = sorted(r["init_duration_ms"] for r in records if r["start_type"] == "cold")
    assert cold == init_values
    assert {r["start_type"] for r in records} == {"cold", "warm"}
    if reader == "insights":
        assert entry["reads"]["splits"] >= 1
    # The terminal table says the same.
    row = next(line for line in result.output.splitlines() if NAME in line and "500" in line)
    assert re.search(rf"\b500\b\W+\b{environments}\b", row), row
    # compare and history read the run as any other.
    compared = bench_cli("compare", str(run_dir), str(run_dir), "--reports", "reports")
    assert compared.exit_code == 0, compared.output
    assert "unchanged" in compared.output
    history = bench_cli("history", "results", "--reports", "reports")
    assert history.exit_code == 0, history.output
