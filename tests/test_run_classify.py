"""Records from outcomes, REPORT merging, and the cold/warm/proactive/unknown rules."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.burst import InvokeOutcome
from bench.classify import (
    START_TYPES,
    apply_report,
    bench_event,
    classify,
    classify_all,
    completeness,
    make_record,
    merge_cloudwatch,
    reports_wanted,
)
from bench.logs import parse_line
from bench.matrix import Cell
from bench.results import INVOCATION_KEYS, check_invocation

CELL = Cell(
    runtime="python3.12", memory_mb=512, architecture="arm64", package_mb=5.0, package_kind="inert"
)
RID = "6f1f4c0e-8f4b-4d4e-9a51-0b1c2d3e4f50"
COLD_REPORT = (
    f"REPORT RequestId: {RID}\tDuration: 8.40 ms\tBilled Duration: 9 ms\tMemory Size: 512 MB\t"
    "Max Memory Used: 66 MB\tInit Duration: 170.13 ms\t"
)


def _outcome(**changes: Any) -> InvokeOutcome:
    base: dict[str, Any] = {
        "client_send_ns": 1_000,
        "client_latency_ms": 190.1234567,
        "status": "success",
        "request_id": RID,
        "response": {
            "sandbox_id": "abc",
            "init_start_ms": 1000.0,
            "init_end_ms": 1150.0,
            "invoke_start_ms": 1152.5,
            "invocation": 1,
        },
        "tail_lines": [
            f"START RequestId: {RID} Version: $LATEST",
            f"END RequestId: {RID}",
            COLD_REPORT,
        ],
        "launch_skew_ms": 1.5,
    }
    base.update(changes)
    return InvokeOutcome(**base)


def _record(**changes: Any) -> dict[str, Any]:
    return make_record(
        run_id="run", cell=CELL, phase="cold", round_=1, seq=2, outcome=_outcome(**changes)
    )


def test_a_record_has_every_key_and_the_tail_report() -> None:
    record = _record()
    assert tuple(record) == INVOCATION_KEYS
    check_invocation(record)  # the results writer's own validation
    assert record["cell"] == CELL.id and record["architecture"] == "arm64"
    assert record["init_duration_ms"] == 170.13 and record["billed_duration_ms"] == 9
    assert record["max_memory_used_mb"] == 66 and record["memory_size_mb"] == 512
    assert record["report_sources"] == ["tail"]
    assert record["sandbox_id"] == "abc" and record["sandbox_invocation"] == 1
    assert record["init_to_invoke_gap_ms"] == 2.5
    assert record["launch_skew_ms"] == 1.5 and record["round"] == 1 and record["seq"] == 2


def test_missing_values_stay_null() -> None:
    record = _record(response=None, tail_lines=[], status="throttled", request_id=None)
    for key in ("duration_ms", "init_duration_ms", "sandbox_id", "init_to_invoke_gap_ms"):
        assert record[key] is None
    assert record["report_sources"] == []
    assert classify(record, 1000) == "unknown"


def test_a_tail_report_of_another_request_is_not_taken() -> None:
    other = COLD_REPORT.replace(RID, "00000000-0000-0000-0000-000000000000")
    assert _record(tail_lines=[other])["init_duration_ms"] is None


def test_cloudwatch_is_preferred_and_disagreements_are_named() -> None:
    record = _record()
    cloudwatch = parse_line(COLD_REPORT.replace("Duration: 8.40", "Duration: 8.50"))
    assert cloudwatch is not None
    assert apply_report(record, cloudwatch, "cloudwatch") == ["duration_ms"]
    assert record["duration_ms"] == 8.5
    assert record["report_sources"] == ["tail", "cloudwatch"]
    same = _record()
    assert apply_report(same, parse_line(COLD_REPORT), "cloudwatch") == []  # type: ignore[arg-type]


def test_a_report_status_timeout_makes_the_record_a_timeout() -> None:
    record = _record(tail_lines=[])
    timed_out = parse_line(COLD_REPORT + "Status: timeout")
    assert timed_out is not None
    apply_report(record, timed_out, "cloudwatch")
    assert record["status"] == "timeout"


def test_classification_rules() -> None:
    cold = {"init_duration_ms": 170.0, "sandbox_invocation": 1, "init_to_invoke_gap_ms": 3.0}
    assert classify(cold, 1000) == "cold"
    assert classify({**cold, "init_to_invoke_gap_ms": 5000.0}, 1000) == "proactive"
    # Proactively initialised sandboxes report no Init Duration on AWS.
    assert (
        classify({**cold, "init_duration_ms": None, "init_to_invoke_gap_ms": 5000.0}, 1000)
        == "proactive"
    )
    assert classify({**cold, "init_duration_ms": None}, 1000) == "unknown"
    warm = {"init_duration_ms": None, "sandbox_invocation": 4, "init_to_invoke_gap_ms": 9e6}
    assert classify(warm, 1000) == "warm"
    # A second invocation with an Init Duration contradicts itself: unknown, not warm.
    assert classify({**warm, "init_duration_ms": 100.0}, 1000) == "unknown"
    assert classify({**cold, "init_to_invoke_gap_ms": None}, 1000) == "unknown"


@given(
    init=st.one_of(st.none(), st.floats(allow_nan=True)),
    nth=st.one_of(st.none(), st.integers(-5, 10), st.text(max_size=3)),
    gap=st.one_of(st.none(), st.floats(allow_nan=True)),
)
def test_classify_always_answers_one_of_the_four(init: Any, nth: Any, gap: Any) -> None:
    record = {"init_duration_ms": init, "sandbox_invocation": nth, "init_to_invoke_gap_ms": gap}
    assert classify(record, 1000.0) in START_TYPES


def test_counts_cover_every_record() -> None:
    records = [_record(), _record(), _record(response=None, tail_lines=[])]
    counts = classify_all(records, 1000)
    assert counts == {
        "cold": 2, "warm": 0, "proactive": 0, "provisioned": 0, "restored": 0, "unknown": 1,
    }  # fmt: skip
    assert [r["start_type"] for r in records] == ["cold", "cold", "unknown"]


def test_reports_wanted_and_merge_and_completeness() -> None:
    first = _record()
    second = _record(request_id="b" * 36, tail_lines=[])
    throttled = _record(request_id=None, status="throttled", response=None, tail_lines=[])
    records = [first, second, throttled]
    groups, by_id = reports_wanted(records, lambda r: "/aws/lambda/f")
    assert groups == {"/aws/lambda/f": {RID, "b" * 36}}
    report = parse_line(COLD_REPORT)
    assert report is not None
    merged = list(merge_cloudwatch(by_id, {RID: (report, COLD_REPORT, "stream")}))
    assert [(r is first, raw, diff) for r, raw, diff in merged] == [(True, COLD_REPORT, [])]
    counts = completeness(records, disagreements=0)
    assert counts["tail"] == {"expected": 2, "matched": 1}
    assert counts["cloudwatch"] == {"expected": 2, "matched": 1}
    # Only what is still missing is asked for again.
    groups, _ = reports_wanted(records, lambda r: "/aws/lambda/f")
    assert groups == {"/aws/lambda/f": {"b" * 36}}
    assert reports_wanted(records, lambda r: None) == ({}, {})


def test_the_bench_event_is_the_fixture_contract() -> None:
    assert json.loads(bench_event("r", "c", 2, 3)) == {
        "bench": {"run": "r", "cell": "c", "round": 2, "seq": 3}
    }


def test_provisioned_and_restored_starts_are_told_apart() -> None:
    """A provisioned environment's first invocation has no Init Duration, whatever its gap;
    a SnapStart restore has Restore Duration instead; neither is called warm or cold."""
    first = {"sandbox_invocation": 1, "init_duration_ms": None, "init_to_invoke_gap_ms": 20.0}
    assert classify({**first, "provisioned": 2, "restore_duration_ms": None}, 1000) == (
        "provisioned"
    )
    assert classify({**first, "provisioned": 0, "restore_duration_ms": 312.5}, 1000) == ("restored")
    # The same record in an on-demand cell is not a cold start the signals agree on.
    assert classify({**first, "provisioned": 0, "restore_duration_ms": None}, 1000) == "unknown"
    # Beyond N, on-demand cold starts of a provisioned cell stay cold.
    cold = {**first, "init_duration_ms": 80.0, "provisioned": 2, "restore_duration_ms": None}
    assert classify(cold, 1000) == "cold"
    # Records written before these keys existed read them as null: nothing changes.
    assert classify({**first, "init_duration_ms": 80.0}, 1000) == "cold"
    record = make_record(
        run_id="run", cell=CELL.model_copy(update={"provisioned": 2}), phase="cold",
        round_=1, seq=1, outcome=_outcome(),
    )  # fmt: skip
    assert (record["provisioned"], record["snapstart"]) == (2, "off")
    assert record["cell"].endswith("-pc2")


def _api_error(code: str, http_status: int, request_id: str) -> InvokeOutcome:
    from botocore.exceptions import ClientError

    from bench.burst import _outcome_from_error

    error = ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} (answered by the API)"},
            "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": http_status},
        },
        "Invoke",
    )
    return _outcome_from_error(error, send_ns=1_000, latency_ms=3.0)


def test_invocations_the_api_refused_are_not_waited_for() -> None:
    """A 4xx (or other error answer) of the Lambda API ran no sandbox: no REPORT line will
    ever come for it, so the collector must not wait for one, and completeness does not
    count it as expected; what ran (success, function error, timeout) is waited for."""
    refusals = {
        "ResourceNotFoundException": (404, "c" * 36),
        "TooManyRequestsException": (429, "d" * 36),
        "AccessDeniedException": (403, "e" * 36),
        "ServiceException": (500, "f" * 36),
    }
    refused = []
    for code, (http_status, request_id) in refusals.items():
        outcome = _api_error(code, http_status, request_id)
        assert outcome.refused and outcome.request_id == request_id
        refused.append(
            make_record(run_id="run", cell=CELL, phase="cold", round_=1, seq=1, outcome=outcome)
        )
    assert [r["error_phase"] for r in refused] == [None] * 4
    ran = [
        _record(request_id="1" * 36, tail_lines=[]),
        _record(
            request_id="2" * 36,
            tail_lines=[],
            status="error",
            error_type="Unhandled",
            response=None,
        ),
        _record(
            request_id="3" * 36,
            tail_lines=[],
            status="timeout",
            error_type="Sandbox.Timedout",
            response=None,
        ),
    ]
    assert [r["error_phase"] for r in ran] == [None, "invoke", "invoke"]
    records = ran + refused
    groups, by_id = reports_wanted(records, lambda r: "/aws/lambda/f")
    assert groups == {"/aws/lambda/f": {"1" * 36, "2" * 36, "3" * 36}}
    assert set(by_id) == {"1" * 36, "2" * 36, "3" * 36}
    counts = completeness(records, disagreements=0)
    assert counts["cloudwatch"] == {"expected": 3, "matched": 0}
    # A record written before `error_phase` existed is still waited for.
    old = {k: v for k, v in ran[1].items() if k != "error_phase"}
    assert reports_wanted([old], lambda r: "/aws/lambda/f")[0] == {"/aws/lambda/f": {"2" * 36}}
