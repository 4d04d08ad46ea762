"""The Lambda REST API over real HTTP with boto3, sandboxes faked (FakeSandboxes)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

LAST_MODIFIED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = excinfo.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def test_create_is_pending_then_active_and_waiter_works(api: Any, api_zip: Any) -> None:
    package = api_zip()
    created = api.create("life", wait=False, Code={"ZipFile": package}, MemorySize=256)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["State"] == "Pending"
    assert created["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in created
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert created["CodeSize"] == len(package)
    assert LAST_MODIFIED.match(created["LastModified"])
    api.lam.get_waiter("function_active_v2").wait(
        FunctionName="life", WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    got = api.lam.get_function(FunctionName="life")
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Configuration"]["RevisionId"] != created["RevisionId"]
    assert got["Code"]["RepositoryType"] == "S3"
    assert "Concurrency" not in got and "Tags" not in got


def test_update_is_in_progress_then_successful_and_retires_old_sandboxes(api: Any) -> None:
    api.create("upd")
    api.emulator.update_delay_s = 1.0  # wide enough to be sure the second update lands inside
    before = api.lam.get_function_configuration(FunctionName="upd")
    updated = api.lam.update_function_configuration(
        FunctionName="upd", MemorySize=512, Timeout=10, Environment={"Variables": {"A": "1"}}
    )
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    assert updated["MemorySize"] == 512
    with pytest.raises(ClientError) as err:
        api.lam.update_function_configuration(FunctionName="upd", MemorySize=1024)
    status, code, message = _error(err)
    assert (status, code) == (409, "ResourceConflictException")
    assert message == (
        "The operation cannot be performed at this time. An update is in progress for "
        f"resource: {before['FunctionArn']}"
    )
    api.lam.get_waiter("function_updated_v2").wait(
        FunctionName="upd", WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    after = api.lam.get_function_configuration(FunctionName="upd")
    assert after["LastUpdateStatus"] == "Successful"
    assert after["Environment"] == {"Variables": {"A": "1"}}
    assert ("upd", after["RevisionId"]) in api.fake.retired


def test_invokes_during_in_progress_reach_the_old_configuration(api: Any) -> None:
    api.create("old-config", MemorySize=128)
    registry_delay = 2.0  # long enough to invoke inside the InProgress window
    api.emulator.update_delay_s = registry_delay
    api.lam.update_function_configuration(FunctionName="old-config", MemorySize=1024)
    during = json.loads(api.lam.invoke(FunctionName="old-config", Payload=b"{}")["Payload"].read())
    assert during["memory"] == 128
    api.wait_state("old-config", "LastUpdateStatus", "Successful", deadline_s=registry_delay + 5)
    after = json.loads(api.lam.invoke(FunctionName="old-config", Payload=b"{}")["Payload"].read())
    assert after["memory"] == 1024
    assert after["revision"] != during["revision"]


def test_invoke_while_pending_is_a_conflict(api: Any) -> None:
    api.emulator.pending_delay_s = 5.0
    api.create("pending", wait=False)
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName="pending", Payload=b"{}")
    status, code, message = _error(err)
    assert (status, code) == (409, "ResourceConflictException")
    assert message.endswith("The function is currently in the following state: Pending")


def test_update_code_changes_sha_and_unzips_new_code(api: Any, api_zip: Any) -> None:
    api.create("code")
    new_zip = api_zip({"handler.py": "def handler(e, c):\n    return 2\n", "data/x.txt": "x"})
    updated = api.lam.update_function_code(FunctionName="code", ZipFile=new_zip)
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    api.wait_state("code", "LastUpdateStatus", "Successful")
    api.lam.invoke(FunctionName="code", Payload=b"{}")
    code_dir = api.fake.specs[-1].code_dir
    assert (code_dir / "data" / "x.txt").read_text() == "x"
    assert "return 2" in (code_dir / "handler.py").read_text()
    assert oct((code_dir / "handler.py").stat().st_mode & 0o777) == oct(0o644)


def test_spec_has_the_functions_own_settings_and_nothing_from_the_host(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLDBENCH_HOST_CANARY", "leak")
    api.create(
        "spec", MemorySize=1769, Timeout=7, Environment={"Variables": {"OWN": "v"}},
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/group"},
    )
    api.lam.invoke(FunctionName="spec", Payload=b"{}")
    spec = api.fake.specs[-1]
    assert (spec.memory_mb, spec.timeout_s, spec.runtime) == (1769, 7, "python3.12")
    assert spec.environment == {"OWN": "v"}
    assert (spec.log_group, spec.log_format) == ("/custom/group", "JSON")
    assert spec.region == api.emulator.region and spec.account_id == api.emulator.account_id
    config = api.lam.get_function_configuration(FunctionName="spec")
    assert config["LoggingConfig"]["ApplicationLogLevel"] == "INFO"


def test_invoke_tail_function_error_and_executed_version(api: Any) -> None:
    api.create("inv")
    ok = api.lam.invoke(FunctionName="inv", Payload=b'{"k": 1}', LogType="Tail")
    assert ok["StatusCode"] == 200
    assert ok["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in ok
    request_id = ok["ResponseMetadata"]["RequestId"]
    assert base64.b64decode(ok["LogResult"]).decode() == f"REPORT RequestId: {request_id}\n"
    assert json.loads(ok["Payload"].read())["echo"] == '{"k": 1}'
    failed = api.lam.invoke(FunctionName="inv", Payload=b'"fail"')
    assert failed["FunctionError"] == "Unhandled"
    assert "LogResult" not in failed


def test_dry_run_and_event_invocations(api: Any) -> None:
    api.create("kinds")
    dry = api.lam.invoke(FunctionName="kinds", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    assert api.fake.specs == []
    event = api.lam.invoke(FunctionName="kinds", InvocationType="Event", Payload=b'"async"')
    assert event["StatusCode"] == 202
    assert event["Payload"].read() == b""
    _poll(lambda: len(api.fake.specs) == 1)


def _poll(condition: Any, deadline_s: float = 5.0) -> None:
    import time

    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "condition not met before the deadline"
        time.sleep(0.01)


def test_payload_limits_are_413(api: Any) -> None:
    api.create("big")
    with pytest.raises(ClientError) as sync_err:
        api.lam.invoke(FunctionName="big", Payload=b"x" * (6 * 1024 * 1024 + 1))
    assert _error(sync_err)[:2] == (413, "RequestEntityTooLargeException")
    with pytest.raises(ClientError) as async_err:
        api.lam.invoke(FunctionName="big", InvocationType="Event", Payload=b"x" * (1024 * 1024 + 1))
    assert _error(async_err)[:2] == (413, "RequestEntityTooLargeException")
    # Just under the async limit is accepted (a JSON string: Lambda refuses anything else).
    exact = b'"' + b"x" * (1024 * 1024 - 2) + b'"'
    ok = api.lam.invoke(FunctionName="big", InvocationType="Event", Payload=exact)
    assert ok["StatusCode"] == 202


def test_reserved_concurrency_reaches_the_sandboxes_and_throttles_with_reason(api: Any) -> None:
    api.create("rc")
    put = api.lam.put_function_concurrency(FunctionName="rc", ReservedConcurrentExecutions=1)
    assert put["ReservedConcurrentExecutions"] == 1
    assert api.lam.get_function_concurrency(FunctionName="rc")["ReservedConcurrentExecutions"] == 1
    assert api.lam.get_function(FunctionName="rc")["Concurrency"] == {
        "ReservedConcurrentExecutions": 1
    }
    settings = api.lam.get_account_settings()["AccountLimit"]
    assert settings["UnreservedConcurrentExecutions"] == 999

    loop = api.emulator._loop
    gate = asyncio.run_coroutine_threadsafe(_make_event(), loop).result()
    api.fake.gate = gate
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(api.lam.invoke, FunctionName="rc", Payload=b"{}")
        _poll(lambda: len(api.fake.specs) == 1)
        with pytest.raises(ClientError) as err:
            api.lam.invoke(FunctionName="rc", Payload=b"{}")
        loop.call_soon_threadsafe(gate.set)
        assert first.result()["StatusCode"] == 200
    status, code, message = _error(err)
    assert (status, code, message) == (429, "TooManyRequestsException", "Rate Exceeded.")
    assert err.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert api.fake.reserved_seen == [1]

    api.lam.delete_function_concurrency(FunctionName="rc")
    assert "ReservedConcurrentExecutions" not in api.lam.get_function_concurrency(FunctionName="rc")
    unreserved = api.lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert unreserved == 1000


async def _make_event() -> asyncio.Event:
    return asyncio.Event()


def test_reserved_concurrency_errors(api: Any) -> None:
    api.create("rc-err")
    with pytest.raises(ClientError) as too_much:
        api.lam.put_function_concurrency(FunctionName="rc-err", ReservedConcurrentExecutions=901)
    assert _error(too_much)[1] == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in _error(too_much)[2]
    with pytest.raises(ClientError) as qualified:
        api.lam.put_function_concurrency(
            FunctionName="rc-err:$LATEST", ReservedConcurrentExecutions=1
        )
    assert _error(qualified)[2].startswith("This operation is permitted on Lambda functions only")
    with pytest.raises(ClientError) as missing:
        api.lam.put_function_concurrency(FunctionName="nope", ReservedConcurrentExecutions=1)
    assert _error(missing)[2].endswith(":function:nope:$LATEST")


@pytest.mark.parametrize(
    "call",
    ["get_function", "get_function_configuration", "delete_function", "get_function_concurrency"],
)
def test_unknown_function_is_404_with_aws_message(api: Any, call: str) -> None:
    with pytest.raises(ClientError) as err:
        getattr(api.lam, call)(FunctionName="ghost")
    status, code, message = _error(err)
    arn = f"arn:aws:lambda:{api.emulator.region}:{api.emulator.account_id}:function:ghost"
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"Function not found: {arn}"
    assert err.value.response["Type"] == "User"


def test_invoke_unknown_function_names_latest(api: Any) -> None:
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName="ghost", Payload=b"{}")
    assert _error(err)[2].endswith(":function:ghost:$LATEST")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"MemorySize": 127}, "greater than or equal to 128"),
        ({"MemorySize": 10241}, "less than or equal to 10240"),
        ({"Runtime": "python3.9"}, "The runtime parameter of python3.9 is no longer supported"),
        ({"Runtime": "nodejs18.x"}, "The runtime parameter of nodejs18.x is no longer supported"),
        ({"Runtime": "cobol1.0"}, "Value cobol1.0 at 'runtime' failed to satisfy constraint"),
        ({"Code": {"ZipFile": b"not a zip"}}, "Could not unzip uploaded file."),
        ({"Code": {"S3Bucket": "b", "S3Key": "k"}}, "S3 code locations are not emulated"),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "exceeded the 4KB limit"),
    ],
)
def test_invalid_parameters_are_400(api: Any, overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ClientError) as err:
        api.create("bad", wait=False, **overrides)
    status, code, message = _error(err)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert fragment in message
    assert api.lam.list_functions()["Functions"] == []


def test_update_validates_too(api: Any) -> None:
    api.create("upd-bad")
    with pytest.raises(ClientError) as err:
        api.lam.update_function_configuration(FunctionName="upd-bad", Runtime="python3.8")
    assert _error(err)[1] == "InvalidParameterValueException"
    assert api.lam.get_function_configuration(FunctionName="upd-bad")["Runtime"] == "python3.12"


def test_zip_entry_escaping_the_code_dir_is_refused(api: Any, api_zip: Any) -> None:
    for name in ("../evil.py", "/abs/evil.py", "a/../../evil.py"):
        with pytest.raises(ClientError) as err:
            api.create("escape", wait=False, Code={"ZipFile": api_zip({name: "x"})})
        assert _error(err)[1] == "InvalidParameterValueException"
        assert "outside the function's code directory" in _error(err)[2]
    assert not list(api.emulator._state_dir.rglob("evil.py"))


def test_duplicate_create_is_a_conflict(api: Any) -> None:
    api.create("dup", wait=False)
    with pytest.raises(ClientError) as err:
        api.create("dup", wait=False)
    assert _error(err)[:2] == (409, "ResourceConflictException")


def test_list_functions_pages_with_marker(api: Any) -> None:
    names = [f"fn-{i:02d}" for i in range(7)]
    for name in names:
        api.create(name, wait=False)
    seen: list[str] = []
    marker: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 3}
        if marker:
            kwargs["Marker"] = marker
        page = api.lam.list_functions(**kwargs)
        pages += 1
        seen += [f["FunctionName"] for f in page["Functions"]]
        assert all("State" not in f for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == names and pages == 3
    paginated = [
        f["FunctionName"]
        for p in api.lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
        for f in p["Functions"]
    ]
    assert paginated == names
    every_version = api.lam.list_functions(FunctionVersion="ALL", MaxItems=1)["Functions"]
    assert every_version[0]["FunctionArn"].endswith(":function:fn-00:$LATEST")


def test_delete_retires_every_sandbox_and_forgets_the_function(api: Any) -> None:
    api.create("del")
    deleted = api.lam.delete_function(FunctionName="del")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert ("del", None) in api.fake.retired
    with pytest.raises(ClientError):
        api.lam.get_function(FunctionName="del")


def test_tags_lifecycle_and_errors(api: Any) -> None:
    api.create("tagged", Tags={"A": "tag-a"})
    arn = api.lam.get_function(FunctionName="tagged")["Configuration"]["FunctionArn"]
    assert api.lam.get_function(FunctionName="tagged")["Tags"] == {"A": "tag-a"}
    assert api.lam.tag_resource(Resource=arn, Tags={"B": "b", "C": "c"})[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    api.lam.untag_resource(Resource=arn, TagKeys=["A", "missing"])
    assert api.lam.list_tags(Resource=arn)["Tags"] == {"B": "b", "C": "c"}
    with pytest.raises(ClientError) as qualified:
        api.lam.tag_resource(Resource=arn + ":$LATEST", Tags={"X": "x"})
    assert _error(qualified)[2].startswith("Tags on function aliases and versions")
    with pytest.raises(ClientError) as missing:
        api.lam.list_tags(Resource=arn.replace("tagged", "ghost"))
    assert _error(missing)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as empty:
        api.lam.tag_resource(Resource=arn, Tags={})
    assert _error(empty)[1] == "InvalidParameterValueException"


def test_account_settings_count_functions_and_code(api: Any) -> None:
    api.create("acct-1", wait=False)
    api.create("acct-2", wait=False)
    settings = api.lam.get_account_settings()
    assert settings["AccountUsage"]["FunctionCount"] == 2
    sizes = [f["CodeSize"] for f in api.lam.list_functions()["Functions"]]
    assert settings["AccountUsage"]["TotalCodeSize"] == sum(sizes)
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountLimit"]["CodeSizeUnzipped"] == 262_144_000


def test_update_handler_runtime_and_logging_reach_the_next_spec(api: Any) -> None:
    api.create("reconf")
    api.lam.update_function_configuration(
        FunctionName="reconf", Handler="other.main", Runtime="python3.13",
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "/reconf/json"},
    )
    api.wait_state("reconf", "LastUpdateStatus", "Successful")
    api.lam.invoke(FunctionName="reconf", Payload=b"{}")
    spec = api.fake.specs[-1]
    assert (spec.handler, spec.runtime) == ("other.main", "python3.13")
    assert (spec.log_group, spec.log_format) == ("/reconf/json", "JSON")
    api.lam.update_function_configuration(FunctionName="reconf",
                                          LoggingConfig={"LogFormat": "Text"})
    config = api.lam.get_function_configuration(FunctionName="reconf")
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/reconf/json"}
