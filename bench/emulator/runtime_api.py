"""One sandbox's Lambda Runtime API server (127.0.0.1, its own port or namespace).

It uses aiohttp's low-level server (no router, no middleware) because every warm invoke
crosses it twice and the overhead budget is two milliseconds in all. The timestamps that
become Init Duration and Duration are taken here, at the edges: the first GET /next, the
moment the event is written to the runtime, and the moment its response has arrived.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from aiohttp import web

PREFIX = "/2018-06-01/runtime/"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
_OK = b'{"status":"OK"}'

Outcome = Literal["response", "error"]
_OUTCOMES = ("response", "error")


@dataclass
class Posted:
    """What the runtime posted for an invocation (or for init)."""

    kind: Outcome
    body: bytes
    error_type: str | None
    at_ns: int  # perf_counter_ns when it had fully arrived


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    handed_ns: int | None = None  # perf_counter_ns once the event was written out
    handed: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    done: asyncio.Future[Posted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _json(status: int, doc: dict[str, str]) -> web.Response:
    from aiohttp import web

    return web.Response(
        status=status, body=json.dumps(doc).encode(), content_type="application/json"
    )


class RuntimeApi:
    """The state machine of one execution environment, seen from its runtime."""

    def __init__(self) -> None:
        self.port = 0
        self.first_next_ns: int | None = None
        self.first_next_epoch_ms: int | None = None
        self.init_error: Posted | None = None
        self.init_settled: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending: Invocation | None = None  # dispatched, not yet picked up
        self._current: Invocation | None = None  # picked up, not yet answered
        self._parked: asyncio.Future[None] | None = None  # a long-polling GET /next
        self._server: asyncio.AbstractServer | None = None
        self._handler: web.Server | None = None

    def prepare(self) -> None:
        """Import and build the server now (the first import of aiohttp's server takes a
        while), so that serving later costs the sandbox nothing."""
        if self._handler is None:
            from aiohttp import web

            self._handler = web.Server(self._handle)

    async def start(self, listener: socket.socket | None = None) -> None:
        """Serve on a fresh loopback port, or on `listener`: an isolated sandbox's socket,
        listening in that sandbox's own network namespace (bench.emulator.isolation)."""
        self.prepare()
        sock = listener
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._handler, sock=sock, backlog=16)  # type: ignore[arg-type]

    async def close(self) -> None:
        if self._parked is not None and not self._parked.done():
            self._parked.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def dispatch(self, inv: Invocation) -> None:
        """Hand `inv` to the runtime now if it is polling, else when it next asks."""
        self._pending = inv
        if self._parked is not None and not self._parked.done():
            self._parked.set_result(None)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        path = request.path
        if not path.startswith(PREFIX):
            return _json(404, {"errorType": "NotFound", "errorMessage": path})
        parts = path[len(PREFIX) :].split("/")
        if request.method == "GET" and parts == ["invocation", "next"]:
            return await self._next(request)
        is_post = request.method == "POST"
        if is_post and len(parts) == 3 and parts[0] == "invocation" and parts[2] in _OUTCOMES:
            return await self._post(request, parts[1], parts[2])  # type: ignore[arg-type]
        if is_post and parts == ["init", "error"]:
            return await self._init_error(request)
        return web.Response(status=404, text="unknown Runtime API path")

    async def _next(self, request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        if self.first_next_ns is None:
            self.first_next_ns = time.perf_counter_ns()
            self.first_next_epoch_ms = time.time_ns() // 1_000_000
            if not self.init_settled.done():
                self.init_settled.set_result("ready")
        if self._current is not None and not self._current.done.done():
            return _json(
                403,
                {
                    "errorType": "InvalidStateTransition",
                    "errorMessage": "GET /next before the current invocation was answered",
                },
            )
        while self._pending is None:
            self._parked = asyncio.get_running_loop().create_future()
            await self._parked
        inv, self._pending = self._pending, None
        self._current = inv
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            },
        )
        resp.content_length = len(inv.payload)
        await resp.prepare(request)
        await resp.write_eof(inv.payload)  # headers and body leave in one send
        inv.handed_ns = time.perf_counter_ns()
        if not inv.handed.done():
            inv.handed.set_result(inv.handed_ns)
        return resp

    async def _read_capped(self, request: web.BaseRequest) -> bytes | None:
        """The body, or None when it is over the 6 MB response limit."""
        length = request.content_length
        if length is not None and length > MAX_RESPONSE_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _post(self, request: web.BaseRequest, request_id: str, kind: Outcome) -> web.Response:
        from aiohttp import web

        inv = self._current
        if inv is None or inv.request_id != request_id or inv.done.done():
            return _json(
                403,
                {
                    "errorType": "InvalidStateTransition",
                    "errorMessage": f"no open invocation {request_id}",
                },
            )
        body = await self._read_capped(request)
        if body is None:
            inv.done.set_result(
                Posted(
                    "error",
                    json.dumps(
                        {
                            "errorMessage": "Response payload size exceeded maximum "
                            f"allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                            "errorType": "Function.ResponseSizeTooLarge",
                        }
                    ).encode(),
                    "Function.ResponseSizeTooLarge",
                    time.perf_counter_ns(),
                )
            )
            return _json(
                413, {"errorType": "RequestEntityTooLarge", "errorMessage": "response over 6 MB"}
            )
        error_type = (
            request.headers.get("Lambda-Runtime-Function-Error-Type") if kind == "error" else None
        )
        inv.done.set_result(Posted(kind, body, error_type, time.perf_counter_ns()))
        return web.Response(status=202, body=_OK, content_type="application/json")

    async def _init_error(self, request: web.BaseRequest) -> web.Response:
        from aiohttp import web

        if self.first_next_ns is not None or self.init_error is not None:
            return _json(
                403,
                {
                    "errorType": "InvalidStateTransition",
                    "errorMessage": "init error after init ended",
                },
            )
        body = await request.content.read()
        self.init_error = Posted(
            "error",
            body,
            request.headers.get("Lambda-Runtime-Function-Error-Type"),
            time.perf_counter_ns(),
        )
        if not self.init_settled.done():
            self.init_settled.set_result("error")
        return web.Response(status=202, body=_OK, content_type="application/json")
