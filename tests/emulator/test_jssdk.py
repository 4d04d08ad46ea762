"""The AWS SDK for JavaScript v3 (from the npm registry) against `bench emulator`.

The SDK gets nothing but the `export` lines `bench emulator` prints (and PATH/HOME):
no endpoint, region or credentials in code. jssdk/drive.mjs creates functions, waits
with the SDK's waiters, invokes with the log tail, pages with its paginators and checks
errors arrive as the right exception classes; this test asserts on what it reports.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.served import serve

pytestmark = pytest.mark.registry

HERE = Path(__file__).parent / "jssdk"
HANDLER = (
    "def handler(event, context):\n    print('hello from python, called by js')\n"
    "    return event\n"
)
REPORT = re.compile(
    r"^REPORT RequestId: ([0-9a-f-]{36})\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t\n$"
)


def _sdk_dir() -> Path:
    """The SDK installed once per package.json, in the user's cache."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the AWS SDK for JavaScript v3")
    manifest = (HERE / "package.json").read_bytes()
    digest = hashlib.sha256(manifest).hexdigest()[:12]
    target = Path.home() / ".cache" / "coldbench" / f"jssdk-{digest}"
    if not (target / "node_modules" / "@aws-sdk" / "client-lambda").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        (target / "package.json").write_bytes(manifest)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target, capture_output=True, text=True, timeout=600, check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"npm could not install the AWS SDK for JavaScript v3: "
                        f"{done.stderr.strip()[-400:]}")
    shutil.copy(HERE / "drive.mjs", target / "drive.mjs")
    return target


def _zip(path: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", HANDLER)
    path.write_bytes(buf.getvalue())
    return path


def test_js_sdk_v3_configured_only_by_the_printed_exports(tmp_path: Path) -> None:
    sdk = _sdk_dir()
    package = _zip(tmp_path / "fn.zip")
    with serve(tmp_path / "state") as server:
        assert {"AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY"} <= set(server.exports)
        done = subprocess.run(
            ["node", str(sdk / "drive.mjs"), str(package)], cwd=sdk,
            env=server.client_env(tmp_path), capture_output=True, text=True, timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["region"] == server.exports["AWS_REGION"]
    assert seen["createdState"] == "Pending"
    assert seen["waiterState"] == "SUCCESS"

    invoke = seen["invoke"]
    assert (invoke["status"], invoke["executedVersion"], invoke["functionError"]) == (
        200, "$LATEST", None)
    assert invoke["payload"] == {"from": "js"}
    tail = invoke["tail"]
    assert "hello from python, called by js\n" in tail
    report = tail[tail.rindex("REPORT RequestId:"):]
    match = REPORT.match(report)
    assert match, f"the tail's REPORT is not Lambda's: {report!r}"
    assert match.group(1) == invoke["requestId"]

    assert seen["duplicate"]["name"] == "ResourceConflictException"
    assert seen["duplicate"]["lambdaClasses"]["conflict"]
    bad = seen["badPayload"]
    assert (bad["name"], bad["status"]) == ("InvalidRequestContentException", 400)
    assert bad["lambdaClasses"]["invalidContent"] and bad["lambdaClasses"]["service"]
    assert bad["message"].startswith("Could not parse request body into json")
    missing = seen["missing"]
    assert (missing["name"], missing["status"]) == ("ResourceNotFoundException", 404)
    assert missing["lambdaClasses"]["notFound"]
    assert re.fullmatch(r"Function not found: arn:aws:lambda:us-east-1:\d{12}:function:js-nope",
                        missing["message"]), missing["message"]

    assert seen["functionPages"] == [["js-a"], ["js-b"], ["js-c"]]
    assert seen["updatedWaiter"] == "SUCCESS"
    assert seen["afterUpdate"]["memory"] == 256
    assert seen["afterUpdate"]["tags"] == {"suite": "jssdk"}

    logs_missing = seen["logsMissing"]
    assert (logs_missing["name"], logs_missing["status"]) == ("ResourceNotFoundException", 400)
    assert logs_missing["logsClasses"]["notFound"]
    assert not logs_missing["lambdaClasses"]["notFound"]  # the Logs class, not Lambda's
    assert seen["logsDuplicate"]["logsClasses"]["alreadyExists"]
    assert seen["groupPages"] == [["/aws/lambda/js-a"]]  # only js-a was invoked
    assert len(seen["reports"]) == 1 and REPORT.match(seen["reports"][0])

    assert seen["afterDelete"]["lambdaClasses"]["notFound"]
    location = seen["afterUpdate"]["codeLocation"]
    assert location.startswith(server.exports["AWS_ENDPOINT_URL"] + "/"), location
