"""Invoke, the data plane: payload limits, invocation types, and the hand-over to sandboxes.

RequestResponse waits for the sandbox and maps its InvokeResult onto the response headers
(X-Amz-Function-Error, X-Amz-Log-Result, X-Amz-Executed-Version). Event answers 202 at
once and runs in the background, retrying throttles for a while as Lambda's internal
queue does. DryRun only checks that the call would be allowed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import TYPE_CHECKING

from bench.emulator.contracts import FunctionSpec, InvokeResult, Sandboxes, Throttled
from bench.emulator.errors import AwsError, invalid_param, state_conflict, too_many_requests
from bench.errors import BenchError

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.functions import Function, Registry

log = logging.getLogger(__name__)

MAX_SYNC_PAYLOAD = 6_291_456
MAX_ASYNC_PAYLOAD = 1_048_576
MAX_RESPONSE_PAYLOAD = 6_291_456
ASYNC_RETRY_FOR_S = 300.0
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
RUNNABLE = ("python", "nodejs", "java")  # runtimes the local sandboxes can start
# How long the local target held an invocation for this host's capacity (ms). AWS never
# sends it: there every environment has its own CPU.
QUEUED_HEADER = "X-Bench-Queued-Ms"


def _sandbox_refusal(spec: FunctionSpec, exc: BenchError) -> AwsError:
    if spec.runtime.startswith(RUNNABLE):
        body = {"Type": "Service", "Message": str(exc)}
        return AwsError("ServiceException", str(exc), 500, body=body)
    # Lambda's own code for a runtime it cannot start; the message says what the emulator runs.
    body = {"Type": "Service", "message": str(exc)}
    return AwsError("InvalidRuntimeException", str(exc), 502, body=body)


def _too_large_response() -> bytes:
    return json.dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({MAX_RESPONSE_PAYLOAD} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    ).encode()


class Invoker:
    def __init__(self, registry: Registry, sandboxes: Sandboxes) -> None:
        self.registry = registry
        self.sandboxes = sandboxes
        self.background: set[asyncio.Task[None]] = set()
        self.async_dropped = 0  # Event invokes given up after throttling for too long

    async def invoke(self, fn: Function, request: web.Request) -> web.Response:
        from aiohttp import web

        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind not in INVOCATION_TYPES:
            raise invalid_param(
                f"Unsupported InvocationType {kind!r}: use {', '.join(INVOCATION_TYPES)}."
            )
        payload = await request.read()
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            operation = "InvokeAsync" if kind == "Event" else "InvokeFunction"
            raise AwsError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {limit} bytes for the {operation} operation",
                413,
            )
        if fn.state != "Active" or fn.current is None:
            raise state_conflict(fn.state)
        spec = self.registry.spec(fn)
        if kind == "DryRun":
            return web.Response(status=204)
        if kind == "Event":
            task = asyncio.create_task(self._run_async(spec, payload, fn.reserved))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
            return web.Response(status=202)
        request_id = str(uuid.uuid4())
        tail = request.headers.get("X-Amz-Log-Type") == "Tail"
        try:
            result = await self.sandboxes.invoke(
                spec,
                payload,
                request_id=request_id,
                reserved_concurrency=fn.reserved,
                log_tail=tail,
            )
        except Throttled as exc:
            raise too_many_requests(exc.reason, exc.message) from exc
        except BenchError as exc:  # the sandbox layer refused: say why, without a traceback
            raise _sandbox_refusal(spec, exc) from exc
        return self._response(result, request_id, tail)

    @staticmethod
    def _response(result: InvokeResult, request_id: str, tail: bool) -> web.Response:
        from aiohttp import web

        headers = {
            "X-Amz-Executed-Version": result.executed_version or "$LATEST",
            "x-amzn-RequestId": result.request_id or request_id,
        }
        body, function_error = result.payload, result.function_error
        if len(body) > MAX_RESPONSE_PAYLOAD:
            body, function_error = _too_large_response(), "Unhandled"
        if function_error:
            headers["X-Amz-Function-Error"] = function_error
        if tail and result.log_tail is not None:
            headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail.encode()).decode()
        if result.queued_ms is not None:
            headers[QUEUED_HEADER] = f"{result.queued_ms:.3f}"
        return web.Response(body=body, status=200, content_type="application/json", headers=headers)

    async def _run_async(self, spec: FunctionSpec, payload: bytes, reserved: int | None) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ASYNC_RETRY_FOR_S
        delay = 0.2
        request_id = str(uuid.uuid4())
        while True:
            try:
                await self.sandboxes.invoke(
                    spec,
                    payload,
                    request_id=request_id,
                    reserved_concurrency=reserved,
                    log_tail=False,
                )
                return
            except Throttled:
                if loop.time() + delay > give_up:
                    self.async_dropped += 1
                    log.warning("async invoke of %s dropped after throttling", spec.name)
                    return
                await asyncio.sleep(delay)  # Lambda's queue backs off before retrying
                delay = min(delay * 2, 5.0)
            except BenchError as exc:  # an async invoke has no caller to report to
                log.warning("async invoke of %s refused: %s", spec.name, exc)
                return
            except Exception:
                log.exception("async invoke of %s failed", spec.name)
                return
