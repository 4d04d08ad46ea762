"""Provisioned concurrency on the local target, over real HTTP with boto3: environments
initialised ahead with init type provisioned-concurrency, used first, then on demand."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

# `hold` keeps an invocation busy, so three sent at once need three environments.
HANDLER = (
    "import os, secrets, time\nSANDBOX = secrets.token_hex(8)\n"
    "INIT_TYPE = os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"
    "def handler(event, context):\n    time.sleep(event.get('hold', 0))\n"
    "    return {'sandbox': SANDBOX, 'init_type': INIT_TYPE}\n"
)


@pytest.fixture
def clients(tmp_path: Any) -> Iterator[tuple[Any, Any]]:
    import boto3

    from bench.emulator.app import Emulator
    from bench.emulator.contracts import SandboxSettings

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", HANDLER)
    settings = SandboxSettings(allow_unisolated=True)  # our own handler, whatever the host
    with Emulator(state_dir=tmp_path / "state", sandbox_settings=settings) as emulator:
        kw = {
            "endpoint_url": emulator.endpoint_url, "region_name": emulator.region,
            "aws_access_key_id": emulator.access_key_id,
            "aws_secret_access_key": emulator.secret_access_key,
        }  # fmt: skip
        lam, logs = boto3.client("lambda", **kw), boto3.client("logs", **kw)
        lam.create_function(
            FunctionName="pc", Runtime="python3.12", Handler="handler.handler",
            Role="arn:aws:iam::123456789012:role/pc", Code={"ZipFile": buf.getvalue()},
            MemorySize=256, LoggingConfig={"LogFormat": "JSON"},
        )  # fmt: skip
        lam.get_waiter("function_active_v2").wait(FunctionName="pc", WaiterConfig={"Delay": 0.1})
        yield lam, logs


def _ready(lam: Any, qualifier: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        config: dict[str, Any] = lam.get_provisioned_concurrency_config(
            FunctionName="pc", Qualifier=qualifier
        )
        if config["Status"] != "IN_PROGRESS":
            return config
        time.sleep(0.05)
    raise AssertionError("provisioned concurrency never left IN_PROGRESS")


def test_two_provisioned_environments_then_on_demand(clients: tuple[Any, Any]) -> None:
    lam, logs = clients
    version = lam.publish_version(FunctionName="pc")["Version"]
    lam.create_alias(FunctionName="pc", Name="live", FunctionVersion=version)
    put = lam.put_provisioned_concurrency_config(
        FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["AllocatedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 0)
    ready = _ready(lam, "live")
    assert (ready["Status"], ready["AvailableProvisionedConcurrentExecutions"]) == ("READY", 2)
    starts = logs.filter_log_events(logGroupName="/aws/lambda/pc")["events"]
    init_types = [json.loads(e["message"])["record"]["initializationType"] for e in starts
                  if '"platform.initStart"' in e["message"]]  # fmt: skip
    assert init_types == ["provisioned-concurrency"] * 2  # initialised before any invoke

    def invoke(_: int) -> tuple[dict[str, Any], dict[str, Any]]:
        out = lam.invoke(
            FunctionName="pc", Qualifier="live", LogType="Tail", Payload=b'{"hold": 1.0}'
        )
        tail = base64.b64decode(out["LogResult"]).decode().splitlines()
        report = next(json.loads(x) for x in tail if '"platform.report"' in x)
        return json.loads(out["Payload"].read()), report["record"]["metrics"]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(invoke, range(3)))
    provisioned = [m for p, m in results if p["init_type"] == "provisioned-concurrency"]
    on_demand = [m for p, m in results if p["init_type"] == "on-demand"]
    assert len(provisioned) == 2 and len(on_demand) == 1
    assert all("initDurationMs" not in m for m in provisioned)  # no invocation's init
    assert "initDurationMs" in on_demand[0]
    listed = lam.list_provisioned_concurrency_configs(FunctionName="pc")
    arns = [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]]
    assert [arn.rsplit(":", 1)[1] for arn in arns] == ["live"]
    lam.delete_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")
    with pytest.raises(ClientError) as gone:
        lam.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")
    assert gone.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_latest_cannot_be_provisioned(clients: tuple[Any, Any]) -> None:
    lam, _ = clients
    with pytest.raises(ClientError) as refused:
        lam.put_provisioned_concurrency_config(
            FunctionName="pc", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    err = refused.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert "cannot be applied to unpublished function versions" in err["Message"]
    with pytest.raises(ClientError) as missing:
        lam.put_provisioned_concurrency_config(
            FunctionName="pc", Qualifier="9", ProvisionedConcurrentExecutions=1
        )
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
