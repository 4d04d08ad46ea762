"""Logs Insights on the local target over real HTTP with boto3: the supported subset
answered exactly, the rest refused with AWS's error shape."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

GROUP = "/aws/lambda/insights-test"
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
QUERY = (
    'fields @timestamp, @message, @logStream, @log | filter @message like "REPORT RequestId" '
    'or @message like "platform.report" | sort @timestamp asc | limit {limit}'
)


def _seed(api: Any) -> None:
    api.logs.create_log_group(logGroupName=GROUP)
    for stream in ("a", "b"):
        api.logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    api.logs.put_log_events(logGroupName=GROUP, logStreamName="a", logEvents=[
        {"timestamp": BASE_MS + 10, "message": "START RequestId: r1 Version: $LATEST"},
        {"timestamp": BASE_MS + 20, "message": "REPORT RequestId: r1\tDuration: 1.00 ms\t"},
        {"timestamp": BASE_MS + 2_500, "message": "REPORT RequestId: r3\tDuration: 2.00 ms\t"},
    ])  # fmt: skip
    api.logs.put_log_events(logGroupName=GROUP, logStreamName="b", logEvents=[
        {"timestamp": BASE_MS + 1_000, "message": '{"type":"platform.report","record":{}}'},
        {"timestamp": BASE_MS + 5_999, "message": "function output"},
    ])  # fmt: skip


def _results(api: Any, query_id: str, deadline_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while True:
        page = api.logs.get_query_results(queryId=query_id)
        if page["status"] not in ("Scheduled", "Running"):
            return page
        assert time.monotonic() < deadline, "query still running"
        time.sleep(0.02)


def _values(row: list[dict[str, str]]) -> dict[str, str]:
    return {f["field"]: f["value"] for f in row}


def _run(api: Any, query: str, start_s: int, end_s: int, **kwargs: Any) -> dict[str, Any]:
    started = api.logs.start_query(
        logGroupName=GROUP, startTime=start_s, endTime=end_s, queryString=query, **kwargs
    )
    return _results(api, started["queryId"])


def test_query_answers_the_subset_in_time_order(api: Any) -> None:
    _seed(api)
    start = BASE_MS // 1000
    page = _run(api, QUERY.format(limit=100), start, start + 5)
    assert page["status"] == "Complete"
    rows = [_values(r) for r in page["results"]]
    assert [r["@message"].split("\t")[0] for r in rows] == [
        "REPORT RequestId: r1", '{"type":"platform.report","record":{}}', "REPORT RequestId: r3"
    ]
    assert rows[0]["@timestamp"] == "2026-01-01 00:00:00.020"
    assert [r["@logStream"] for r in rows] == ["a", "b", "a"]
    assert rows[0]["@log"] == f"{api.emulator.account_id}:{GROUP}"
    assert all(r["@ptr"] for r in rows)
    assert page["statistics"]["recordsMatched"] == 3.0
    assert page["statistics"]["recordsScanned"] == 5.0


def test_end_second_is_included_and_limit_truncates_with_the_true_match_count(api: Any) -> None:
    _seed(api)
    start = BASE_MS // 1000
    # The end second 5 includes its last millisecond (5.999), the start second 2 its first.
    everything = _run(api, "fields @message", start + 2, start + 5)
    assert [_values(r)["@message"] for r in everything["results"]] == [
        "function output", "REPORT RequestId: r3\tDuration: 2.00 ms\t"
    ]  # newest first, Logs Insights' default order
    truncated = _run(api, QUERY.format(limit=1), start, start + 5)
    assert len(truncated["results"]) == 1
    assert truncated["statistics"]["recordsMatched"] == 3.0


def test_regex_filter(api: Any) -> None:
    _seed(api)
    start = BASE_MS // 1000
    page = _run(api, r"filter @message like /^REPORT RequestId: r\d/ | sort @timestamp asc",
                start, start + 5)  # fmt: skip
    assert [_values(r)["@message"][:20] for r in page["results"]] == [
        "REPORT RequestId: r1", "REPORT RequestId: r3"
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("stats count(*) by bin(5m)", "unsupported command 'stats'"),
        ("filter @duration > 10", "unsupported filter"),
        ("fields @message | fields @timestamp", "given twice"),
        ("fields @requestId", "unsupported fields"),
        ("sort @message asc", "unsupported sort"),
        ("limit 10001", "limit must be a number from 1 to 10000"),
        ("filter @message like /(/", "invalid regular expression"),
    ],
)
def test_unsupported_queries_are_refused_with_aws_error_shape(
    api: Any, query: str, words: str
) -> None:
    _seed(api)
    with pytest.raises(ClientError) as err:
        api.logs.start_query(logGroupName=GROUP, startTime=0, endTime=10, queryString=query)
    assert err.value.response["Error"]["Code"] == "MalformedQueryException"
    assert words in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_parameter_errors(api: Any) -> None:
    _seed(api)
    cases = [
        ({"logGroupName": GROUP, "startTime": 10, "endTime": 5}, "InvalidParameterException"),
        ({"startTime": 0, "endTime": 5}, "InvalidParameterException"),
        ({"logGroupName": "/aws/lambda/none", "startTime": 0, "endTime": 5},
         "ResourceNotFoundException"),
    ]  # fmt: skip
    for kwargs, code in cases:
        with pytest.raises(ClientError) as err:
            api.logs.start_query(queryString="fields @message", **kwargs)
        assert err.value.response["Error"]["Code"] == code, kwargs
    with pytest.raises(ClientError) as missing:
        api.logs.get_query_results(queryId="no-such-query")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stop_query_of_a_finished_query_says_it_did_not_stop(api: Any) -> None:
    _seed(api)
    started = api.logs.start_query(
        logGroupName=GROUP, startTime=0, endTime=BASE_MS // 1000 + 10, queryString="fields @message"
    )
    assert _results(api, started["queryId"])["status"] == "Complete"
    assert api.logs.stop_query(queryId=started["queryId"])["success"] is False


def test_results_page_with_max_items(api: Any) -> None:
    _seed(api)
    started = api.logs.start_query(
        logGroupName=GROUP, startTime=0, endTime=BASE_MS // 1000 + 10,
        queryString="fields @message | sort @timestamp asc",
    )  # fmt: skip
    _results(api, started["queryId"])
    first = api.logs.get_query_results(queryId=started["queryId"], maxItems=2)
    rest = api.logs.get_query_results(queryId=started["queryId"], nextToken=first["nextToken"])
    assert len(first["results"]) == 2 and len(rest["results"]) == 3
    assert "nextToken" not in rest
