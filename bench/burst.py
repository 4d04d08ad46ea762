"""Concurrent invoker: N threads, each with its request signed and its connection open,
released together.

What a burst measures must be the platform, not the client. botocore serialises and
signs every request (the CPU-heavy part) before the start line; each thread then opens
its own connection (TCP and TLS) and parks. The threads are released by per-thread locks
and write their prepared bytes straight to the socket, so the launch skew is the time to
wake N threads, not N trips through urllib3 under the GIL. Client latency runs from the
release to the last byte of the response (perf_counter_ns); botocore parses responses
as usual, and nothing is retried.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import ssl
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import get_cert_path

from bench.aws_errors import code_or_type
from bench.logs import tail_lines

# While parked threads are released, hand the interpreter lock around quickly so a
# released thread's socket write does not hold back the next thread's release.
_RELEASE_SWITCH_INTERVAL_S = 0.0001
_switch_lock = threading.Lock()
# Per thread: the burst gate this thread's next Invoke must wait at, and when it passed.
_local = threading.local()
_GATE_HOOK_ID = "bench-burst-gate"
PARK_TIMEOUT_S = 120.0
# A target that holds work for its own capacity says for how long (ms); AWS never does.
QUEUED_HEADER = "x-bench-queued-ms"
# ... and what contended with the invocation that it could not prevent ("none" if nothing).
CONTENTION_HEADER = "x-bench-contention"


class _Gate:
    """Where signed requests wait: every thread parks, then each is released by its own
    lock. A per-thread lock wakes a thread without the hand-over of a shared condition,
    which would release the threads one after another."""

    def __init__(self, n: int, timeout_s: float, raw: bool) -> None:
        self.timeout_s = timeout_s
        self.raw = raw  # False behind a proxy: then botocore sends, proxy and all
        self.parked = threading.Barrier(n + 1, timeout=PARK_TIMEOUT_S)
        self.locks = [threading.Lock() for _ in range(n)]
        for lock in self.locks:
            lock.acquire()


def _gate_hook(request: Any, **_: Any) -> Any:
    """botocore `before-send` for Invoke in a burst. By now the request is serialised and
    signed; this opens its connection, parks, and once released writes the prepared bytes
    itself. urllib3's send path costs a few hundred microseconds of interpreter time per
    request, and under the GIL fifty of those in a row would be the burst's skew."""
    gate = getattr(_local, "gate", None)
    if gate is None:
        return None  # not in a burst: botocore sends as usual
    _local.gate = None
    sender: _RawSender | None = None
    failure: Exception | None = None
    if gate.raw:
        try:
            sender = _RawSender(request, gate.timeout_s)
        except OSError as exc:
            failure = exc
    _park(gate)
    gate.locks[_local.index].acquire(timeout=PARK_TIMEOUT_S)
    _local.released_ns = time.perf_counter_ns()
    if failure is not None:
        raise EndpointConnectionError(endpoint_url=request.url, error=failure)
    return sender.send() if sender is not None else None


class _Body:
    """The part of urllib3's response botocore reads: read(amt) and stream()."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def read(self, amt: int | None = None) -> bytes:
        return self._buffer.read(amt) if amt is not None else self._buffer.read()

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._buffer.read()

    def close(self) -> None:
        self._buffer.close()


class _RawSender:
    """One signed request on its own connection, opened (TCP and TLS) before the gate."""

    def __init__(self, request: Any, timeout_s: float) -> None:
        self.url = request.url
        parts = urlsplit(request.url)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=get_cert_path(True))
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout_s, context=context
            )
        else:
            self.conn = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=timeout_s
            )
        self.method = request.method
        self.wire = _wire_bytes(request, parts)
        self.conn.connect()

    def send(self) -> AWSResponse:
        sock = self.conn.sock
        try:
            sock.sendall(self.wire)
            response = http.client.HTTPResponse(sock, method=self.method)
            response.begin()
            data = response.read()
            return AWSResponse(self.url, response.status, response.getheaders(), _Body(data))
        except TimeoutError:
            raise ReadTimeoutError(endpoint_url=self.url) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionClosedError(endpoint_url=self.url, error=exc) from None
        finally:
            self.conn.close()


def _wire_bytes(request: Any, parts: SplitResult) -> bytes:
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {_host_header(parts)}"]
    for name, value in request.headers.items():
        if name.lower() in ("host", "content-length", "connection"):
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        lines.append(f"{name}: {text}")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + bytes(body)


def _host_header(parts: SplitResult) -> str:
    """Host exactly as SigV4 signed it: the port only when it is not the scheme's default."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _proxied(client: Any) -> bool:
    """Whether this client's requests go through a proxy (configured or from the
    environment), which only botocore's own sender knows how to use."""
    if client.meta.config.proxies:
        return True
    parts = urlsplit(client.meta.endpoint_url)
    proxies = urllib.request.getproxies()
    return parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or "")


def _park(gate: _Gate) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):
        gate.parked.wait()


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
    queued_ms: float | None = None  # the target's X-Bench-Queued-Ms; None when it is silent
    contention: list[str] | None = None  # the target's X-Bench-Contention; None when silent
    error_message: str | None = None  # the function's errorMessage, or the API's message
    body: bytes = b""  # the function's answer as sent (a user's function's is kept in part)
    # driver: lambda: how far the driver that fired it started from the planned instant
    driver_skew_ms: float | None = None
    # The Lambda API answered with its own error (throttled, not found, refused, a service
    # error...), not the function's result: no sandbox ran it to an answer, no REPORT to wait for
    refused: bool = False


@dataclass
class BurstResult:
    outcomes: list[InvokeOutcome]  # in payload order
    launch_skew_ms: float
    released_epoch_ns: int = 0  # time.time_ns() when the gate opened


def invoke_once(
    client: Any, function_name: str, payload: bytes, *, run_start_ns: int
) -> InvokeOutcome:
    """One synchronous invoke with the log tail; never retried (the client has none)."""
    return _invoke_from(client, function_name, payload, run_start_ns)


def fire_burst(
    client: Any,
    function_name: str,
    payloads: list[bytes],
    *,
    run_start_ns: int,
    release_at_epoch_ns: int | None = None,
) -> BurstResult:
    """Invoke once per payload, all at the same moment; every outcome carries the skew.

    Each thread opens its pooled connection first (all DryRun at once), then builds and
    signs its request and parks just before sending; the launch is timed from the
    release of each parked thread. With `release_at_epoch_ns` the parked threads are
    released at that instant (wall clock), not as soon as they are ready: several bursts
    fired from several places then start together."""
    n = len(payloads)
    if n == 0:
        return BurstResult([], 0.0)
    client.meta.events.register("before-send.lambda.Invoke", _gate_hook, unique_id=_GATE_HOOK_ID)
    gate = _Gate(
        n, timeout_s=float(client.meta.config.read_timeout or 60), raw=not _proxied(client)
    )
    outcomes: list[InvokeOutcome | None] = [None] * n
    released = [0] * n

    def worker(i: int) -> None:
        _local.gate, _local.index = gate, i
        try:
            outcomes[i] = _invoke_from(client, function_name, payloads[i], run_start_ns)
        except Exception as exc:  # a bug here must not hang the other threads' join
            kind = f"Client.{type(exc).__name__}"
            outcomes[i] = InvokeOutcome(
                time.perf_counter_ns() - run_start_ns, 0.0, "error", error_type=kind
            )
        finally:
            if getattr(_local, "gate", None) is gate:  # failed before reaching the gate
                _local.gate = None
                _park(gate)
        released[i] = getattr(_local, "released_ns", 0) or time.perf_counter_ns()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    _park(gate)
    if release_at_epoch_ns is not None:
        _sleep_until(release_at_epoch_ns)
    released_epoch_ns = time.time_ns()
    with _switch_lock:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(_RELEASE_SWITCH_INTERVAL_S)
        try:
            for lock in gate.locks:
                lock.release()
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
    return BurstResult(final, skew_ms, released_epoch_ns)


def _sleep_until(epoch_ns: int) -> None:
    """Coarse sleep, then a short spin: the release lands within tens of microseconds."""
    while (left := epoch_ns - time.time_ns()) > 0:
        time.sleep(left / 1e9 - 0.002 if left > 3_000_000 else 0)


def _invoke_from(
    client: Any, function_name: str, payload: bytes, run_start_ns: int
) -> InvokeOutcome:
    _local.released_ns = None
    called_ns = time.perf_counter_ns()
    failure: Exception | None = None
    try:
        response = client.invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            LogType="Tail",
            Payload=payload,
        )
        body = response["Payload"].read()
    except (ClientError, BotoCoreError) as exc:
        response, body, failure = {}, b"", exc
    # In a burst the clock starts when the gate opened, not when signing began.
    start_ns = _local.released_ns or called_ns
    latency = (time.perf_counter_ns() - start_ns) / 1e6
    send_ns = start_ns - run_start_ns
    if failure is not None:
        outcome = _outcome_from_error(failure, send_ns, latency)
        error_response = failure.response if isinstance(failure, ClientError) else {}
        meta = error_response.get("ResponseMetadata", {})
    else:
        outcome = _outcome_from_response(response, body, send_ns, latency)
        meta = response.get("ResponseMetadata", {})
    # Both senders (botocore's and the burst's raw one) end in botocore's parsed response,
    # so this is the one place the target's own headers are read.
    headers = meta.get("HTTPHeaders") or {}
    outcome.queued_ms = _queued_ms(headers)
    outcome.contention = _contention(headers)
    return outcome


def _contention(headers: dict[str, str]) -> list[str] | None:
    raw = headers.get(CONTENTION_HEADER)
    if raw is None:
        return None
    reasons = [part.strip() for part in raw.split(",")]
    return sorted({r for r in reasons if r and r != "none"})


def _queued_ms(headers: dict[str, str]) -> float | None:
    raw = headers.get(QUEUED_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _outcome_from_error(exc: Exception, send_ns: int, latency_ms: float) -> InvokeOutcome:
    if isinstance(exc, ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        code = code_or_type(exc)
        throttled = meta.get("HTTPStatusCode") == 429 or code == "TooManyRequestsException"
        return InvokeOutcome(
            client_send_ns=send_ns,
            client_latency_ms=latency_ms,
            status="throttled" if throttled else "error",
            request_id=meta.get("RequestId") or None,
            error_type=code,
            error_message=str(exc.response.get("Error", {}).get("Message") or "") or None,
            refused=True,
        )
    if isinstance(exc, ReadTimeoutError):
        return InvokeOutcome(send_ns, latency_ms, "timeout", error_type="Client.ReadTimeout")
    return InvokeOutcome(send_ns, latency_ms, "error", error_type=f"Client.{type(exc).__name__}")


def _outcome_from_response(
    response: dict[str, Any], body: bytes, send_ns: int, latency_ms: float
) -> InvokeOutcome:
    request_id = response.get("ResponseMetadata", {}).get("RequestId") or None
    tail = tail_lines(response.get("LogResult"))
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
            error_message=message or None,
            body=body,
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
        body=body,
    )
