"""Invoke as AWS does it: payload handling, Event request ids, retries and their settings.

AWS facts held here (tests/data/aws-shapes/facts.json, taken from responses recorded
against real AWS and from the Lambda documentation):
- an empty payload reaches the handler as `{}`; a payload that is not JSON is a 400
  InvalidRequestContentException and the handler never runs;
- an Event invocation runs under the request id its 202 response carries;
- a function error is retried MaximumRetryAttempts times (default 2), 1 minute then 2
  minutes later; throttles back off from 1 s, doubling, up to MaximumEventAgeInSeconds.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest
from botocore.exceptions import ClientError

FACTS = json.loads((Path(__file__).parents[1] / "data/aws-shapes/facts.json").read_text())


class Recording:
    """A `Sandboxes` that records every attempt: (monotonic time, request id, payload).

    A payload containing "fail" is a function error; `throttle` makes every attempt a 429.
    """

    def __init__(self, sink: Any, settings: Any) -> None:
        self.sink = sink
        self.attempts: list[tuple[float, str, bytes]] = []
        self.throttle = False

    async def invoke(self, spec: Any, payload: bytes, *, request_id: str,
                     reserved_concurrency: int | None, log_tail: bool) -> Any:
        from bench.emulator.contracts import InvokeResult, Throttled

        self.attempts.append((time.monotonic(), request_id, payload))
        if self.throttle:
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        self.sink.put_events(spec.log_group, "2026/11/30/[$LATEST]rec",
                             [(int(time.time() * 1000), f"START RequestId: {request_id} "
                               "Version: $LATEST\n")])
        failed = b"fail" in payload
        return InvokeResult(payload=payload, function_error="Unhandled" if failed else None,
                            request_id=request_id)

    def retire(
        self, function_name: str, keep_revision: str | None = None, *, version: str | None = None
    ) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def info(self) -> Any:
        from bench.emulator.contracts import ManagerInfo

        return ManagerInfo(cpu_limits=False, cgroup_version=None, host_cpus=2,
                           host_cpu_model="fake")


@pytest.fixture
def rec(make_api: Callable[..., Any]) -> Any:
    api = make_api(sandboxes_factory=Recording)
    api.create("ev")
    return api


def _wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = err.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"]["Message"])


# --- payloads -------------------------------------------------------------------------


def test_an_empty_payload_reaches_the_handler_as_an_empty_object(rec: Any) -> None:
    out = rec.lam.invoke(FunctionName="ev")
    assert out["StatusCode"] == 200
    assert out["Payload"].read() == b"{}"
    assert rec.fake.attempts[-1][2] == b"{}"


@pytest.mark.parametrize("kind", ["RequestResponse", "Event", "DryRun"])
def test_a_payload_that_is_not_json_is_refused_without_running_the_handler(
    rec: Any, kind: str
) -> None:
    recorded = FACTS["invoke_payload_not_json"]
    with pytest.raises(ClientError) as err:
        rec.lam.invoke(FunctionName="ev", InvocationType=kind, Payload=recorded["payload"])
    status, code, message = _error(err)
    assert (status, code) == (recorded["status"], recorded["code"])
    assert message.startswith(recorded["message_head"]), message
    assert "\n at [Source: " in message
    assert type(err.value).__name__ == "InvalidRequestContentException"  # in botocore's model
    assert rec.fake.attempts == []


def test_payload_errors_name_what_jackson_names(rec: Any) -> None:
    cases = {
        b"'test'": "Unexpected character (''' (code 39)): expected a valid value",
        b"{client_id: 1}": "Unexpected character ('c' (code 99)): was expecting double-quote "
                           "to start field name",
        b"\x87": "Invalid UTF-8 start byte 0x87",
    }
    for payload, detail in cases.items():
        with pytest.raises(ClientError) as err:
            rec.lam.invoke(FunctionName="ev", Payload=payload)
        prefix = "Could not parse request body into json: Could not parse payload into json: "
        assert _error(err)[2].startswith(prefix + detail), (payload, _error(err))
    assert rec.fake.attempts == []


# --- Event invocations ----------------------------------------------------------------


def test_an_event_runs_under_the_request_id_it_returned(rec: Any) -> None:
    out = rec.lam.invoke(FunctionName="ev", InvocationType="Event", Payload=b'{"n": 1}')
    assert out["StatusCode"] == 202
    returned = out["ResponseMetadata"]["RequestId"]
    _wait_for(lambda: len(rec.fake.attempts) == 1, "the event to run")
    assert rec.fake.attempts[0][1] == returned
    starts = rec.logs.filter_log_events(logGroupName="/aws/lambda/ev",
                                        filterPattern='"START RequestId"')["events"]
    assert [e["message"] for e in starts] == [f"START RequestId: {returned} Version: $LATEST\n"]


def test_a_synchronous_invoke_answers_under_its_invocations_id(rec: Any) -> None:
    out = rec.lam.invoke(FunctionName="ev", Payload=b"{}")
    assert out["ResponseMetadata"]["RequestId"] == rec.fake.attempts[-1][1]


def test_failed_events_are_retried_twice_one_then_two_minutes_apart(
    rec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.emulator import events

    monkeypatch.setattr(events, "TIME_SCALE", 0.01)  # 60 s -> 0.6 s, 120 s -> 1.2 s
    out = rec.lam.invoke(FunctionName="ev", InvocationType="Event", Payload=b'"fail"')
    returned = out["ResponseMetadata"]["RequestId"]
    _wait_for(lambda: rec.emulator.info()["async_invokes_dropped"] == 1, "retries to run out")
    attempts = rec.fake.attempts
    assert [rid for _, rid, _ in attempts] == [returned] * 3
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 60 * 0.01 * 0.95, gaps
    assert gaps[1] >= 120 * 0.01 * 0.95, gaps
    assert gaps[1] > gaps[0], gaps


@pytest.mark.parametrize("retries", [0, 1])
def test_maximum_retry_attempts_bounds_the_retries(
    rec: Any, monkeypatch: pytest.MonkeyPatch, retries: int
) -> None:
    from bench.emulator import events

    monkeypatch.setattr(events, "TIME_SCALE", 0.002)
    rec.lam.put_function_event_invoke_config(FunctionName="ev", MaximumRetryAttempts=retries)
    rec.lam.invoke(FunctionName="ev", InvocationType="Event", Payload=b'"fail"')
    _wait_for(lambda: rec.emulator.info()["async_invokes_dropped"] == 1, "retries to run out")
    assert len(rec.fake.attempts) == retries + 1


def test_throttled_events_back_off_exponentially_until_too_old(
    rec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.emulator import events

    monkeypatch.setattr(events, "TIME_SCALE", 0.02)  # 1 s -> 20 ms; 60 s of age -> 1.2 s
    rec.lam.put_function_event_invoke_config(FunctionName="ev", MaximumEventAgeInSeconds=60)
    rec.fake.throttle = True
    out = rec.lam.invoke(FunctionName="ev", InvocationType="Event", Payload=b"{}")
    assert out["StatusCode"] == 202  # a throttle is the queue's business, not the caller's
    _wait_for(lambda: rec.emulator.info()["async_invokes_dropped"] == 1, "the event to expire")
    times = [t for t, _, _ in rec.fake.attempts]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 1, 2, 4, 8, 16, 32 s apart (scaled), dropped once older than 60 s: 6 attempts.
    assert len(times) == 6, gaps
    for n, gap in enumerate(gaps):
        assert gap >= (2**n) * 0.02 * 0.9, gaps
    assert times[-1] - times[0] <= 60 * 0.02 + 0.5


# --- EventInvokeConfig API ------------------------------------------------------------


def _shape_members(name: str) -> set[str]:
    model = botocore.loaders.Loader().load_service_model("lambda", "service-2")
    return set(model["shapes"][name]["members"])


def test_event_invoke_config_lifecycle_has_the_models_shapes(rec: Any) -> None:
    arn = rec.lam.get_function(FunctionName="ev")["Configuration"]["FunctionArn"]
    put = rec.lam.put_function_event_invoke_config(
        FunctionName="ev", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600
    )
    members = _shape_members("FunctionEventInvokeConfig")
    assert set(put) - {"ResponseMetadata"} <= members
    assert put["FunctionArn"] == f"{arn}:$LATEST"
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 3600)
    assert put["LastModified"].year >= 2026  # a timestamp botocore could parse

    updated = rec.lam.update_function_event_invoke_config(FunctionName="ev",
                                                          MaximumRetryAttempts=0)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 3600)
    got = rec.lam.get_function_event_invoke_config(FunctionName="ev")
    assert got["MaximumRetryAttempts"] == 0
    listed = rec.lam.list_function_event_invoke_configs(FunctionName="ev")
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [f"{arn}:$LATEST"]

    replaced = rec.lam.put_function_event_invoke_config(FunctionName="ev",
                                                        MaximumEventAgeInSeconds=120)
    assert "MaximumRetryAttempts" not in replaced  # Put replaces; Update merges

    rec.lam.delete_function_event_invoke_config(FunctionName="ev")
    with pytest.raises(ClientError) as err:
        rec.lam.get_function_event_invoke_config(FunctionName="ev")
    status, code, message = _error(err)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"The function {arn}:$LATEST doesn't have an EventInvokeConfig"


def test_event_invoke_config_errors_match_aws(rec: Any) -> None:
    recorded = FACTS["get_event_invoke_config_missing_function"]
    with pytest.raises(ClientError) as err:
        rec.lam.get_function_event_invoke_config(FunctionName="nope")
    status, code, message = _error(err)
    assert (status, code) == (recorded["status"], recorded["code"])
    account = rec.emulator.account_id
    expected = recorded["message"].replace("<account>", account).replace(
        "<region>", rec.emulator.region).replace("<name>", "nope")
    assert message == expected
    assert err.value.response["Message"] == expected  # Lambda's capitalised body member

    for bad, fragment in (
        ({"MaximumRetryAttempts": 3}, "Value '3' at 'maximumRetryAttempts' failed to satisfy "
                                      "constraint: Member must have value less than or equal "
                                      "to 2"),
        ({"MaximumEventAgeInSeconds": 59}, "Value '59' at 'maximumEventAgeInSeconds' failed to "
                                           "satisfy constraint: Member must have value greater "
                                           "than or equal to 60"),
    ):
        with pytest.raises(ClientError) as err:
            rec.lam.put_function_event_invoke_config(FunctionName="ev", **bad)
        status, code, message = _error(err)
        assert (status, code) == (400, "ValidationException")
        assert message == "1 validation error detected: " + fragment

    with pytest.raises(ClientError) as err:
        rec.lam.update_function_event_invoke_config(FunctionName="ev", MaximumRetryAttempts=1)
    assert _error(err)[:2] == (404, "ResourceNotFoundException")


def test_deleting_the_function_forgets_its_settings(rec: Any) -> None:
    rec.lam.put_function_event_invoke_config(FunctionName="ev", MaximumRetryAttempts=0)
    rec.lam.delete_function(FunctionName="ev")
    rec.create("ev")
    with pytest.raises(ClientError) as err:
        rec.lam.get_function_event_invoke_config(FunctionName="ev")
    assert _error(err)[:2] == (404, "ResourceNotFoundException")
