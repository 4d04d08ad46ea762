"""Deploying fixture packages to the local target with boto3, as the harness does."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.fixtures import Artifact

ROLE = "arn:aws:iam::123456789012:role/bench-fixtures"


@contextmanager
def local_lambda() -> Iterator[Any]:
    """A boto3 Lambda client on a fresh local target; skips when that target is absent."""
    try:
        from bench.emulator.app import Emulator
    except ImportError as exc:
        pytest.skip(f"the local target is not importable here: {exc}")
    import boto3

    with Emulator() as emulator:
        yield boto3.client(
            "lambda",
            endpoint_url=emulator.endpoint_url,
            region_name=emulator.region,
            aws_access_key_id=emulator.access_key_id,
            aws_secret_access_key=emulator.secret_access_key,
        )


def deploy(client: Any, name: str, artifact: Artifact, memory_mb: int) -> None:
    client.create_function(
        FunctionName=name,
        Runtime=artifact.runtime,
        Role=ROLE,
        Handler=artifact.handler,
        Code={"ZipFile": artifact.zip_path.read_bytes()},
        MemorySize=memory_mb,
        Timeout=60,
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )


def force_cold(client: Any, name: str, token: int) -> None:
    """A configuration change retires the warm sandboxes, as the harness does on AWS."""
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"BENCH_COLD_TOKEN": str(token)}}
    )
    client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )


def invoke(client: Any, name: str, event: Any) -> tuple[Any, str | None, str]:
    """(decoded result, FunctionError, log tail)."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    tail = base64.b64decode(response.get("LogResult", "")).decode("utf-8", "replace")
    return json.loads(response["Payload"].read()), response.get("FunctionError"), tail


def init_duration_ms(tail: str) -> float | None:
    match = re.search(r"Init Duration: ([\d.]+) ms", tail)
    return float(match.group(1)) if match else None


def java_bootstrap_missing() -> str | None:
    """Why java cannot run on the local target here, or None when it can."""
    import shutil

    if shutil.which("javac") is None or shutil.which("java") is None:
        return "javac/java not found: no JDK on this machine"
    from bench.emulator import runtimes

    bootstrap = Path(runtimes.__file__).parent / "JavaBootstrap.java"
    if not bootstrap.is_file():
        return f"the local target has no Java bootstrap yet ({bootstrap} is missing)"
    return None
