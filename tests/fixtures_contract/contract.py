"""The fixture contract, once for every runtime family, and ways to run a handler.

Each `run_*` function starts one process (one "sandbox"), hands it the events in order
and returns the handler's results, so invocation counting is tested too.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

SHAPE = '{"bench": {"run": string, "cell": string, "round": integer, "seq": integer}}'
GOOD = {"bench": {"run": "20261127T140212Z-demo-3fa9c1", "cell": "c-1", "round": 1, "seq": 1}}
GOOD2 = {"bench": {"run": "20261127T140212Z-demo-3fa9c1", "cell": "c-1", "round": 2, "seq": 7}}


def _bench(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(GOOD["bench"])
    for key, value in changes.items():
        if value is _DROP:
            del fields[key]
        else:
            fields[key] = value
    return {"bench": fields}


_DROP = object()

# (event, the exact error every runtime must return)
BAD_EVENTS: list[tuple[Any, str]] = [
    (None, f"event must be an object {SHAPE}, got null"),
    ([1, 2], f"event must be an object {SHAPE}, got array"),
    ("bench", f"event must be an object {SHAPE}, got string"),
    ({}, "event.bench is missing"),
    ({"bench": None}, "event.bench must be an object, got null"),
    ({"bench": "x"}, "event.bench must be an object, got string"),
    ({**GOOD, "junk": 1}, f'unexpected key "junk" in event; expected {SHAPE}'),
    # A key is shown on one line, quoted and escaped the same way by every runtime.
    ({**GOOD, 'a\n"b': 1}, f'unexpected key "a\\u000a\\"b" in event; expected {SHAPE}'),
    (_bench(seq=_DROP), "event.bench.seq is missing"),
    (_bench(run=5), "event.bench.run must be a string, got number"),
    (_bench(cell=None), "event.bench.cell must be a string, got null"),
    (_bench(round=True), "event.bench.round must be a non-negative integer, got boolean"),
    (_bench(round="1"), "event.bench.round must be a non-negative integer, got string"),
    (_bench(seq=-1), "event.bench.seq must be a non-negative integer, got number"),
    (_bench(seq=1.5), "event.bench.seq must be a non-negative integer, got number"),
    (_bench(extra={"a": 1}), 'unexpected key "extra" in event.bench'),
]

RUNTIME_VERSION = {
    "python": r"CPython 3\.\d+\.\d+",
    "nodejs": r"Node\.js v\d+\.\d+\.\d+",
    "java": r"OpenJDK \d+[\d.]*",
    "provided": r"C bootstrap \d+ \(static musl, (x86_64|arm64)\)",
}
EVENTS = [GOOD, GOOD2] + [event for event, _ in BAD_EVENTS] + [GOOD]


def random_events(seed: int, count: int) -> list[Any]:
    """Near-misses of the bench event: dropped, retyped and extra keys, odd values."""
    rng = random.Random(seed)
    values: list[Any] = [None, True, False, 0, 7, -3, 1.5, 2.0, 1e20, "", "x", "é", [], [1],
                         {}, {"a": 1}]  # fmt: skip

    def near_miss() -> dict[str, Any]:
        fields: dict[str, Any] = dict(GOOD["bench"])
        for _ in range(rng.randint(0, 3)):
            op = rng.choice(["drop", "set", "add"])
            if op == "drop" and fields:
                del fields[rng.choice(sorted(fields))]
            elif op == "set" and fields:
                fields[rng.choice(sorted(fields))] = rng.choice(values)
            else:
                fields[rng.choice(["zz", "Run", "a b", "é", "extra"])] = rng.choice(values)
        return fields

    events: list[Any] = []
    for _ in range(count):
        if rng.random() < 0.1:
            events.append(rng.choice(values))
            continue
        event: dict[str, Any] = {"bench": near_miss() if rng.random() < 0.8 else rng.choice(values)}
        if rng.random() < 0.15:
            event[rng.choice(["junk", "Bench", "b"])] = rng.choice(values)
        if rng.random() < 0.05:
            del event["bench"]
        events.append(event)
    return events


def check_results(family: str, results: list[Any], kind: str, memory_mb: int | None) -> None:
    """Assert the contract on the results of EVENTS, in order, from one sandbox."""
    assert len(results) == len(EVENTS)
    first, second = results[0], results[1]
    for result in (first, second):
        assert "error" not in result, result
        assert set(result) == {
            "sandbox_id", "init_start_ms", "init_end_ms", "invoke_start_ms", "invocation",
            "runtime_version", "memory_mb", "payload",
        }  # fmt: skip
        assert re.fullmatch(r"[0-9a-f]{32}", result["sandbox_id"])
        for key in ("init_start_ms", "init_end_ms", "invoke_start_ms"):
            assert isinstance(result[key], float | int) and not isinstance(result[key], bool)
            assert result[key] > 1.7e12, (key, result[key])  # epoch ms, not seconds
            assert result[key] < 4e12, (key, result[key])
        assert result["init_start_ms"] <= result["init_end_ms"] <= result["invoke_start_ms"]
        assert re.fullmatch(RUNTIME_VERSION[family], result["runtime_version"])
        assert result["memory_mb"] == memory_mb
        assert result["payload"]["kind"] == kind
        assert isinstance(result["payload"]["bytes_loaded"], int)
    assert (first["invocation"], second["invocation"]) == (1, 2)
    assert first["sandbox_id"] == second["sandbox_id"]
    assert first["init_end_ms"] == second["init_end_ms"]  # init ran once
    assert second["invoke_start_ms"] > first["invoke_start_ms"]
    for i, (result, (_event, message)) in enumerate(zip(results[2:], BAD_EVENTS, strict=False)):
        assert result["error"] == message, (i, result)
        assert result["error_type"] == "InvalidEvent"
        assert result["invocation"] == 3 + i
        assert result["sandbox_id"] == first["sandbox_id"]
    last = results[-1]
    assert "error" not in last and last["invocation"] == len(EVENTS)  # still healthy
    assert math.isclose(last["init_start_ms"], first["init_start_ms"])


def unzip(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
        for info in archive.infolist():  # extractall drops the modes; Lambda keeps them
            if not info.is_dir() and (info.external_attr >> 16) & 0o111:
                (dest / info.filename).chmod(0o755)
    return dest


def run_python(code_dir: Path, events: list[Any], env: dict[str, str]) -> list[Any]:
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(code_dir)!r})\n"
        "import handler\n"
        "events = json.load(sys.stdin)\n"
        "print(json.dumps([handler.handler(e, None) for e in events]))\n"
    )
    return _run([sys.executable, "-c", script], events, env, code_dir)


def run_node(code_dir: Path, events: list[Any], env: dict[str, str]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: the nodejs fixture cannot be run on this machine")
    script = (
        f"const m = await import({json.dumps((code_dir / 'index.mjs').as_uri())});\n"
        "const chunks = [];\n"
        "for await (const c of process.stdin) chunks.push(c);\n"
        "const out = [];\n"
        "const events = JSON.parse(Buffer.concat(chunks).toString());\n"
        "for (const e of events) out.push(await m.handler(e, {}));\n"
        "console.log(JSON.stringify(out));\n"
    )
    return _run([node, "--input-type=module", "-e", script], events, env, code_dir)


_JAVA_DRIVER = """
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class Driver {
    public static void main(String[] args) throws Exception {
        bench.Handler handler = new bench.Handler();
        StringBuilder out = new StringBuilder("[");
        for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
            ByteArrayOutputStream result = new ByteArrayOutputStream();
            byte[] event = line.getBytes(StandardCharsets.UTF_8);
            handler.handleRequest(new ByteArrayInputStream(event), result);
            if (out.length() > 1) out.append(",");
            out.append(result.toString(StandardCharsets.UTF_8));
        }
        // UTF-8 whatever the locale: the handler's bytes are UTF-8, and so is Lambda.
        new java.io.PrintStream(System.out, true, StandardCharsets.UTF_8).println(out.append("]"));
    }
}
"""


def run_java(code_dir: Path, events: list[Any], env: dict[str, str]) -> list[Any]:
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.skip("javac/java not found: no JDK on this machine, the java fixture cannot run")
    driver_dir = code_dir.parent / "driver"
    driver_dir.mkdir(exist_ok=True)
    (driver_dir / "Driver.java").write_text(_JAVA_DRIVER)
    subprocess.run(
        [javac, "-cp", str(code_dir), "-d", str(driver_dir), str(driver_dir / "Driver.java")],
        check=True,
        timeout=120,
    )
    # One event per line: the driver feeds each one to the same Handler instance.
    lines = code_dir.parent / "events.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in events))
    command = [java, "-cp", f"{driver_dir}:{code_dir}", "Driver", str(lines)]
    return _run(command, [], env, code_dir)


def run_provided(code_dir: Path, events: list[Any], env: dict[str, str]) -> list[Any]:
    """The compiled bootstrap speaks the Runtime API itself: serve it one, event by event."""
    import platform
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"the x86_64 bootstrap cannot run on {platform.machine()}")
    pending = [json.dumps(e).encode() for e in events]
    results: list[Any] = []
    finished = threading.Event()

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept alive, as Lambda's Runtime API is
        # Headers and body are separate writes: with Nagle's algorithm each answer would
        # wait for the client's delayed ACK (40 ms an event)
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            assert self.path == "/2018-06-01/runtime/invocation/next", self.path
            if not pending:
                finished.set()
                finished.wait()
                return
            request_id = f"req-{len(results) + 1}"
            self._send(200, pending.pop(0), {"Lambda-Runtime-Aws-Request-Id": request_id})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.path == f"/2018-06-01/runtime/invocation/req-{len(results) + 1}/response"
            results.append(json.loads(body))
            self._send(202, b'{"status":"OK"}', {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    proc = subprocess.Popen(
        [str(code_dir / "bootstrap")],
        env={"AWS_LAMBDA_RUNTIME_API": address, "LAMBDA_TASK_ROOT": str(code_dir), **env},
        stderr=subprocess.PIPE,
    )
    try:
        exited = None
        while not finished.wait(0.05):
            exited = proc.poll()
            if exited is not None:
                break
        assert exited is None, proc.stderr.read() if proc.stderr else exited
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
        server.server_close()
    return results


def _run(command: list[str], events: list[Any], env: dict[str, str], cwd: Path) -> list[Any]:
    done = subprocess.run(
        command,
        input=json.dumps(events),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
