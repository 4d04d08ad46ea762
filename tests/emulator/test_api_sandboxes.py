"""The API layer with the real SandboxManager: processes behind boto3, over real HTTP."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.emulator.contracts import SandboxSettings

HANDLER = '''
import os, time, uuid
SANDBOX_ID = uuid.uuid4().hex

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    out = {"sandbox_id": SANDBOX_ID, "request_id": context.aws_request_id}
    if event.get("env"):
        out["env"] = dict(os.environ)
    return out
'''
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: (?P<mem>\d+) MB\tMax Memory Used: \d+ MB\t(?:Init Duration: \d+\.\d\d ms\t)?$"
)


@pytest.fixture
def live(make_api: Any, api_zip: Any, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    try:
        from bench.emulator.sandbox import SandboxManager
    except ImportError as exc:  # pragma: no cover - only before the sandbox layer exists
        pytest.skip(f"bench.emulator.sandbox is not available: {exc}")
    # A canary in the host environment, set before any sandbox exists: it must not leak in.
    monkeypatch.setenv("COLDBENCH_HOST_CANARY", "leaked")
    kit = make_api(
        sandboxes_factory=SandboxManager,
        sandbox_settings=SandboxSettings(cpu_limits="off", allow_unisolated=True),  # our handler
        pending_delay_s=0.01,
        update_delay_s=0.01,
    )
    kit.package = api_zip({"handler.py": HANDLER})
    yield kit


def _invoke(kit: Any, name: str, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = kit.lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(),
                              LogType="Tail", **kwargs)
    body = json.loads(response["Payload"].read())
    tail = base64.b64decode(response["LogResult"]).decode()
    report = tail.rstrip("\n").splitlines()[-1]
    return {"body": body, "tail": tail, "report": report,
            "error": response.get("FunctionError")}


def _burst(kit: Any, name: str, n: int, event: dict[str, Any]) -> list[dict[str, Any]]:
    barrier = threading.Barrier(n)

    def one(_: int) -> dict[str, Any]:
        barrier.wait()
        return _invoke(kit, name, event)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_scale_out_reuse_and_cold_again_after_an_environment_change(live: Any) -> None:
    live.create("scale", Code={"ZipFile": live.package}, MemorySize=1769,
                Environment={"Variables": {"ROUND": "1"}})
    cold = _burst(live, "scale", 8, {"sleep": 0.5})
    ids = {r["body"]["sandbox_id"] for r in cold}
    assert len(ids) == 8, "8 concurrent invokes must run in 8 sandboxes"
    for result in cold:
        assert result["error"] is None, result["body"]
        match = REPORT.match(result["report"])
        assert match, result["report"]
        assert match["id"] == result["body"]["request_id"] and match["mem"] == "1769"
        assert "Init Duration" in result["report"]

    warm = [_invoke(live, "scale", {}) for _ in range(8)]
    assert {r["body"]["sandbox_id"] for r in warm} <= ids
    assert all("Init Duration" not in r["report"] for r in warm)

    live.lam.update_function_configuration(FunctionName="scale",
                                           Environment={"Variables": {"ROUND": "2"}})
    live.wait_state("scale", "LastUpdateStatus", "Successful")
    again = _burst(live, "scale", 4, {"sleep": 0.2})
    assert all("Init Duration" in r["report"] for r in again)
    assert not {r["body"]["sandbox_id"] for r in again} & ids
    info = live.emulator.info()
    assert info["sandboxes_started"] == 12
    assert info["quota_mode"] is False and "oversubscription" in info


def test_reserved_concurrency_one_gives_exactly_one_429(live: Any) -> None:
    live.create("reserved", Code={"ZipFile": live.package}, MemorySize=1769)
    live.lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=1)
    barrier = threading.Barrier(2)

    def one(_: int) -> str:
        barrier.wait()
        try:
            _invoke(live, "reserved", {"sleep": 1.0})
            return "ok"
        except ClientError as err:
            assert err.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            return str(err.response["ResponseMetadata"]["HTTPStatusCode"])

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(one, range(2)))
    assert outcomes == ["429", "ok"]


def test_sandbox_environment_is_lambdas_not_the_hosts(live: Any) -> None:
    live.create("env", Code={"ZipFile": live.package}, MemorySize=256,
                Environment={"Variables": {"OWN_VAR": "mine"}})
    env = _invoke(live, "env", {"env": True})["body"]["env"]
    assert "COLDBENCH_HOST_CANARY" not in env
    assert env["OWN_VAR"] == "mine"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "env"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env"


def test_platform_lines_reach_cloudwatch_through_the_logs_api(live: Any) -> None:
    live.create("logged", Code={"ZipFile": live.package}, MemorySize=512)
    request_id = _invoke(live, "logged", {})["body"]["request_id"]
    events = live.logs.filter_log_events(
        logGroupName="/aws/lambda/logged", filterPattern=f'"REPORT RequestId: {request_id}"'
    )["events"]
    assert len(events) == 1
    assert REPORT.match(events[0]["message"].rstrip("\n"))
    assert re.match(r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$", events[0]["logStreamName"])
    streams = live.logs.describe_log_streams(logGroupName="/aws/lambda/logged")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [events[0]["logStreamName"]]


def test_event_invocation_runs_in_the_background(live: Any) -> None:
    import time

    live.create("async", Code={"ZipFile": live.package}, MemorySize=512)
    accepted = live.lam.invoke(FunctionName="async", InvocationType="Event", Payload=b"{}")
    assert accepted["StatusCode"] == 202
    deadline = time.monotonic() + 20
    while True:
        events = live.logs.filter_log_events(logGroupName="/aws/lambda/async",
                                             filterPattern='"REPORT RequestId"')["events"] \
            if live.logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/async")[
                "logGroups"] else []
        if events:
            break
        assert time.monotonic() < deadline, "the async invoke never reported"
        time.sleep(0.05)
    assert len(events) == 1


def test_a_runtime_the_emulator_cannot_start_is_a_clear_invoke_error(live: Any) -> None:
    live.create("ruby", Runtime="ruby3.3", Handler="handler.handler",
                Code={"ZipFile": live.package})
    with pytest.raises(ClientError) as err:
        live.lam.invoke(FunctionName="ruby", Payload=b"{}")
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert response["Error"]["Code"] == "InvalidRuntimeException"
    assert "ruby3.3" in response["Error"]["Message"]
