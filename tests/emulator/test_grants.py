"""A function's own credentials: minted per function from its role's policy, good for
lambda:InvokeFunction on the granted functions only, with the endpoint reachable from its
sandbox (isolated or not); the endpoint's own credentials never reach a sandbox."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

CALLER = '''
import json, os
import boto3
from botocore.config import Config

def handler(event, context):
    out = {"has": {k: k in os.environ for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                               "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_LAMBDA")},
           "root_seen": event["root"] in json.dumps(dict(os.environ))}
    if not out["has"]["AWS_ENDPOINT_URL_LAMBDA"]:
        return out
    client = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))

    def attempt(call):
        try:
            call()
            return "ok"
        except Exception as exc:
            return getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__

    for name in event["invoke"]:
        out[name] = attempt(lambda: client.invoke(FunctionName=name, Payload=b"{}"))
    out["ListFunctions"] = attempt(client.list_functions)
    out["UpdateFunctionConfiguration"] = attempt(lambda: client.update_function_configuration(
        FunctionName=event["invoke"][0], Description="x"))
    return out
'''
TARGET = "def handler(event, context):\n    return {'ok': True}\n"


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", source)
    return buf.getvalue()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Any]:
    from bench.emulator.app import Emulator

    emulator = Emulator(state_dir=tmp_path / "state")
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_a_role_policy_gives_its_functions_invoke_on_the_granted_functions_only(
    emulator: Any,
) -> None:
    account = emulator.account_id
    driver_role = f"arn:aws:iam::{account}:role/bench-t-driver"
    plain_role = f"arn:aws:iam::{account}:role/bench-t-exec"
    prefix = f"arn:aws:lambda:us-east-1:{account}:function:"
    emulator.put_role_policy(driver_role, {"Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"{prefix}bench-t-*"},
        {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": f"{prefix}bench-t-no"},
    ]})  # fmt: skip
    client = boto3.client(
        "lambda", endpoint_url=emulator.endpoint_url, region_name="us-east-1",
        aws_access_key_id=emulator.access_key_id,
        aws_secret_access_key=emulator.secret_access_key,
    )  # fmt: skip
    functions = [("caller", driver_role, CALLER), ("plain", plain_role, CALLER),
                 ("bench-t-a", plain_role, TARGET), ("bench-t-no", plain_role, TARGET),
                 ("elsewhere", plain_role, TARGET)]  # fmt: skip
    for name, role, source in functions:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                               Handler="handler.handler", Code={"ZipFile": _zip(source)},
                               Timeout=30, MemorySize=512)  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=name)
    event = {"root": emulator.secret_access_key, "invoke": ["bench-t-a", "bench-t-no", "elsewhere"]}

    answer = json.loads(client.invoke(FunctionName="caller", Payload=json.dumps(event).encode())
                        ["Payload"].read())  # fmt: skip
    plain = json.loads(client.invoke(FunctionName="plain", Payload=json.dumps(event).encode())
                       ["Payload"].read())  # fmt: skip

    print("isolation:", emulator.info().get("isolation"), "caller:", answer, "plain:", plain)
    assert answer["has"] == dict.fromkeys(answer["has"], True)
    assert answer["root_seen"] is False and plain["root_seen"] is False
    assert answer["bench-t-a"] == "ok"
    assert answer["bench-t-no"] == "AccessDeniedException"  # denied explicitly
    assert answer["elsewhere"] == "AccessDeniedException"  # never granted
    assert answer["ListFunctions"] == "AccessDeniedException"
    assert answer["UpdateFunctionConfiguration"] == "AccessDeniedException"
    # A role without a policy: no credentials and no endpoint.
    assert plain["has"] == dict.fromkeys(plain["has"], False)
