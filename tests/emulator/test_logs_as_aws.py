"""Log lines byte for byte as Lambda writes them to CloudWatch, held against recorded events.

Text platform lines end with their newline; a runtime's output lines keep theirs; Node.js
console.* gets Lambda's `time\\trequestId\\tLEVEL\\t` prefix, and becomes one JSON record
per call under the JSON log format.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

FACTS = json.loads((Path(__file__).parents[1] / "data/aws-shapes/facts.json").read_text())
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _template(recorded: str, request_id: str) -> re.Pattern[str]:
    """A recorded message with its placeholders turned into what they stand for."""
    parts = re.split(r"(<request-id>|<duration>|<memory>|^date)", recorded)
    fill = {"<request-id>": re.escape(request_id), "<duration>": r"\d+(\.\d\d)?",
            "<memory>": r"\d+", "date": ISO_MS}
    return re.compile("".join(fill.get(p, re.escape(p)) for p in parts) + r"\Z")


def _invocation_messages(sink: Any, request_id: str) -> list[str]:
    messages = sink.messages()
    start = messages.index(f"START RequestId: {request_id} Version: $LATEST\n")
    end = next(i for i, m in enumerate(messages)
               if m.startswith(f"REPORT RequestId: {request_id}\t"))
    return messages[start : end + 1]


def _node_spec(sandbox_kit: Any, **overrides: Any) -> Any:
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the nodejs runtime cannot be tested")
    return sandbox_kit.spec(runtime="nodejs22.x", handler="index.handler", memory_mb=128,
                            code_dir=sandbox_kit.handlers / "node", **overrides)


def test_python_invocation_logs_match_the_recorded_events(run_sandboxes: Any,
                                                          sandbox_kit: Any) -> None:
    recorded = FACTS["invocation_logs_python"]["messages"]
    spec = sandbox_kit.spec(memory_mb=128)

    async def scenario(m: Any, sink: Any) -> None:
        rid, _ = await sandbox_kit.invoke(m, spec, {"action": "print", "lines": ["{}"]})
        got = _invocation_messages(sink, rid)
        assert len(got) == len(recorded), got
        for message, template in zip(got, recorded, strict=True):
            assert _template(template, rid).match(message), (message, template)
        init_start = next(x for x in sink.messages() if x.startswith("INIT_START"))
        assert init_start.endswith("\n") and init_start.count("\n") == 1
        shape = re.sub(r"python:3\.10\.v11", "VERSION", FACTS["init_start_line"]["message"])
        shape = shape.replace("arn:<partition>:lambda:<region>::runtime:<resource:2>", "ARN")
        ours = re.sub(r"Runtime Version: \S+", "Runtime Version: VERSION", init_start)
        ours = re.sub(r"Runtime Version ARN: \S+", "Runtime Version ARN: ARN", ours)
        assert ours == shape

    run_sandboxes(scenario)


def test_node_console_log_lines_match_the_recorded_events(run_sandboxes: Any,
                                                          sandbox_kit: Any) -> None:
    recorded = FACTS["invocation_logs_nodejs"]["messages"]
    spec = _node_spec(sandbox_kit)

    async def scenario(m: Any, sink: Any) -> None:
        rid, _ = await sandbox_kit.invoke(m, spec, {"action": "print", "lines": ["{}"]})
        got = _invocation_messages(sink, rid)
        assert len(got) == len(recorded), got
        for message, template in zip(got, recorded, strict=True):
            assert _template(template, rid).match(message), (message, template)
        # A message of several lines stays one event; the level follows the method.
        rid2, _ = await sandbox_kit.invoke(m, spec, {"action": "print", "lines": ["a\nb"]})
        (line,) = _invocation_messages(sink, rid2)[1:-2]
        assert re.fullmatch(rf"{ISO_MS}\t{rid2}\tINFO\ta\rb\n", line), line

    run_sandboxes(scenario)


def test_node_errors_are_logged_with_lambdas_prefix(run_sandboxes: Any,
                                                    sandbox_kit: Any) -> None:
    spec = _node_spec(sandbox_kit)

    async def scenario(m: Any, sink: Any) -> None:
        rid, result = await sandbox_kit.invoke(m, spec, {"action": "raise", "message": "bad"})
        assert result.function_error == "Unhandled"
        (line,) = _invocation_messages(sink, rid)[1:-2]
        match = re.fullmatch(rf"{ISO_MS}\t{rid}\tERROR\tInvoke Error \t(\{{.*\}})\n", line)
        assert match, line
        assert json.loads(match.group(1))["errorType"] == "TypeError"

    run_sandboxes(scenario)


def test_node_console_log_is_json_under_the_json_log_format(run_sandboxes: Any,
                                                             sandbox_kit: Any) -> None:
    spec = _node_spec(sandbox_kit, log_format="JSON")

    async def scenario(m: Any, sink: Any) -> None:
        rid, _ = await sandbox_kit.invoke(m, spec, {"action": "print", "lines": ["hello"]})
        records = [json.loads(x) for x in sink.messages() if x.startswith('{"timestamp"')]
        assert len(records) == 1, sink.messages()
        (record,) = records
        assert list(record) == ["timestamp", "level", "requestId", "message"]
        assert re.fullmatch(ISO_MS, record["timestamp"])
        assert (record["level"], record["requestId"], record["message"]) == (
            "INFO", rid, "hello")
        rid2, _ = await sandbox_kit.invoke(m, spec, {"action": "raise", "message": "bad"})
        errors = [json.loads(x) for x in sink.messages()
                  if x.startswith('{"timestamp"') and rid2 in x]
        assert [(e["level"], e["message"], e["errorType"], e["errorMessage"]) for e in errors] \
            == [("ERROR", "Invoke Error", "TypeError", "bad")]
        assert isinstance(errors[0]["stackTrace"], list)

    run_sandboxes(scenario)
