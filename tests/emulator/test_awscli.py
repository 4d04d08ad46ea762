"""The AWS CLI (awscli from PyPI) against `bench emulator`, both as real subprocesses."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.served import serve

HANDLER = "def handler(event, context):\n    print('hello from the cli test')\n    return event\n"
REPORT = re.compile(
    r"^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: (\d+) MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?$"
)
START_TIMEOUT_S = 30.0


def _cli_available() -> None:
    probe = subprocess.run([sys.executable, "-m", "awscli", "--version"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"the AWS CLI (python -m awscli) is not usable here: {probe.stderr.strip()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`bench emulator` in a subprocess; yields the environment its exports describe."""
    _cli_available()
    with serve(tmp_path / "state") as server:
        assert server.exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        yield server.client_env(tmp_path)
    leftovers = _processes_under(tmp_path)
    assert not leftovers, f"sandbox processes survived the emulator: {leftovers}"


def _processes_under(root: Path) -> list[str]:
    """Processes whose working directory is inside `root` (sandboxes run in their code dir)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc_dir / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)):
            found.append(f"{proc_dir.name}: {cwd}")
    return found


def aws(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, f"aws {' '.join(args)} failed: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_cli_create_wait_invoke_update_delete(served: dict[str, str], tmp_path: Path) -> None:
    package = tmp_path / "fn.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", HANDLER)
    package.write_bytes(buf.getvalue())

    created = aws(served, "lambda", "create-function", "--function-name", "cli-fn",
                  "--runtime", "python3.12", "--handler", "handler.handler",
                  "--role", "arn:aws:iam::123456789012:role/cli", "--memory-size", "512",
                  "--zip-file", f"fileb://{package}")
    assert created["State"] == "Pending"
    aws(served, "lambda", "wait", "function-active-v2", "--function-name", "cli-fn")

    out_file = tmp_path / "out.json"
    invoked = aws(served, "lambda", "invoke", "--function-name", "cli-fn", "--log-type", "Tail",
                  "--payload", '{"hello": "cli"}', str(out_file))
    assert invoked["StatusCode"] == 200
    assert json.loads(out_file.read_text()) == {"hello": "cli"}
    tail = base64.b64decode(invoked["LogResult"]).decode()
    assert "hello from the cli test" in tail
    last = tail.rstrip("\n").splitlines()[-1]
    match = REPORT.match(last)
    assert match, f"the tail does not end with a REPORT line in Lambda's field order: {last!r}"
    assert match.group(1) == "512" and match.group(2)  # cold: Init Duration is there

    updated = aws(served, "lambda", "update-function-configuration", "--function-name", "cli-fn",
                  "--memory-size", "1024", "--environment", "Variables={STAGE=cli}")
    assert updated["LastUpdateStatus"] == "InProgress" and updated["MemorySize"] == 1024
    aws(served, "lambda", "wait", "function-updated-v2", "--function-name", "cli-fn")

    aws(served, "lambda", "delete-function", "--function-name", "cli-fn")
    listed = aws(served, "lambda", "list-functions")
    assert listed["Functions"] == []

    # A warm sandbox is left running on purpose: stopping the emulator must reap it.
    aws(served, "lambda", "create-function", "--function-name", "cli-keep",
        "--runtime", "python3.12", "--handler", "handler.handler",
        "--role", "arn:aws:iam::123456789012:role/cli", "--zip-file", f"fileb://{package}")
    aws(served, "lambda", "wait", "function-active-v2", "--function-name", "cli-keep")
    aws(served, "lambda", "invoke", "--function-name", "cli-keep", "--payload", "{}",
        str(out_file))
    assert _processes_under(tmp_path), "the warm sandbox should be running before the stop"
