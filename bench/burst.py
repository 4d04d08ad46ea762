"""Concurrent invoker: N threads, connections opened beforehand, released by a barrier.

What a burst measures must be the platform, not the client: each thread warms its own
pooled HTTP connection before the start line (a DryRun invoke touches no sandbox), the
threads are released together, and every call is timed with perf_counter_ns from the
moment its thread was released to the last byte of the response.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

# While threads are released, hand the interpreter lock around quickly so the last
# thread is not held back behind the first one's request signing. Restored afterwards.
_BURST_SWITCH_INTERVAL_S = 0.0002
_switch_lock = threading.Lock()


@dataclass
class InvokeOutcome:
    """One invocation as the client saw it; run.py turns it into a record."""

    client_send_ns: int  # release time, ns since the run started
    client_latency_ms: float
    status: str  # success | error | timeout | throttled
    request_id: str | None = None
    error_type: str | None = None
    response: dict[str, Any] | None = None  # the fixture's JSON answer
    tail_lines: list[str] = field(default_factory=list)  # decoded X-Amz-Log-Result
    launch_skew_ms: float | None = None


@dataclass
class BurstResult:
    outcomes: list[InvokeOutcome]  # in payload order
    launch_skew_ms: float


def invoke_once(
    client: Any, function_name: str, payload: bytes, *, run_start_ns: int
) -> InvokeOutcome:
    """One synchronous invoke with the log tail; never retried (the client has none)."""
    start = time.perf_counter_ns()
    return _invoke_from(client, function_name, payload, start, run_start_ns)


def fire_burst(
    client: Any, function_name: str, payloads: list[bytes], *, run_start_ns: int
) -> BurstResult:
    """Invoke once per payload, all at the same moment; every outcome carries the skew."""
    n = len(payloads)
    if n == 0:
        return BurstResult([], 0.0)
    warmed = threading.Barrier(n)
    start_line = threading.Barrier(n + 1)
    released = [0] * n
    outcomes: list[InvokeOutcome | None] = [None] * n

    def worker(i: int) -> None:
        warmed.wait()
        # All threads dry-run at once so the pool holds n open connections afterwards.
        _dry_run(client, function_name)
        start_line.wait()
        released[i] = start = time.perf_counter_ns()
        try:
            outcomes[i] = _invoke_from(client, function_name, payloads[i], start, run_start_ns)
        except Exception as exc:  # a bug here must not hang the other threads' join
            latency = (time.perf_counter_ns() - start) / 1e6
            kind = f"Client.{type(exc).__name__}"
            outcomes[i] = InvokeOutcome(start - run_start_ns, latency, "error", error_type=kind)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    with _switch_lock:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(_BURST_SWITCH_INTERVAL_S)
        try:
            start_line.wait()
        finally:
            sys.setswitchinterval(previous)
    for thread in threads:
        thread.join()
    skew_ms = (max(released) - min(released)) / 1e6
    final: list[InvokeOutcome] = []
    for outcome in outcomes:
        assert outcome is not None  # every worker either returns an outcome or raises
        outcome.launch_skew_ms = skew_ms
        final.append(outcome)
    return BurstResult(final, skew_ms)


def _dry_run(client: Any, function_name: str) -> None:
    # Only the connection matters here; the real invoke reports real errors.
    with contextlib.suppress(Exception):
        client.invoke(FunctionName=function_name, InvocationType="DryRun")


def _invoke_from(
    client: Any, function_name: str, payload: bytes, start_ns: int, run_start_ns: int
) -> InvokeOutcome:
    send_ns = start_ns - run_start_ns
    try:
        response = client.invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            LogType="Tail",
            Payload=payload,
        )
        body = response["Payload"].read()
    except ClientError as exc:
        latency = (time.perf_counter_ns() - start_ns) / 1e6
        err = exc.response.get("Error", {})
        code = err.get("Code") or type(exc).__name__
        status_code = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        throttled = status_code == 429 or code == "TooManyRequestsException"
        return InvokeOutcome(
            client_send_ns=send_ns,
            client_latency_ms=latency,
            status="throttled" if throttled else "error",
            request_id=exc.response.get("ResponseMetadata", {}).get("RequestId") or None,
            error_type=code,
        )
    except ReadTimeoutError:
        latency = (time.perf_counter_ns() - start_ns) / 1e6
        return InvokeOutcome(send_ns, latency, "timeout", error_type="Client.ReadTimeout")
    except BotoCoreError as exc:
        latency = (time.perf_counter_ns() - start_ns) / 1e6
        return InvokeOutcome(send_ns, latency, "error", error_type=f"Client.{type(exc).__name__}")
    latency = (time.perf_counter_ns() - start_ns) / 1e6
    return _outcome_from_response(response, body, send_ns, latency)


def _outcome_from_response(
    response: dict[str, Any], body: bytes, send_ns: int, latency_ms: float
) -> InvokeOutcome:
    request_id = response.get("ResponseMetadata", {}).get("RequestId") or None
    tail = _decode_tail(response.get("LogResult"))
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    if response.get("FunctionError"):
        error_type = None
        if isinstance(document, dict):
            error_type = document.get("errorType")
        message = str(document.get("errorMessage", "")) if isinstance(document, dict) else ""
        timed_out = "timed out" in message.lower() or (error_type or "").endswith("Timedout")
        return InvokeOutcome(
            client_send_ns=send_ns,
            client_latency_ms=latency_ms,
            status="timeout" if timed_out else "error",
            request_id=request_id,
            error_type=error_type or response["FunctionError"],
            response=None,
            tail_lines=tail,
        )
    answer = document if isinstance(document, dict) else None
    # The fixture answers a malformed event with an error document, not a crash.
    refused = answer is not None and "error" in answer and "error_type" in answer
    return InvokeOutcome(
        client_send_ns=send_ns,
        client_latency_ms=latency_ms,
        status="error" if refused else "success",
        request_id=request_id,
        error_type=str(answer["error_type"]) if refused and answer else None,
        response=answer,
        tail_lines=tail,
    )


def _decode_tail(log_result: str | None) -> list[str]:
    if not log_result:
        return []
    try:
        text = base64.b64decode(log_result).decode("utf-8", errors="replace")
    except ValueError:
        return []
    return [line for line in text.splitlines() if line.strip()]
