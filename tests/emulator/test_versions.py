"""Published versions and aliases on the local target, over real HTTP: with the AWS CLI as a
user would drive them, and with boto3 for the shapes and errors."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.test_awscli import aws, served  # noqa: F401 - `served` is a fixture

HANDLER = (
    "import os, secrets\nSANDBOX = secrets.token_hex(8)\n"
    "def handler(event, context):\n"
    "    return {'sandbox': SANDBOX, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
    "            'stream': os.environ['AWS_LAMBDA_LOG_STREAM_NAME'],\n"
    "            'arn': context.invoked_function_arn}\n"
)
ROLE = "arn:aws:iam::123456789012:role/versions"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", HANDLER)
    return buf.getvalue()


def _until(check: Any, what: str, deadline_s: float = 20.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_cli_publishes_a_version_per_round_and_each_starts_cold(
    served: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    package = tmp_path / "fn.zip"
    package.write_bytes(_zip())
    aws(served, "lambda", "create-function", "--function-name", "ver-fn", "--runtime",
        "python3.12", "--handler", "handler.handler", "--role", ROLE,
        "--zip-file", f"fileb://{package}")  # fmt: skip
    aws(served, "lambda", "wait", "function-active-v2", "--function-name", "ver-fn")
    out = tmp_path / "out.json"
    sandboxes = set()
    for round_ in (1, 2, 3):
        # The bump, then a new version of it: every new version starts cold.
        aws(served, "lambda", "update-function-configuration", "--function-name", "ver-fn",
            "--environment", f"Variables={{BENCH_COLD_TOKEN={round_}}}")  # fmt: skip
        aws(served, "lambda", "wait", "function-updated-v2", "--function-name", "ver-fn")
        published = aws(served, "lambda", "publish-version", "--function-name", "ver-fn")
        number = published["Version"]
        assert number == str(round_)
        assert published["FunctionArn"].endswith(f":function:ver-fn:{number}")
        _until(
            lambda n=number: aws(served, "lambda", "get-function-configuration",
                                 "--function-name", "ver-fn", "--qualifier", n)["State"]
            == "Active",
            f"version {number} to become Active",
        )  # fmt: skip
        verb = "create-alias" if round_ == 1 else "update-alias"
        alias = aws(served, "lambda", verb, "--function-name", "ver-fn", "--name", "bench",
                    "--function-version", number)  # fmt: skip
        assert alias["FunctionVersion"] == number
        for call in ("cold", "warm"):
            invoked = aws(served, "lambda", "invoke", "--function-name", "ver-fn",
                          "--qualifier", "bench", "--log-type", "Tail", str(out))  # fmt: skip
            assert invoked["ExecutedVersion"] == number
            tail = base64.b64decode(invoked["LogResult"]).decode()
            assert "START RequestId: " in tail and f" Version: {number}\n" in tail
            assert ("Init Duration" in tail) == (call == "cold"), (round_, call, tail)
            result = json.loads(out.read_text())
            assert result["version"] == number
            assert re.fullmatch(rf"\d{{4}}/\d\d/\d\d/\[{number}\][0-9a-f]{{32}}", result["stream"])
            assert result["arn"].endswith(f":function:ver-fn:{number}")
            sandboxes.add(result["sandbox"])
    assert len(sandboxes) == 3  # one environment per version, reused within it
    streams = aws(served, "logs", "describe-log-streams", "--log-group-name", "/aws/lambda/ver-fn")
    names = [s["logStreamName"] for s in streams["logStreams"]]
    assert sorted(re.search(r"\[(\d+)\]", n).group(1) for n in names) == ["1", "2", "3"]  # type: ignore[union-attr]
    versions = aws(served, "lambda", "list-versions-by-function", "--function-name", "ver-fn")
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1", "2", "3"]
    got = aws(served, "lambda", "get-alias", "--function-name", "ver-fn", "--name", "bench")
    assert got["FunctionVersion"] == "3"
    aws(served, "lambda", "delete-alias", "--function-name", "ver-fn", "--name", "bench")
    assert aws(served, "lambda", "list-aliases", "--function-name", "ver-fn")["Aliases"] == []
    aws(served, "lambda", "delete-function", "--function-name", "ver-fn")


@pytest.fixture
def lam(tmp_path: Path) -> Iterator[Any]:
    import boto3

    from bench.emulator.app import Emulator
    from bench.emulator.contracts import SandboxSettings

    settings = SandboxSettings(allow_unisolated=True)  # our own handler, whatever the host
    with Emulator(state_dir=tmp_path / "state", sandbox_settings=settings) as emulator:
        client = boto3.client(
            "lambda", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
            aws_access_key_id=emulator.access_key_id,
            aws_secret_access_key=emulator.secret_access_key,
        )  # fmt: skip
        client.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE,
                               Handler="handler.handler", Code={"ZipFile": _zip()})  # fmt: skip
        client.get_waiter("function_active_v2").wait(
            FunctionName="fn", WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
        )
        yield client


def _active(lam: Any, number: str) -> None:
    lam.get_waiter("published_version_active").wait(
        FunctionName="fn", Qualifier=number, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )


def _error(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    err = caught.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_publishing_an_unchanged_function_returns_its_newest_version(lam: Any) -> None:
    first = lam.publish_version(FunctionName="fn", Description="first")
    assert (first["Version"], first["State"]) == ("1", "Pending")
    assert first["RevisionId"] != lam.get_function_configuration(FunctionName="fn")["RevisionId"]
    assert lam.publish_version(FunctionName="fn")["Version"] == "1"
    lam.update_function_configuration(FunctionName="fn", MemorySize=256)
    lam.get_waiter("function_updated_v2").wait(FunctionName="fn", WaiterConfig={"Delay": 0.1})
    assert lam.publish_version(FunctionName="fn")["Version"] == "2"
    _active(lam, "1")
    one = lam.get_function_configuration(FunctionName="fn", Qualifier="1")
    assert (one["MemorySize"], one["Version"], one["Description"]) == (128, "1", "first")
    assert one["FunctionArn"].endswith(":function:fn:1")
    # Numbers are never reused, even after a delete.
    lam.delete_function(FunctionName="fn", Qualifier="2")
    lam.update_function_configuration(FunctionName="fn", MemorySize=512)
    lam.get_waiter("function_updated_v2").wait(FunctionName="fn", WaiterConfig={"Delay": 0.1})
    assert lam.publish_version(FunctionName="fn")["Version"] == "3"
    code, message, status = _error(
        lambda: lam.publish_version(FunctionName="fn", CodeSha256="not-the-code")
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "is different from current CodeSHA256 in $LATEST" in message


def test_a_pending_version_is_not_invoked(lam: Any) -> None:
    lam.update_function_configuration(FunctionName="fn", Timeout=5)
    lam.get_waiter("function_updated_v2").wait(FunctionName="fn", WaiterConfig={"Delay": 0.1})
    number = lam.publish_version(FunctionName="fn")["Version"]
    state = lam.get_function_configuration(FunctionName="fn", Qualifier=number)["State"]
    if state == "Pending":  # the emulator's create delay is short; only then is it checkable
        code, _, status = _error(lambda: lam.invoke(FunctionName="fn", Qualifier=number))
        assert (code, status) == ("ResourceConflictException", 409)
    _active(lam, number)
    assert lam.invoke(FunctionName="fn", Qualifier=number)["ExecutedVersion"] == number


def test_updating_latest_leaves_a_version_warm(lam: Any) -> None:
    number = lam.publish_version(FunctionName="fn")["Version"]
    _active(lam, number)
    first = json.loads(lam.invoke(FunctionName=f"fn:{number}")["Payload"].read())
    lam.update_function_configuration(FunctionName="fn", Environment={"Variables": {"A": "1"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName="fn", WaiterConfig={"Delay": 0.1})
    again = json.loads(lam.invoke(FunctionName=f"fn:{number}")["Payload"].read())
    assert again["sandbox"] == first["sandbox"]  # a version's configuration never changes
    latest = lam.invoke(FunctionName="fn", LogType="Tail")
    assert latest["ExecutedVersion"] == "$LATEST"


def test_alias_errors_are_aws_errors(lam: Any) -> None:
    number = lam.publish_version(FunctionName="fn")["Version"]
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=number)
    code, message, status = _error(
        lambda: lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=number)
    )
    assert (code, status) == ("ResourceConflictException", 409)
    assert message.startswith("Alias already exists: arn:aws:lambda:")
    code, message, status = _error(lambda: lam.get_alias(FunctionName="fn", Name="gone"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message.startswith("Cannot find alias arn: arn:aws:lambda:")
    code, _, status = _error(
        lambda: lam.create_alias(FunctionName="fn", Name="x", FunctionVersion="7")
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, _, _ = _error(lambda: lam.create_alias(FunctionName="fn", Name="12", FunctionVersion="1"))
    assert code == "ValidationException"  # an all-digit name would read as a version
    code, message, _ = _error(
        lambda: lam.create_alias(
            FunctionName="fn", Name="canary", FunctionVersion=number,
            RoutingConfig={"AdditionalVersionWeights": {number: 0.5}},
        )
    )
    assert code == "InvalidParameterValueException" and "not emulated" in message
    code, message, status = _error(lambda: lam.delete_function(FunctionName="fn", Qualifier=number))
    assert (code, status) == ("ResourceConflictException", 409)
    assert "['live']" in message
    stale = lam.get_alias(FunctionName="fn", Name="live")["RevisionId"]
    lam.update_alias(FunctionName="fn", Name="live", Description="moved")
    code, _, status = _error(
        lambda: lam.update_alias(FunctionName="fn", Name="live", RevisionId=stale)
    )
    assert (code, status) == ("PreconditionFailedException", 412)
    code, _, status = _error(lambda: lam.invoke(FunctionName="fn", Qualifier="nope"))
    assert (code, status) == ("ResourceNotFoundException", 404)
