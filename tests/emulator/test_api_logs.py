"""The CloudWatch Logs JSON API over real HTTP with boto3, fed through the LogSink."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.emulator.filterpattern import compile_pattern
from bench.emulator.logstore import LogStore

GROUP = "/aws/lambda/logs-test"


def _sink(api: Any) -> Any:
    return api.fake.sink


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_log_group_lifecycle(api: Any) -> None:
    api.logs.create_log_group(logGroupName=GROUP, tags={"bench": "yes"})
    with pytest.raises(ClientError) as dup:
        api.logs.create_log_group(logGroupName=GROUP)
    assert _code(dup) == "ResourceAlreadyExistsException"
    assert dup.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    api.logs.put_retention_policy(logGroupName=GROUP, retentionInDays=7)
    with pytest.raises(ClientError) as bad_days:
        api.logs.put_retention_policy(logGroupName=GROUP, retentionInDays=8)
    assert _code(bad_days) == "InvalidParameterException"
    (group,) = api.logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/logs")["logGroups"]
    assert group["retentionInDays"] == 7
    assert group["arn"].endswith(f":log-group:{GROUP}:*")
    assert {"creationTime", "storedBytes", "logGroupArn"} <= set(group)
    arn = group["logGroupArn"]
    assert api.logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"bench": "yes"}
    api.logs.tag_resource(resourceArn=arn, tags={"more": "1"})
    assert api.logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"bench": "yes", "more": "1"}
    api.logs.delete_log_group(logGroupName=GROUP)
    with pytest.raises(ClientError) as gone:
        api.logs.delete_log_group(logGroupName=GROUP)
    assert _code(gone) == "ResourceNotFoundException"
    assert gone.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_describe_log_groups_pages(api: Any) -> None:
    names = [f"/g/{i:02d}" for i in range(5)]
    for name in names:
        api.logs.create_log_group(logGroupName=name)
    api.logs.create_log_group(logGroupName="/other")
    pages = list(api.logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/g/", PaginationConfig={"PageSize": 2}))
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == names
    assert len(pages) == 3


def test_sink_creates_groups_and_streams_and_orders_streams(api: Any) -> None:
    sink = _sink(api)
    sink.put_events(GROUP, "2026/11/27/[$LATEST]bbb", [(1000, "b1"), (3000, "b2")])
    sink.put_events(GROUP, "2026/11/27/[$LATEST]aaa", [(2000, "a1")])
    by_name = api.logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in by_name] == [
        "2026/11/27/[$LATEST]aaa", "2026/11/27/[$LATEST]bbb"]
    latest = api.logs.describe_log_streams(
        logGroupName=GROUP, orderBy="LastEventTime", descending=True, limit=1)
    assert latest["logStreams"][0]["logStreamName"] == "2026/11/27/[$LATEST]bbb"
    assert latest["logStreams"][0]["lastEventTimestamp"] == 3000
    assert latest["logStreams"][0]["firstEventTimestamp"] == 1000
    assert "nextToken" in latest
    rest = api.logs.describe_log_streams(
        logGroupName=GROUP, orderBy="LastEventTime", descending=True, nextToken=latest["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["2026/11/27/[$LATEST]aaa"]
    with pytest.raises(ClientError) as err:
        api.logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime",
                                      logStreamNamePrefix="2026")
    assert _code(err) == "InvalidParameterException"


def test_get_log_events_tokens_walk_both_ways(api: Any) -> None:
    stream = "s"
    _sink(api).put_events(GROUP, stream, [(t, f"m{t}") for t in range(1, 8)])
    head = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True,
                                   limit=3)
    assert [e["message"] for e in head["events"]] == ["m1", "m2", "m3"]
    nxt = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=3,
                                  nextToken=head["nextForwardToken"])
    assert [e["message"] for e in nxt["events"]] == ["m4", "m5", "m6"]
    last = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=3,
                                   nextToken=nxt["nextForwardToken"])
    assert [e["message"] for e in last["events"]] == ["m7"]
    end = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=3,
                                  nextToken=last["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == last["nextForwardToken"]
    tail = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=2)
    assert [e["message"] for e in tail["events"]] == ["m6", "m7"]
    back = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=2,
                                   nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["m4", "m5"]
    # GetLogEvents: startTime inclusive, endTime exclusive.
    window = api.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startTime=2,
                                     endTime=4, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["m2", "m3"]
    assert set(window["events"][0]) == {"timestamp", "message", "ingestionTime"}


def test_filter_log_events_patterns_windows_and_streams(api: Any) -> None:
    sink = _sink(api)
    sink.put_events(GROUP, "a", [
        (10, "START RequestId: r1 Version: $LATEST"),
        (20, "REPORT RequestId: r1\tDuration: 1.00 ms\tInit Duration: 5.00 ms"),
        (40, "[ERROR] Something bad"),
    ])
    sink.put_events(GROUP, "b", [(15, "REPORT RequestId: r2\tDuration: 2.00 ms"), (30, "hello")])

    def messages(**kwargs: Any) -> list[str]:
        return [e["message"] for e in
                api.logs.filter_log_events(logGroupName=GROUP, **kwargs)["events"]]

    assert messages() == [
        "START RequestId: r1 Version: $LATEST",
        "REPORT RequestId: r2\tDuration: 2.00 ms",
        "REPORT RequestId: r1\tDuration: 1.00 ms\tInit Duration: 5.00 ms",
        "hello",
        "[ERROR] Something bad",
    ]
    assert len(messages(filterPattern='"REPORT RequestId"')) == 2
    assert messages(filterPattern='REPORT "Init Duration"') == [
        "REPORT RequestId: r1\tDuration: 1.00 ms\tInit Duration: 5.00 ms"]
    assert messages(filterPattern="report") == []  # case-sensitive, as CloudWatch
    # FilterLogEvents: both bounds inclusive.
    assert len(messages(startTime=15, endTime=30)) == 3
    assert messages(logStreamNames=["b"], filterPattern="REPORT") == [
        "REPORT RequestId: r2\tDuration: 2.00 ms"]
    full = api.logs.filter_log_events(logGroupName=GROUP, limit=1)
    event = full["events"][0]
    assert set(event) == {"eventId", "ingestionTime", "logStreamName", "message", "timestamp"}
    assert {s["logStreamName"] for s in full["searchedLogStreams"]} == {"a", "b"}


def test_filter_log_events_paging_returns_each_event_once(api: Any) -> None:
    sink = _sink(api)
    for stream in ("x", "y", "z"):
        sink.put_events(GROUP, stream, [(t, f"{stream}-{t}") for t in range(0, 50, 3)])
    expected = sorted(
        ((t, f"{s}-{t}") for s in ("x", "y", "z") for t in range(0, 50, 3)),
        key=lambda pair: pair[0],
    )
    seen: list[str] = []
    pages = 0
    for page in api.logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, PaginationConfig={"PageSize": 7}
    ):
        pages += 1
        seen += [e["message"] for e in page["events"]]
    assert sorted(seen) == sorted(m for _, m in expected)
    assert len(seen) == len(set(seen)) == len(expected)
    assert pages == -(-len(expected) // 7)


def test_unsupported_pattern_and_missing_group_are_clear_errors(api: Any) -> None:
    _sink(api).put_events(GROUP, "s", [(1, "x")])
    with pytest.raises(ClientError) as delimited:
        api.logs.filter_log_events(logGroupName=GROUP, filterPattern="[ip, user, ...]")
    assert _code(delimited) == "InvalidParameterException"
    with pytest.raises(ClientError) as broken_json:
        api.logs.filter_log_events(logGroupName=GROUP, filterPattern="{ $.type ~ 1 }")
    assert _code(broken_json) == "InvalidParameterException"
    with pytest.raises(ClientError) as missing:
        api.logs.filter_log_events(logGroupName="/nope")
    assert _code(missing) == "ResourceNotFoundException"


def test_log_delay_makes_events_visible_only_after_their_ingestion_time(make_api: Any) -> None:
    delayed = make_api(log_delay_s=0.5)
    delayed.fake.sink.put_events(GROUP, "s", [(int(time.time() * 1000), "late line")])
    put_at = time.monotonic()
    first = delayed.logs.filter_log_events(logGroupName=GROUP)["events"]
    assert first == [] or time.monotonic() - put_at >= 0.5
    deadline = time.monotonic() + 5
    while True:
        events = delayed.logs.filter_log_events(logGroupName=GROUP)["events"]
        if events:
            break
        assert time.monotonic() < deadline, "event never became visible"
        time.sleep(0.05)
    assert time.monotonic() - put_at >= 0.45
    assert events[0]["ingestionTime"] >= events[0]["timestamp"] + 450


def test_compile_pattern_terms_phrases_optional_and_excluded() -> None:
    assert compile_pattern("")("anything")
    assert compile_pattern("a b")("b then a")
    assert not compile_pattern("a b")("only a")
    assert compile_pattern('"a b"')("x a b y")
    assert not compile_pattern('"a b"')("a x b")
    assert compile_pattern("?ERROR ?WARN")("a WARN line")
    assert not compile_pattern("?ERROR ?WARN")("an INFO line")
    assert not compile_pattern("REPORT -Init")("REPORT with Init Duration")


def test_compile_pattern_json_subset() -> None:
    report = json.dumps({"time": "t", "type": "platform.report",
                         "record": {"requestId": "r1", "status": "success",
                                    "metrics": {"durationMs": 12.5, "initDurationMs": 90.1}}})
    start = json.dumps({"time": "t", "type": "platform.start", "record": {"requestId": "r1"}})
    by_type = compile_pattern('{ $.type = "platform.report" }')
    assert by_type(report) and not by_type(start) and not by_type("REPORT RequestId: r1")
    assert compile_pattern('{ $.type = "platform.*" }')(start)
    assert compile_pattern("{ $.record.metrics.durationMs > 10 }")(report)
    assert not compile_pattern("{ $.record.metrics.durationMs > 20 }")(report)
    both = compile_pattern('{ $.type = "platform.report" && $.record.requestId = "r2" }')
    assert not both(report)
    either = compile_pattern('{ $.record.requestId = "r2" || $.record.status = "success" }')
    assert either(report)
    assert not compile_pattern("{ $.record.metrics.missing > 1 }")(report)
    assert compile_pattern('{ $.type != "platform.start" }')(report)


def test_json_pattern_over_http(api: Any) -> None:
    record = {"time": "t", "type": "platform.report", "record": {"requestId": "j1"}}
    _sink(api).put_events(GROUP, "j", [(1, json.dumps(record)), (2, '{"type": "app"}'),
                                       (3, "plain text")])
    found = api.logs.filter_log_events(logGroupName=GROUP,
                                       filterPattern='{ $.type = "platform.report" }')["events"]
    assert [json.loads(e["message"])["record"]["requestId"] for e in found] == ["j1"]


def test_store_is_safe_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = LogStore()
    with ThreadPoolExecutor(8) as pool:
        for n in range(8):
            pool.submit(store.put_events, "/g", f"s{n % 2}", [(i, f"{n}-{i}") for i in range(200)])
    events, _, resume = store.filter_events("/g", stream_names=None, stream_prefix=None,
                                            start=None, end=None, pattern=None, after=None,
                                            limit=10_000)
    assert len(events) == 1600 and resume is None
    assert len({e["eventId"] for e in events}) == 1600


def test_create_log_stream_and_put_log_events(api: Any) -> None:
    api.logs.create_log_group(logGroupName=GROUP)
    api.logs.create_log_stream(logGroupName=GROUP, logStreamName="seeded")
    with pytest.raises(ClientError) as dup:
        api.logs.create_log_stream(logGroupName=GROUP, logStreamName="seeded")
    assert _code(dup) == "ResourceAlreadyExistsException"
    api.logs.put_log_events(logGroupName=GROUP, logStreamName="seeded",
                            logEvents=[{"timestamp": 5, "message": "one"},
                                       {"timestamp": 6, "message": "two"}])
    got = api.logs.get_log_events(logGroupName=GROUP, logStreamName="seeded", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["one", "two"]
    with pytest.raises(ClientError) as missing:
        api.logs.put_log_events(logGroupName=GROUP, logStreamName="nope",
                                logEvents=[{"timestamp": 1, "message": "x"}])
    assert _code(missing) == "ResourceNotFoundException"


@settings(max_examples=80, deadline=None)
@given(
    streams=st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["REPORT x", "START y", "z"])),
                 max_size=30),
        max_size=3,
    ),
    page=st.integers(1, 12),
    start=st.none() | st.integers(0, 50),
    end=st.none() | st.integers(0, 50),
    pattern=st.sampled_from(["", "REPORT", '"START y"', "?x ?z"]),
)
def test_filter_paging_returns_exactly_the_matching_window(
    streams: dict[str, list[tuple[int, str]]], page: int, start: int | None, end: int | None,
    pattern: str,
) -> None:
    store = LogStore()
    for name, events in streams.items():
        store.put_events("/g", name, events)
    if not streams:
        store.create_group("/g")
    matches = compile_pattern(pattern)
    expected = sorted(
        (ts, msg) for events in streams.values() for ts, msg in events
        if (start is None or ts >= start) and (end is None or ts <= end) and matches(msg)
    )
    got: list[dict[str, Any]] = []
    after = None
    for _ in range(1000):
        events, _, after = store.filter_events("/g", stream_names=None, stream_prefix=None,
                                               start=start, end=end, pattern=pattern,
                                               after=after, limit=page)
        assert len(events) <= page
        got += events
        if after is None:
            break
    assert sorted((e["timestamp"], e["message"]) for e in got) == expected
    assert [e["timestamp"] for e in got] == sorted(e["timestamp"] for e in got)
    assert len({e["eventId"] for e in got}) == len(got)
