"""Invoke, the data plane: payload limits, invocation types, and the hand-over to sandboxes.

RequestResponse waits for the sandbox and maps its InvokeResult onto the response headers
(X-Amz-Function-Error, X-Amz-Log-Result, X-Amz-Executed-Version). Event answers 202 at
once and hands the event to Lambda's internal queue (events.py). DryRun only checks that
the call would be allowed. Every kind runs under the request id of the API request, and
checks its payload as Lambda does first (empty is `{}`, anything else must be JSON).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bench.emulator.account import AccountSettings, UnreservedPool
from bench.emulator.contracts import FunctionSpec, InvokeResult, Sandboxes, Throttled
from bench.emulator.errors import (
    AwsError,
    EmulatorError,
    invalid_param,
    state_conflict,
    too_many_requests,
)
from bench.emulator.events import EventQueue
from bench.emulator.validate import check_payload
from bench.emulator.versions import LATEST

if TYPE_CHECKING:
    from bench.emulator.functions import Function, Registry

log = logging.getLogger(__name__)

MAX_SYNC_PAYLOAD = 6_291_456
MAX_ASYNC_PAYLOAD = 1_048_576
MAX_RESPONSE_PAYLOAD = 6_291_456
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
RUNNABLE = ("python", "nodejs", "java", "provided.")  # runtimes the local sandboxes can start
# How long the local target held an invocation for this host's capacity (ms). AWS never
# sends it: there every environment has its own CPU.
QUEUED_HEADER = "X-Bench-Queued-Ms"
# The id the server answers a request under (set by its middleware for every request).
REQUEST_ID = web.RequestKey("request_id", str)
# What contended with the invocation that the target could not prevent (reason codes,
# comma-separated, or "none"); see bench/emulator/hostload.py.
CONTENTION_HEADER = "X-Bench-Contention"


def _sandbox_refusal(spec: FunctionSpec, exc: EmulatorError) -> AwsError:
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
    def __init__(
        self, registry: Registry, sandboxes: Sandboxes, pool: UnreservedPool | None = None
    ) -> None:
        self.registry = registry
        self.sandboxes = sandboxes
        self.events = EventQueue(sandboxes)
        self.pool = pool or UnreservedPool(AccountSettings())

    @property
    def background(self) -> set[asyncio.Task[None]]:
        return self.events.tasks

    @property
    def async_dropped(self) -> int:
        """Event invokes given up: retries exhausted or older than their maximum age."""
        return self.events.dropped

    async def invoke(
        self, fn: Function, request: web.Request, version: str = LATEST
    ) -> web.Response:
        """Invoke `version` of `fn`: "$LATEST" or a published version (an alias resolved)."""
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
        payload = check_payload(payload)
        if fn.state != "Active" or fn.current is None:
            raise state_conflict(fn.state)
        if version != LATEST and fn.versions[version].state != "Active":
            raise state_conflict(fn.versions[version].state)
        spec = self.registry.spec(fn, version)
        # The id the API request is answered under is the invocation's, as on Lambda.
        request_id = request.get(REQUEST_ID) or str(uuid.uuid4())
        if kind == "DryRun":
            return web.Response(status=204)
        if kind == "Event":
            self.events.submit(fn.name, request_id, payload, self._resolver(fn.name, version))
            return web.Response(status=202, headers={"x-amzn-RequestId": request_id})
        tail = request.headers.get("X-Amz-Log-Type") == "Tail"
        result = await self.call(fn, spec, payload, request_id, tail=tail)
        return self._response(result, request_id, tail)

    async def call(
        self, fn: Function, spec: FunctionSpec, payload: bytes, request_id: str, *, tail: bool
    ) -> InvokeResult:
        """Run one synchronous invocation in a sandbox (Invoke, and a function URL's)."""
        shared = fn.reserved is None  # draws on the account's unreserved pool
        if shared:
            self.pool.enter(self.registry.reserved_total())
        try:
            return await self.sandboxes.invoke(
                spec,
                payload,
                request_id=request_id,
                reserved_concurrency=fn.reserved,
                log_tail=tail,
            )
        except Throttled as exc:
            raise too_many_requests(exc.reason, exc.message) from exc
        except EmulatorError as exc:  # the sandbox layer refused: say why, without a traceback
            raise _sandbox_refusal(spec, exc) from exc
        finally:
            if shared:
                self.pool.leave()

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
        if result.contention is not None:
            headers[CONTENTION_HEADER] = ",".join(result.contention) or "none"
        return web.Response(body=body, status=200, content_type="application/json", headers=headers)

    def _resolver(
        self, name: str, version: str = LATEST
    ) -> Callable[[], tuple[FunctionSpec, int | None] | None]:
        """Each retry runs the function (or its version) as it is then, or not at all once
        it is deleted."""

        def resolve() -> tuple[FunctionSpec, int | None] | None:
            try:
                fn = self.registry.get(name, qualifier=version)
            except AwsError:
                return None
            if fn.current is None:
                return None
            return self.registry.spec(fn, version), fn.reserved

        return resolve
