"""The user's own functions, end to end on the local target: built with their
dependencies from PyPI and npm, deployed isolated, measured at two memory sizes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.run import RunOptions, run_matrix

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "functions"
# A module that cannot be compiled: every cold start fails at init.
BROKEN_SOURCE = "def handler(event, context)\n    return {'never': 'reached'}\n"


def _console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=160)


def _needs_isolation() -> None:
    from bench.emulator.isolation import probe

    support = probe()
    if not support.available:
        pytest.skip(f"user code runs only isolated and bubblewrap is unusable: {support.reason}")


def _records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_python_and_a_nodejs_function_from_one_matrix(workdir: Path) -> None:
    _needs_isolation()
    if shutil.which("npm") is None:
        pytest.skip("npm not found: the nodejs function's package-lock.json needs npm ci")
    shutil.copytree(EXAMPLES, workdir / "functions")
    matrix = workdir / "functions" / "matrix.yaml"
    outcome = run_matrix(RunOptions(matrix_path=matrix), console=_console())
    assert outcome.status == "complete", outcome
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert sorted(manifest["cells"]) == [
        "greeter-node-1024mb-x86_64", "greeter-node-256mb-x86_64",
        "greeter-python-1024mb-x86_64", "greeter-python-256mb-x86_64",
    ]  # fmt: skip
    python_cell = manifest["cells"]["greeter-python-256mb-x86_64"]
    assert python_cell["artifact"]["requirements_resolved"]["six"]["version"] == "1.17.0"
    node_cell = manifest["cells"]["greeter-node-256mb-x86_64"]
    assert node_cell["artifact"]["requirements_resolved"] == {"is-number": {"version": "7.0.0"}}
    records = _records(outcome.run_dir)
    assert len(records) == 4 * (4 + 6)
    for record in records:
        assert record["status"] == "success", record
        answer = json.loads(record["response_excerpt"])
        sent = json.loads((workdir / "functions" / "events" / record["event"]).read_text())
        assert answer["received"] == sent  # the handler got the event file
        assert record["invoke_via"] == "sdk"
    python = [r for r in records if r["function"] == "greeter-python"]
    # Round-robin over the two event files, and the function's own environment kept.
    assert {r["event"] for r in python} == {"greet.json", "greet-2.json"}
    assert {json.loads(r["response_excerpt"])["greeting"] for r in python} == {
        "hi, coldbench", "hi, reader"
    }  # fmt: skip
    node = [r for r in records if r["function"] == "greeter-node"]
    assert {json.loads(r["response_excerpt"])["isNumber"] for r in node} == {True}
    cold = [r for r in records if r["phase"] == "cold"]
    assert all(r["start_type"] == "cold" and r["init_duration_ms"] > 0 for r in cold)
    warm = [r for r in records if r["phase"] == "warm"]
    assert all(r["start_type"] == "warm" and r["init_duration_ms"] is None for r in warm)
    html = outcome.report_path.read_text()  # type: ignore[union-attr]
    split = html[html.index("<h2>Cold start as a caller sees it</h2>"):]
    for cell in manifest["cells"]:  # the four figures of every cell of both functions
        row = split[split.index(f'<td class="l">{cell}</td>'):].split("</tr>")[0]
        assert row.count("<td>") == 10, row  # cold, warm, then 4 x (p50, CI)
    assert "Init Duration p50" in split and "first invoke p50" in split
    assert "warm p50" in split and "cold start (caller) p50" in split
    assert "<h3>greeter-python (python3.12, x86_64): best" in html
    assert "<h3>greeter-node (nodejs22.x, x86_64): best" in html
    assert "for a mix of 1% cold and 99% warm" in html


MIXED = """\
name: broken
runtimes: [python3.12]
memory_mb: [256]
package: {{size_mb: [0]}}
cold_starts: 2
burst: 2
warm_invocations: 2
timeout_s: 5
budget_usd: 0.05
functions:
  - name: broken
    code: {code}
    handler: app.handler
    runtime: python3.12
"""


def test_a_function_that_cannot_load_fails_its_cells_with_the_init_error(
    workdir: Path, emulator: Any, emu: Any, aws_env: dict[str, str]
) -> None:
    _needs_isolation()
    (workdir / "broken").mkdir()
    (workdir / "broken" / "app.py").write_text(BROKEN_SOURCE)
    body = MIXED.format(code=workdir / "broken")
    (workdir / "b.yaml").write_text(emu.matrix(emulator, stage="broken", body=body))
    outcome = run_matrix(RunOptions(matrix_path=Path("b.yaml")), console=_console())
    assert outcome.exit_code == 3 and outcome.status == "partial"
    cells = json.loads((outcome.run_dir / "manifest.json").read_text())["cells"]
    assert cells["python3.12-256mb-x86_64-none"]["status"] == "complete"
    broken = cells["broken-256mb-x86_64"]
    assert broken["status"] == "failed"
    assert "Runtime.UserCodeSyntaxError" in broken["error"]
    assert broken["errors"]["init"] == broken["errors"]["failed"] == 2
    assert broken["errors"]["by_type"] == {"Runtime.UserCodeSyntaxError": 2}
    failed = [r for r in _records(outcome.run_dir) if r["cell"] == "broken-256mb-x86_64"]
    assert [r["error_phase"] for r in failed] == ["init", "init"]
    assert all("invalid syntax" in (r["error_message"] or "") or "expected" in
               (r["error_message"] or "") for r in failed), failed  # fmt: skip
    html = outcome.report_path.read_text()  # type: ignore[union-attr]
    errors = html[html.index("<h2>What the functions did: errors</h2>"):]
    assert "Runtime.UserCodeSyntaxError × 2" in errors
    # Nothing is left behind on the target.
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []


WEB_HANDLER = """\
import json


def handler(event, context):
    seen = {"version": event["version"], "method": event["requestContext"]["http"]["method"],
            "body": event.get("body")}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(seen)}
"""

URL_MATRIX = """\
name: via-url
memory_mb: [512]
cold_starts: 2
burst: 2
warm_invocations: 3
budget_usd: 0.05
functions:
  - name: greeter
    code: {code}
    handler: app.handler
    runtime: python3.12
    event: {event}
    invoke_via: url
"""


def test_invoke_via_url_measures_through_a_function_url(
    workdir: Path, emulator: Any, emu: Any, aws_env: dict[str, str]
) -> None:
    _needs_isolation()
    (workdir / "web").mkdir()
    (workdir / "web" / "app.py").write_text(WEB_HANDLER)
    body = URL_MATRIX.format(code=workdir / "web", event=EXAMPLES / "events" / "greet.json")
    (workdir / "u.yaml").write_text(emu.matrix(emulator, stage="viaurl", body=body))
    outcome = run_matrix(RunOptions(matrix_path=Path("u.yaml")), console=_console())
    assert outcome.status == "complete", outcome
    cell = json.loads((outcome.run_dir / "manifest.json").read_text())["cells"][
        "greeter-512mb-x86_64"
    ]
    assert cell["function_url"].startswith(emulator.endpoint_url + "/_coldbench/url/")
    records = _records(outcome.run_dir)
    assert len(records) == 5
    sent = json.loads((EXAMPLES / "events" / "greet.json").read_text())
    for record in records:
        assert record["invoke_via"] == "url" and record["status"] == "success", record
        # The payload format version 2.0 event, the event file as its body; the answer's
        # statusCode and body became the HTTP response.
        received = json.loads(record["response_excerpt"])
        assert received["version"] == "2.0" and received["method"] == "POST"
        assert json.loads(received["body"]) == sent
        # The REPORT line came from CloudWatch Logs (a URL returns no log tail).
        assert record["report_sources"] == ["cloudwatch"]
    assert [r["start_type"] for r in records] == ["cold", "cold", "warm", "warm", "warm"]
    lambda_client, _logs = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []


UNISOLATED = """\
name: {name}
target: {{kind: local, allow_unisolated: {allow}}}
runtimes: [python3.12]
memory_mb: [256]
package: {{size_mb: [0]}}
cold_starts: 1
burst: 1
warm_invocations: 1
budget_usd: 0.05
functions:
  - name: mine
    code: {code}
    handler: app.handler
    runtime: python3.12
"""


@pytest.mark.parametrize("allow", [False, True])
def test_a_function_runs_unisolated_only_when_the_matrix_allows_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, allow: bool
) -> None:
    """Where sandboxes cannot be isolated (simulated here: the probe says bubblewrap is
    missing), the user's code is third-party code: refused with the fix named, unless the
    matrix allows it; the harness's own fixture runs either way."""
    from bench.emulator import isolation

    missing = isolation.Support(False, "none", None, "bwrap not found on PATH (simulated)")
    monkeypatch.setattr(isolation, "probe", lambda: missing)
    (workdir / "mine").mkdir()
    (workdir / "mine" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    name = "allowed" if allow else "refused"
    text = UNISOLATED.format(name=name, allow=str(allow).lower(), code=workdir / "mine")
    (workdir / "u.yaml").write_text(text)
    outcome = run_matrix(RunOptions(matrix_path=Path("u.yaml")), console=_console())
    cells = json.loads((outcome.run_dir / "manifest.json").read_text())["cells"]
    assert cells["python3.12-256mb-x86_64-none"]["status"] == "complete"
    if allow:
        assert outcome.exit_code == 0 and cells["mine-256mb-x86_64"]["status"] == "complete"
    else:
        assert outcome.exit_code == 3
        assert cells["mine-256mb-x86_64"]["status"] == "failed"
        error = cells["mine-256mb-x86_64"]["error"]
        assert "not isolated" in error and "allow_unisolated: true" in error, error
