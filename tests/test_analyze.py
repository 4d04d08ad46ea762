"""`bench analyze` against the local target's Lambda and CloudWatch Logs over real HTTP,
with log lines seeded through PutLogEvents: both readers give the same records, text and
JSON lines mix, malformed lines are counted and never crash, classification as in a run."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench.analyze import AnalyzeOptions, analyze
from bench.errors import InputError
from bench.results import START_TYPES, load_run

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import bench.analyze.read
    from bench.emulator.app import Emulator

    # The local Logs Insights finishes a query within milliseconds and has no TPS quota:
    # poll it as often, and pace the calls faster than AWS's 5 a second.
    monkeypatch.setattr(bench.analyze.read, "INSIGHTS_POLL_S", 0.02)
    monkeypatch.setattr(bench.analyze.read, "INSIGHTS_PER_S", 100.0)
    emulator = Emulator(state_dir=tmp_path / "emulator")
    emulator.start()
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", emulator.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", emulator.secret_access_key)
    monkeypatch.setenv("AWS_REGION", emulator.region)
    session = boto3.Session(region_name=emulator.region)
    emulator.lam = session.client("lambda", endpoint_url=emulator.endpoint_url)
    emulator.logs = session.client("logs", endpoint_url=emulator.endpoint_url)
    try:
        yield emulator
    finally:
        emulator.stop()


def create(target: Any, name: str, log_group: str | None = None, **extra: Any) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    kwargs: dict[str, Any] = {
        "FunctionName": name, "Runtime": "python3.12", "Handler": "handler.handler",
        "Role": f"arn:aws:iam::{target.account_id}:role/x", "Code": {"ZipFile": buf.getvalue()},
        "MemorySize": 512, **extra,
    }  # fmt: skip
    if log_group:
        kwargs["LoggingConfig"] = {"LogGroup": log_group, "LogFormat": "Text"}
    target.lam.create_function(**kwargs)
    group = log_group or f"/aws/lambda/{name}"
    target.logs.create_log_group(logGroupName=group)
    return group


def seed(target: Any, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    target.logs.create_log_stream(logGroupName=group, logStreamName=stream)
    for i in range(0, len(events), 5000):
        target.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": BASE_MS + ms, "message": message} for ms, message in events[i:i + 5000]
        ])  # fmt: skip


def text_report(rid: str, duration: float, init: float | None = None, used: int = 60,
                status: str | None = None) -> str:  # fmt: skip
    billed = int(duration + (init or 0)) + 1
    line = (f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: {billed} ms"
            f"\tMemory Size: 512 MB\tMax Memory Used: {used} MB\t")  # fmt: skip
    if init is not None:
        line += f"Init Duration: {init:.2f} ms\t"
    if status:
        line += f"Status: {status}\t"
    return line


def json_record(kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": "2026-01-01T00:00:00.000Z", "type": kind, "record": record})


def json_report(rid: str, duration: float, init: float | None = None) -> str:
    metrics: dict[str, Any] = {"durationMs": duration, "billedDurationMs": int(duration) + 1,
                               "memorySizeMB": 512, "maxMemoryUsedMB": 70}  # fmt: skip
    if init is not None:
        metrics["initDurationMs"] = init
        metrics["billedDurationMs"] = int(duration + init) + 1
    return json_record("platform.report", {"requestId": rid, "metrics": metrics,
                                           "status": "success"})  # fmt: skip


INIT_START = "INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: arn:x"


def seed_mixed(target: Any) -> str:
    """One log group with text and JSON environments, a proactive one, one that began
    before the lines read, a timeout, malformed lines and function output."""
    group = create(target, "mixed", log_group="/custom/shared-logs")
    seed(target, group, "2026/01/01/[$LATEST]aaaa", [
        (1_000_000, INIT_START),
        (1_000_200, "START RequestId: t1 Version: $LATEST"),
        (1_000_210, text_report("t1", 8.0, init=190.5)),
        (1_001_000, "function says REPORT RequestId is a word"),
        (1_002_000, text_report("t2", 2.0)),
        (1_003_000, "REPORT RequestId: t3\tDuration: soon ms\tBilled Duration: 3 ms\t"),
        (1_004_000, "RequestId: t4 Error: Task timed out after 3.00 seconds"),
        (1_004_001, text_report("t4", 3000.0, status="timeout")),
        (1_005_000, text_report("t5", 2.5)),
    ])  # fmt: skip
    seed(target, group, "2026/01/01/[$LATEST]bbbb", [
        (1_100_000, json_record("platform.initStart", {"initializationType": "on-demand"})),
        (1_100_300, json_report("j1", 5.0, init=250.25)),
        (1_101_000, json_report("j2", 1.5)),
        (1_102_000, '{"type":"platform.report","record":{"requestId":"j3","metr'),
    ])  # fmt: skip
    seed(target, group, "2026/01/01/[$LATEST]cccc", [
        (1_200_000, INIT_START),
        (1_290_000, text_report("p1", 4.0)),  # 90 s after its INIT: proactive
    ])  # fmt: skip
    seed(target, group, "2026/01/01/[$LATEST]dddd", [
        (1_300_000, text_report("old1", 3.0)),  # began long before: its place is unknown
        (1_301_000, text_report("old2", 3.0)),
    ])  # fmt: skip
    return group


def run(target: Any, tmp_path: Path, reader: str, **kwargs: Any) -> Any:
    options = {"functions": ["mixed"], **WINDOW, **kwargs}
    return analyze(AnalyzeOptions(endpoint_url=target.endpoint_url, reader=reader,
                                  results_root=tmp_path / "results", **options))  # fmt: skip


def by_id(run_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    return {r["request_id"]: r for r in map(json.loads, lines)}


@pytest.mark.parametrize("reader", ["filter", "insights"])
def test_mixed_formats_malformed_lines_and_classification(
    target: Any, tmp_path: Path, reader: str
) -> None:
    seed_mixed(target)
    outcome = run(target, tmp_path, reader)
    assert outcome.status == "complete" and outcome.exit_code == 0
    entry = outcome.functions["mixed"]
    assert entry["log_group"] == "/custom/shared-logs"
    assert entry["lines"]["malformed"] == 2
    assert entry["lines"]["reports"] == 9
    assert entry["lines"]["init_starts"] == 3
    records = by_id(outcome.run_dir)
    assert set(records) == {"t1", "t2", "t4", "t5", "j1", "j2", "p1", "old1", "old2"}
    kinds = {rid: r["start_type"] for rid, r in records.items()}
    assert kinds == {"t1": "cold", "t2": "warm", "t4": "warm", "t5": "warm", "j1": "cold",
                     "j2": "warm", "p1": "proactive", "old1": "unknown", "old2": "unknown"}
    assert records["t4"]["status"] == "timeout"
    assert [records[r]["init_duration_ms"] for r in ("t1", "j1")] == [190.5, 250.25]
    assert records["t5"]["sandbox_invocation"] == 4
    assert records["old2"]["sandbox_invocation"] is None
    assert all(r["phase"] == "production" and r["cell"] == "mixed" for r in records.values())
    summary = entry["summary"]
    assert summary["invocations"] == 9
    assert summary["start_types"] == {**dict.fromkeys(START_TYPES, 0), "cold": 2, "warm": 4,
                                      "proactive": 1, "unknown": 2}
    assert summary["timeouts"] == 1 and summary["errors"] == 0
    assert summary["environments"] == 4
    events = [json.loads(line) for line in (outcome.run_dir / "events.jsonl").read_text()
              .splitlines()]  # fmt: skip
    malformed = [e["detail"] for e in events if e["kind"] == "malformed"]
    assert len(malformed) == 2
    assert any("no readable duration_ms" in d for d in malformed)
    assert any("not readable as a REPORT line" in d for d in malformed)
    audit = (outcome.run_dir / "report-lines.log").read_text().splitlines()
    assert sum(line.startswith("malformed\t") for line in audit) == 2
    loaded = load_run(outcome.run_dir)  # the one reader accepts the run
    assert len(loaded.invocations) == 9


def test_both_readers_give_identical_records(target: Any, tmp_path: Path) -> None:
    seed_mixed(target)
    filtered = run(target, tmp_path, "filter")
    insights = run(target, tmp_path, "insights")

    def comparable(run_dir: Path) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "run"} for r in by_id(run_dir).values()]

    assert comparable(filtered.run_dir) == comparable(insights.run_dir)


def _busy_group(target: Any, lines: int, spread_ms: int) -> None:
    group = create(target, "busy")
    events: list[tuple[int, str]] = [(0, INIT_START)]
    for i in range(lines):
        ms = 1 + i * spread_ms // lines
        events.append((ms, text_report(f"b{i:05d}", 1.0, init=100.0 if i == 0 else None)))
    seed(target, group, "2026/01/01/[$LATEST]busy", events)


def test_insights_splits_a_window_that_hits_the_row_limit(
    target: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.analyze.read

    _busy_group(target, 300, 600_000)
    monkeypatch.setattr(bench.analyze.read, "MAX_INSIGHTS_ROWS", 40)
    outcome = run(target, tmp_path, "insights", functions=["busy"])
    reads = outcome.functions["busy"]["reads"]
    assert reads["splits"] >= 1 and reads["queries"] > 300 // 40 and reads["fallbacks"] == 0
    records = by_id(outcome.run_dir)
    assert sorted(records) == [f"b{i:05d}" for i in range(300)]
    assert outcome.functions["busy"]["summary"]["start_types"]["cold"] == 1


def test_a_second_with_more_lines_than_a_query_returns_is_read_with_filter_log_events(
    target: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.analyze.read

    _busy_group(target, 60, 500)
    monkeypatch.setattr(bench.analyze.read, "MAX_INSIGHTS_ROWS", 40)
    outcome = run(target, tmp_path, "insights", functions=["busy"])
    assert outcome.functions["busy"]["reads"]["fallbacks"] == 1
    assert len(by_id(outcome.run_dir)) == 60


def test_selection_by_prefix_and_tag(target: Any, tmp_path: Path) -> None:
    create(target, "shop-cart", Tags={"team": "shop"})
    create(target, "shop-pay", Tags={"team": "money"})
    create(target, "blog")
    by_prefix = run(target, tmp_path, "filter", functions=[], prefix="shop-")
    assert sorted(by_prefix.functions) == ["shop-cart", "shop-pay"]
    by_tag = run(target, tmp_path, "filter", functions=[], tags=["team=money"])
    assert sorted(by_tag.functions) == ["shop-pay"]
    narrowed = run(target, tmp_path, "filter", functions=["blog", "shop-cart"], tags=["team=shop"])
    assert sorted(narrowed.functions) == ["shop-cart"]
    # No invocation yet: a complete run with no records, which the reader accepts.
    assert load_run(narrowed.run_dir).invocations.empty


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"functions": ["nope"]}, "--function nope: no such function"),
        ({"functions": []}, "select functions with --function"),
        ({"functions": [], "prefix": "zzz"}, "--prefix zzz: no function matches"),
        ({"tags": ["team"]}, "--tag 'team': expected KEY=VALUE"),
        ({"since": "1h"}, "--since and --start both"),
        ({"start": "yesterday"}, "--start 'yesterday': expected an ISO 8601 time"),
        ({"end": "2025-12-31T00:00:00Z"}, "the start must be before the end"),
    ],
)
def test_input_errors_name_the_flag(
    target: Any, tmp_path: Path, kwargs: dict[str, Any], words: str
) -> None:
    create(target, "mixed")
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        run(target, tmp_path, "filter", **kwargs)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


def test_since_counts_back_from_end() -> None:
    from bench.analyze.select import parse_window

    window = parse_window("90m", None, "2026-01-01T12:00:00Z")
    assert window.end_ms - window.start_ms == 90 * 60_000
    now = datetime(2026, 1, 2, tzinfo=UTC)
    default = parse_window(None, None, None, now=now)
    assert default.end_ms - default.start_ms == 24 * 3_600_000


def test_compare_and_history_flag_a_deploy_that_made_production_cold_starts_slower(
    target: Any, tmp_path: Path, bench_cli: Any
) -> None:
    group = create(target, "slowing")
    for i in range(20):  # first hour ~100 ms, second hour ~200 ms after a deploy
        for hour, init in ((0, 100.0), (1, 200.0)):
            at = hour * 3_600_000 + 60_000 + i * 60_000
            seed(target, group, f"2026/01/01/[$LATEST]{hour}{i:031d}", [
                (at, INIT_START), (at + int(init) + 5, text_report(f"s{hour}-{i}", 3.0,
                                                                   init=init + i))])  # fmt: skip
    runs = [
        run(target, tmp_path, "filter", functions=["slowing"], start=start, end=end).run_dir
        for start, end in (("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
                           ("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"))
    ]  # fmt: skip
    compared = bench_cli("compare", str(runs[0]), str(runs[1]), "--reports",
                         str(tmp_path / "reports"))  # fmt: skip
    assert compared.exit_code == 1, compared.output
    assert "REGRESSION" in compared.output and "slowing" in compared.output
    history = bench_cli("history", str(tmp_path / "results"), "--reports",
                        str(tmp_path / "reports"))  # fmt: skip
    assert history.exit_code == 0, history.output
    page = Path(history.output.strip().splitlines()[-1]).read_text()
    assert "mark-regression\">slowing<" in page


def test_cli_input_error_is_one_line_and_exit_2(target: Any, bench_cli: Any) -> None:
    result = bench_cli("analyze", "--function", "nope", "--endpoint-url", target.endpoint_url)
    assert result.exit_code == 2
    assert "bench: error: --function nope: no such function in this region" in result.output
    assert "Traceback" not in result.output
