"""`from: <function ARN>` against `bench emulator`: a function deployed with the AWS CLI is
cloned by ARN into a bench copy, measured and the copy deleted; the original's
configuration and code are unchanged."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bench.run import RunOptions, run_matrix
from tests.emulator.test_awscli import aws, served  # noqa: F401 - `served` is a fixture

pytestmark = pytest.mark.e2e

HANDLER = """\
import os


def handler(event, context):
    return {"greeting": os.environ.get("GREETING"), "extra": os.environ.get("EXTRA"),
            "received": event}
"""


def _console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=160)


def _original(env: dict[str, str]) -> dict[str, Any]:
    found = aws(env, "lambda", "get-function", "--function-name", "orders-prod")
    return {"Configuration": found["Configuration"], "Tags": found.get("Tags")}


def test_a_deployed_function_is_cloned_measured_and_left_untouched(
    served: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.emulator.isolation import probe

    support = probe()
    if not support.available:
        pytest.skip(f"user code runs only isolated and bubblewrap is unusable: {support.reason}")
    package = tmp_path / "orders.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", HANDLER)
    package.write_bytes(buf.getvalue())
    created = aws(served, "lambda", "create-function", "--function-name", "orders-prod",
                  "--runtime", "python3.12", "--handler", "app.handler",
                  "--role", "arn:aws:iam::123456789012:role/prod", "--memory-size", "256",
                  "--timeout", "7", "--environment", "Variables={GREETING=from-prod}",
                  "--tags", "team=orders", "--zip-file", f"fileb://{package}")  # fmt: skip
    aws(served, "lambda", "wait", "function-active-v2", "--function-name", "orders-prod")
    before = _original(served)
    arn = created["FunctionArn"]
    account = arn.split(":")[4]

    (tmp_path / "event.json").write_text('{"order": 17}')
    (tmp_path / "m.yaml").write_text(
        f"name: clone\n"
        f"target: {{kind: aws, stage: clone, endpoint_url: '{served['AWS_ENDPOINT_URL']}', "
        f"role_arn: 'arn:aws:iam::{account}:role/bench-clone-execution'}}\n"
        "memory_mb: [512]\ncold_starts: 2\nburst: 2\nwarm_invocations: 2\nbudget_usd: 0.05\n"
        f"functions:\n  - name: orders\n    from: {arn}\n    environment: {{EXTRA: bench}}\n"
        "    event: event.json\n"
    )
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in served.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))

    outcome = run_matrix(RunOptions(matrix_path=Path("m.yaml")), console=_console())

    assert outcome.status == "complete", outcome
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    # The matrix as written (a resume resolves it again), the original beside it.
    assert manifest["matrix"]["functions"][0]["from"] == arn
    assert manifest["matrix"]["functions"][0]["code"] is None
    cloned = manifest["clones"]["orders"]
    assert cloned["arn"] == arn and cloned["memory_mb"] == 256 and cloned["timeout_s"] == 7
    assert cloned["runtime"] == "python3.12" and cloned["handler"] == "app.handler"
    cell = manifest["cells"]["orders-512mb-x86_64"]
    assert cell["function_name"] != "orders-prod" and cell["runtime"] == "python3.12"
    lines = (outcome.run_dir / "invocations.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    for record in records:
        answer = json.loads(record["response_excerpt"])
        # The copy runs the original's code with its environment (and the entry's on top).
        assert answer == {"greeting": "from-prod", "extra": "bench", "received": {"order": 17}}
        assert record["memory_size_mb"] == 512
    # The original: same configuration, same code, same tags; the copy is gone.
    assert _original(served) == before
    names = [f["FunctionName"] for f in aws(served, "lambda", "list-functions")["Functions"]]
    assert names == ["orders-prod"]
