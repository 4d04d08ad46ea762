"""Platform-line parsing (the shared corpus, edge cases, properties) and CloudWatch collection."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from bench.cloudwatch import ReportCollector
from bench.logs import PlatformRecord, decode_tail, parse_line
from bench.pacing import RateLimiter

CORPUS = Path(__file__).resolve().parent / "data" / "platform-lines.jsonl"
RID = "32f5cbf1-dd22-422a-a566-8965da5a3465"
FIELD_NAMES = {f.name for f in fields(PlatformRecord)}


def load_corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


CORPUS_CASES = load_corpus()


@pytest.mark.parametrize(
    "case", CORPUS_CASES, ids=[f"line{i}" for i in range(1, len(CORPUS_CASES) + 1)]
)
def test_corpus_line(case: dict[str, Any]) -> None:
    record = parse_line(case["message"])
    expect = case["expect"]
    if expect.get("kind") is None:
        assert record is None
        return
    assert record is not None, case["message"]
    for key, value in expect.items():
        assert key in FIELD_NAMES, f"corpus expects unknown field {key}"
        assert getattr(record, key) == value, (key, case["message"])


def test_the_corpus_covers_every_platform_line_kind() -> None:
    assert len(CORPUS_CASES) >= 10
    kinds = {case["expect"].get("kind") for case in CORPUS_CASES}
    assert kinds >= {"report", "start", "end", "init_start", "init_report", None}


def test_report_with_spaces_instead_of_tabs() -> None:
    line = (
        f"REPORT RequestId: {RID}  Duration: 12.5 ms Billed Duration: 13 ms   "
        "Memory Size: 512 MB Max Memory Used: 70 MB Init Duration: 301.2 ms "
    )
    record = parse_line(line)
    assert record == PlatformRecord(
        kind="report", request_id=RID, duration_ms=12.5, billed_duration_ms=13,
        memory_size_mb=512, max_memory_used_mb=70, init_duration_ms=301.2,
    )


def test_report_oom_error_fields() -> None:
    line = (
        f"REPORT RequestId: {RID}\tDuration: 900.00 ms\tBilled Duration: 900 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\t"
        "Error Type: Runtime.OutOfMemory"
    )
    record = parse_line(line)
    assert record is not None
    assert (record.status, record.error_type, record.max_memory_used_mb) == (
        "error", "Runtime.OutOfMemory", 128,
    )


def test_missing_and_malformed_fields_are_none() -> None:
    record = parse_line(f"REPORT RequestId: {RID}\tDuration: abc ms\tMemory Size: 128 GB\t")
    assert record is not None
    assert record.request_id == RID
    assert record.duration_ms is None
    assert record.memory_size_mb is None
    assert record.billed_duration_ms is None
    assert record.init_duration_ms is None


def test_init_report_timeout_with_spaces_only() -> None:
    record = parse_line("INIT_REPORT Init Duration: 10009.13 ms Phase: init Status: timeout")
    assert record == PlatformRecord(
        kind="init_report", init_duration_ms=10009.13, phase="init", status="timeout"
    )


@pytest.mark.parametrize(
    ("line", "rid", "ms"),
    [
        (f"2019-09-19T16:12:48.111Z {RID} Task timed out after 18.02 seconds", RID, 18020.0),
        (f"{RID} Task timed out after 3.00 seconds", RID, 3000.0),
        (f"RequestId: {RID} Error: Task timed out after 30.00 seconds", RID, 30000.0),
    ],
)
def test_timeout_lines(line: str, rid: str, ms: float) -> None:
    record = parse_line(line)
    assert record is not None
    assert (record.kind, record.request_id, record.duration_ms, record.status) == (
        "timeout", rid, ms, "timeout",
    )


@pytest.mark.parametrize(
    "line",
    [
        "",
        "hello world",
        "REPORT",
        "REPORT of the quarterly numbers: Duration: 3 ms",
        f"2026-03-02T10:11:14.000Z\t{RID}\tINFO\tREPORT RequestId: {RID}",
        '{"timestamp": "x", "level": "INFO", "message": "REPORT RequestId: 1"}',
        '{"type": "platform.report"',
        "[1, 2, 3]",
        "{" * 5000,
        "[" * 100_000,
        '{"type": "platform.report", "record": 5}',
    ],
)
def test_function_output_is_not_a_platform_line(line: str) -> None:
    record = parse_line(line)
    if line.startswith('{"type": "platform.report", "record"'):
        assert record == PlatformRecord(kind="report")  # a report with nothing known
    else:
        assert record is None


def test_json_records_tolerate_wrong_types_and_missing_keys() -> None:
    doc = {
        "time": "2026-03-02T10:11:12.345Z",
        "type": "platform.report",
        "record": {
            "requestId": RID,
            "metrics": {"durationMs": "12", "billedDurationMs": True, "memorySizeMB": 256.0,
                        "maxMemoryUsedMB": 1.5, "restoreDurationMs": 40},
            "status": "timeout",
            "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-abc"},
        },
    }
    record = parse_line(json.dumps(doc))
    assert record == PlatformRecord(
        kind="report", request_id=RID, memory_size_mb=256, restore_duration_ms=40.0,
        status="timeout", xray_trace_id="Root=1-abc",
    )


def test_json_init_start_and_init_report() -> None:
    start = parse_line(json.dumps({
        "time": "t", "type": "platform.initStart",
        "record": {"initializationType": "on-demand", "phase": "init",
                   "runtimeVersion": "nodejs:22.v40", "functionName": "f"},
    }))
    assert start == PlatformRecord(kind="init_start", runtime_version="nodejs:22.v40", phase="init")
    report = parse_line(json.dumps({
        "time": "t", "type": "platform.initReport",
        "record": {"initializationType": "on-demand", "phase": "init", "status": "error",
                   "errorType": "Runtime.ImportModuleError", "metrics": {"durationMs": 229.04}},
    }))
    assert report == PlatformRecord(
        kind="init_report", init_duration_ms=229.04, phase="init", status="error",
        error_type="Runtime.ImportModuleError",
    )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_line_never_raises(text: str) -> None:
    result = parse_line(text)
    assert result is None or isinstance(result, PlatformRecord)


PLATFORM_PIECES = st.sampled_from([
    "REPORT ", "RequestId: ", RID, "Duration: ", "Billed Duration: ", "Init Duration: ",
    "Memory Size: ", "Max Memory Used: ", "Status: ", "Error Type: ", "ms", "MB", "\t", " ",
    "\n", "XRAY TraceId: ", "12.5", "007", "1e9", "-3", "START ", "INIT_REPORT ", "Phase: ",
    "Task timed out after ", "seconds", '{"type":"platform.report","record":{"metrics":',
    '{"durationMs":', "}", "null", ":", "",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(PLATFORM_PIECES, max_size=30).map("".join))
def test_platform_like_noise_never_raises_and_numbers_are_sane(text: str) -> None:
    record = parse_line(text)
    if record is None:
        return
    for name in ("duration_ms", "init_duration_ms", "billed_duration_ms", "memory_size_mb"):
        value = getattr(record, name)
        assert value is None or value >= 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["requestId", "metrics", "durationMs", "initDurationMs", "status",
                         "tracing", "value", "phase", "x"]), inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.one_of(JSON_VALUES, st.sampled_from(
        ["platform.report", "platform.start", "platform.initStart", "platform.initReport",
         "platform.runtimeDone", "platform.restoreReport"])),
    record=JSON_VALUES,
)
def test_json_records_of_any_shape_never_raise(kind: Any, record: Any) -> None:
    line = json.dumps({"time": "t", "type": kind, "record": record})
    parsed = parse_line(line)
    assert parsed is None or isinstance(parsed, PlatformRecord)
    if parsed is not None:
        assert parsed.request_id is None or isinstance(parsed.request_id, str)
        assert parsed.duration_ms is None or isinstance(parsed.duration_ms, float)


def test_json_type_of_the_wrong_type_is_not_a_platform_line() -> None:
    assert parse_line('{"type": [], "record": {}}') is None
    assert parse_line('{"type": {"a": 1}}') is None


def test_keyword_followed_by_a_tab() -> None:
    record = parse_line(f"END\tRequestId: {RID}")
    assert record == PlatformRecord(kind="end", request_id=RID)


@settings(max_examples=200, deadline=None)
@given(
    duration=st.floats(0, 900_000, allow_nan=False).map(lambda x: round(x, 2)),
    billed=st.integers(1, 900_000),
    memory=st.integers(128, 10_240),
    used=st.integers(1, 10_240),
    init=st.one_of(st.none(), st.floats(0, 10_000, allow_nan=False).map(lambda x: round(x, 2))),
    sep=st.sampled_from(["\t", " ", " \t", "\t ", "  "]),
)
def test_report_round_trip(  # noqa: PLR0917 - hypothesis passes the strategies by name
    duration: float, billed: int, memory: int, used: int, init: float | None, sep: str
) -> None:
    parts = [f"REPORT RequestId: {RID}", f"Duration: {duration:.2f} ms",
             f"Billed Duration: {billed} ms", f"Memory Size: {memory} MB",
             f"Max Memory Used: {used} MB"]
    if init is not None:
        parts.append(f"Init Duration: {init:.2f} ms")
    record = parse_line(sep.join(parts) + sep)
    assert record == PlatformRecord(
        kind="report", request_id=RID, duration_ms=duration, billed_duration_ms=billed,
        memory_size_mb=memory, max_memory_used_mb=used, init_duration_ms=init,
    )


def tail_of(text: str) -> str:
    return base64.b64encode(text.encode()[-4096:]).decode()


def test_decode_tail_from_a_chatty_function() -> None:
    log = (
        f"START RequestId: {RID} Version: $LATEST\n"
        + "".join(f"line {i} of function output REPORT-ish\n" for i in range(400))
        + f"END RequestId: {RID}\n"
        f"REPORT RequestId: {RID}\tDuration: 5.10 ms\tBilled Duration: 6 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 99.90 ms\t\n"
        "XRAY TraceId: 1-abc-def\tSegmentId: 0f\tSampled: true\n"
    )
    records = decode_tail(tail_of(log))
    kinds = [r.kind for r in records]
    assert kinds == ["end", "report"]  # START scrolled out of the 4 KB
    report = records[-1]
    assert report.init_duration_ms == 99.9
    assert report.xray_trace_id == "1-abc-def"


def test_decode_tail_cut_mid_line_ignores_the_fragment() -> None:
    whole = f"REPORT RequestId: {RID}\tDuration: 5.10 ms\tBilled Duration: 6 ms\t\n"
    cut = whole[3:] + f"END RequestId: {RID}\n"
    assert [r.kind for r in decode_tail(base64.b64encode(cut.encode()).decode())] == ["end"]


@pytest.mark.parametrize(
    "value", [None, "", "!!!not base64!!!", base64.b64encode(b"\xff\xfe").decode()]
)
def test_decode_tail_bad_input_is_empty(value: str | None) -> None:
    assert decode_tail(value) == []


# -- collection ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def report(rid: str, init: float | None = None) -> str:
    extra = f"Init Duration: {init} ms\t" if init is not None else ""
    return (f"REPORT RequestId: {rid}\tDuration: 2.00 ms\tBilled Duration: 3 ms\t"
            f"Memory Size: 128 MB\tMax Memory Used: 50 MB\t{extra}")


class PagedLogs:
    """A FilterLogEvents stand-in: fixed-size pages, late events, scripted throttles."""

    def __init__(self, clock: FakeClock, page_size: int = 2) -> None:
        self.clock = clock
        self.page_size = page_size
        self.events: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.calls: list[float] = []
        self.throttle_next = 0

    def add(self, group: str, message: str, visible_at: float = 0.0) -> None:
        n = len(self.events.setdefault(group, []))
        self.events[group].append(
            (visible_at, {"message": message, "logStreamName": f"s{n % 2}", "eventId": str(n)})
        )

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(self.clock())
        assert kwargs["filterPattern"] == '"REPORT RequestId"'
        if self.throttle_next:
            self.throttle_next -= 1
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "FilterLogEvents")  # type: ignore[arg-type]
        visible = [e for t, e in self.events.get(kwargs["logGroupName"], []) if t <= self.clock()]
        start = int(kwargs.get("nextToken") or 0)
        page = visible[start : start + self.page_size]
        out: dict[str, Any] = {"events": page}
        if start + self.page_size < len(visible):
            out["nextToken"] = str(start + self.page_size)
        return out


def test_collect_paginates_polls_for_late_lines_and_paces_every_call() -> None:
    clock = FakeClock()
    logs = PagedLogs(clock)
    ids_a = {f"a-{i}" for i in range(5)}
    for rid in sorted(ids_a):
        logs.add("/aws/lambda/a", report(rid, init=100.0))
        logs.add("/aws/lambda/a", "some function output")
    logs.add("/aws/lambda/b", report("b-0"))
    logs.add("/aws/lambda/b", report("b-late"), visible_at=8.0)  # arrives on the third poll
    logs.add("/aws/lambda/b", report("stranger"))  # not ours: ignored
    limiter = RateLimiter(5.0, burst=1, clock=clock, sleeper=clock.sleep)
    progress: list[tuple[int, int]] = []
    collector = ReportCollector(logs, limiter=limiter, clock=clock, sleeper=clock.sleep)
    result = collector.collect(
        {"/aws/lambda/a": ids_a, "/aws/lambda/b": {"b-0", "b-late"}},
        start_ms=0, end_ms=None, timeout_s=60.0, poll_interval_s=5.0,
        on_progress=lambda m, t: progress.append((m, t)),
    )
    assert result.missing == set()
    assert set(result.found) == ids_a | {"b-0", "b-late"}
    record, raw, stream = result.found["a-3"]
    assert record.init_duration_ms == 100.0 and raw == report("a-3", init=100.0)
    assert stream in {"s0", "s1"}
    assert result.polls == 3
    assert progress[-1] == (7, 7)
    # Every call went through the limiter: never more than 5 a second after the first.
    gaps = [b - a for a, b in zip(logs.calls, logs.calls[1:], strict=False)]
    assert min(gaps) >= 0.2 - 1e-9
    assert result.pages == len(logs.calls)


def test_collect_times_out_and_reports_missing() -> None:
    clock = FakeClock()
    logs = PagedLogs(clock)
    logs.add("/g", report("r1"))
    collector = ReportCollector(
        logs, limiter=RateLimiter(5.0, clock=clock, sleeper=clock.sleep), clock=clock,
        sleeper=clock.sleep,
    )
    result = collector.collect({"/g": {"r1", "r2"}}, 0, None, timeout_s=20.0, poll_interval_s=5.0)
    assert set(result.found) == {"r1"}
    assert result.missing == {"r2"}
    assert 19.9 <= clock.now <= 22.0
    assert result.polls == 5


def test_collect_retries_throttling_and_counts_it() -> None:
    clock = FakeClock()
    logs = PagedLogs(clock)
    logs.add("/g", report("r1"))
    logs.throttle_next = 3
    collector = ReportCollector(
        logs, limiter=RateLimiter(5.0, clock=clock, sleeper=clock.sleep), clock=clock,
        sleeper=clock.sleep,
    )
    result = collector.collect({"/g": {"r1"}}, 0, None, timeout_s=0.0)
    assert set(result.found) == {"r1"}
    assert result.throttles == 3
    assert len(logs.calls) == 4


@mock_aws
def test_collect_against_moto_logs() -> None:
    client = boto3.client("logs", region_name="us-east-1")
    group = "/aws/lambda/bench-dev-fn"
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="2026/11/27/[$LATEST]abc")
    now_ms = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
    rids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(4)]
    events = []
    for i, rid in enumerate(rids):
        base = now_ms - 60_000 + i * 10
        events += [
            {"timestamp": base, "message": f"START RequestId: {rid} Version: $LATEST"},
            {"timestamp": base + 1, "message": f"END RequestId: {rid}"},
            {"timestamp": base + 2, "message": report(rid, init=150.5 if i == 0 else None)},
        ]
    client.put_log_events(logGroupName=group, logStreamName="2026/11/27/[$LATEST]abc",
                          logEvents=events)
    collector = ReportCollector(client, limiter=RateLimiter(1000.0))
    result = collector.collect({group: set(rids) | {"never-sent"}}, start_ms=now_ms - 120_000,
                               end_ms=None, timeout_s=0.0)
    assert set(result.found) == set(rids)
    assert result.missing == {"never-sent"}
    assert result.found[rids[0]][0].init_duration_ms == 150.5
    assert result.found[rids[1]][0].init_duration_ms is None
    assert result.found[rids[2]][2] == "2026/11/27/[$LATEST]abc"


def test_collect_against_the_emulator_in_quota_mode(tmp_path: Path) -> None:
    """Over real HTTP: late ingestion, AWS's 5 TPS FilterLogEvents quota, many groups."""
    try:
        from bench.emulator.app import Emulator
    except ImportError as exc:
        pytest.skip(f"the local emulator is not available: {exc}")
    from botocore.config import Config

    with Emulator(state_dir=tmp_path / "state", quota_mode=True, log_delay_s=1.0) as emulator:
        logs = boto3.Session(
            aws_access_key_id=emulator.access_key_id,
            aws_secret_access_key=emulator.secret_access_key,
            region_name=emulator.region,
        ).client("logs", endpoint_url=emulator.endpoint_url,
                 config=Config(retries={"total_max_attempts": 1}))
        now_ms = int(time.time() * 1000)
        expected: dict[str, set[str]] = {}
        for g in range(4):
            group = f"/aws/lambda/bench-local-test-{g:02d}"
            logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName="s")
            rids = [f"{g:08d}-0000-4000-8000-{i:012d}" for i in range(5)]
            expected[group] = set(rids)
            logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
                {"timestamp": now_ms + i, "message": report(rid, init=10.0 * (i + 1))}
                for i, rid in enumerate(rids)
            ])
        paced = ReportCollector(logs, limiter=RateLimiter(5.0, burst=1))
        result = paced.collect(expected, now_ms - 1000, None, timeout_s=30.0,
                               poll_interval_s=0.3)
        assert result.missing == set()
        assert len(result.found) == 20
        assert result.polls >= 2  # the 1 s ingestion delay hid every line at first
        assert result.throttles == 0
        assert emulator.info()["throttles"].get("FilterLogEvents", 0) == 0
        # An unpaced collector polling for ids that never come is throttled by the quota,
        # retries, and still returns every line there is.
        eager = ReportCollector(logs, limiter=RateLimiter(1000.0, burst=100))
        phantoms = {group: ids | {f"phantom-{group}"} for group, ids in expected.items()}
        started = time.monotonic()
        again = eager.collect(phantoms, now_ms - 1000, None, timeout_s=2.0, poll_interval_s=0.0)
        elapsed = time.monotonic() - started
        assert set(again.found) == set(result.found)
        assert again.missing == {f"phantom-{group}" for group in expected}
        assert emulator.info()["throttles"].get("FilterLogEvents", 0) == again.throttles
        calls = again.pages + again.throttles
        print(f"unpaced: {calls} calls in {elapsed:.1f}s, {again.throttles} throttled")
        assert again.throttles > 0  # 2 s of back-to-back calls outrun a 5/s quota
