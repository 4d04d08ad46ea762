"""One execution environment: an OS process + its Runtime API server, INIT_START to REPORT.

It turns what the runtime does (GET /next, responses, errors, exit, memory growth) into
an InvokeResult and Lambda's platform lines: timeouts kill the process tree and log
`Status: timeout`, a tree past its memory size is killed as Runtime.OutOfMemory, an init
that fails or outlasts the 10 s phase limit gives INIT_REPORT and an Unhandled error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from bench.emulator import cgroups, isolation
from bench.emulator import platform_lines as pl
from bench.emulator.contracts import (
    FunctionSpec,
    InvokeResult,
    LogSink,
)
from bench.emulator.measure import billed_ms, tree_peak_mb, vm_hwm_kb
from bench.emulator.process import SandboxProcess
from bench.emulator.runtime_api import Invocation, Posted, RuntimeApi
from bench.emulator.runtimes import HERE as RUNTIMES_DIR
from bench.emulator.runtimes import Launch, runtime_version_arn, runtimes_dir
from bench.lambda_limits import INIT_LIMIT_S

OOM_POLL_S = 0.02
TAIL_BYTES = 4096
SANDBOX_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
STOP_GRACE_S = 0.2


def _doc(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Sandbox:
    """One execution environment, from INIT_START to its last REPORT."""

    def __init__(
        self,
        spec: FunctionSpec,
        launch: Launch,
        sink: LogSink,
        group: cgroups.SandboxGroup | None,
        jail: isolation.Support | None = None,
        *,
        init_type: str = "on-demand",
        serve_endpoint: Any = None,
    ) -> None:
        self.spec = spec
        self.serve_endpoint = serve_endpoint  # SandboxSettings.serve_endpoint
        self._endpoint_stop: Any = None
        # on-demand, or provisioned-concurrency: initialised ahead, and its first REPORT
        # then shows no Init Duration (the init was not part of any invocation).
        self.init_type = init_type
        self.jail = jail  # None: a plain process, the host's view
        self.launch = launch
        self.sink = sink
        self.group = group
        self.instance_id = secrets.token_hex(16)
        self.stream = pl.log_stream_name(spec.version)
        self.json = spec.log_format == "JSON"
        self.api = RuntimeApi()
        self.proc = SandboxProcess(self._emit_many, group)
        self.share = cgroups.cpu_share(spec.memory_mb)
        self.invocations = 0
        self.init_ms: float | None = None
        self.peak_mb = 0.0
        self.retired = False
        self.broken = False  # timed out, died or failed init: never reused
        self.idle_timer: asyncio.TimerHandle | None = None
        self.born = time.monotonic()  # for the eviction policy's max_lifetime_s
        self._tail: collections.deque[str] = collections.deque()
        self._tail_bytes = 0
        self._spawn_ns = 0

    # -- logging -------------------------------------------------------------------------
    def _emit(self, epoch_ms: int, message: str) -> None:
        self._emit_many([(epoch_ms, message)])

    def _emit_many(self, events: list[tuple[int, str]]) -> None:
        for _, message in events:
            self._tail.append(message)
            self._tail_bytes += len(message) + 1
        # Keep a little over what the tail can show, not a chatty function's whole output.
        while self._tail_bytes > 2 * TAIL_BYTES and len(self._tail) > 1:
            self._tail_bytes -= len(self._tail.popleft()) + 1
        self.sink.put_events(self.spec.log_group, self.stream, events)

    def _reset_tail(self) -> None:
        self._tail.clear()
        self._tail_bytes = 0

    def _tail_text(self) -> str:
        # The tail is the events' messages end to end; most already end in a newline.
        raw = "".join(m if m.endswith("\n") else m + "\n" for m in self._tail).encode()
        return raw[-TAIL_BYTES:].decode("utf-8", "ignore")

    def _env(self) -> dict[str, str]:
        s = self.spec
        env = dict(s.environment)  # reserved names below win, as Lambda forbids overriding them
        env.update(
            {
                "_HANDLER": s.handler,
                "AWS_REGION": s.region,
                "AWS_DEFAULT_REGION": s.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{s.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": s.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(s.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": s.version,
                "AWS_LAMBDA_LOG_GROUP_NAME": s.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "AWS_LAMBDA_INITIALIZATION_TYPE": self.init_type,
                "LAMBDA_TASK_ROOT": str(s.code_dir),
                "LAMBDA_RUNTIME_DIR": str(RUNTIMES_DIR),
                "TZ": "UTC",
                "LANG": "en_US.UTF-8",
                "PATH": SANDBOX_PATH,
            }
        )
        if self.json:
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env.update(s.platform_env)  # the role's session credentials, as Lambda gives them
        env.update(self.launch.env)
        return env

    # -- init ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.jail is not None:
            await self._start_isolated(self.jail)
            return
        await self.api.start()
        env = self._env()
        self._spawn_ns, spawn_epoch_ns = self.proc.spawn(self.launch.argv, env, self.spec.code_dir)
        self._init_start(spawn_epoch_ns)

    async def _start_isolated(self, support: isolation.Support) -> None:
        """Spawn inside bubblewrap; Init Duration runs from the runtime's exec, after the
        sandbox is set up (as Lambda's environment exists before INIT begins)."""
        self.api.prepare()
        env = self._env()
        env["AWS_LAMBDA_RUNTIME_API"] = isolation.RUNTIME_API_ADDRESS
        env["LAMBDA_TASK_ROOT"] = str(isolation.TASK_ROOT)
        jailed = isolation.jail(
            support,
            self.launch.argv,
            env,
            code_dir=self.spec.code_dir,
            tmp_mb=self.spec.ephemeral_mb,
            extra_ro=(RUNTIMES_DIR, *[d for d in [runtimes_dir()] if d.is_dir()]),
            endpoint_port=self.spec.endpoint_port if self.serve_endpoint else 0,
        )
        try:
            self._spawn_ns, spawn_epoch_ns = self.proc.spawn(
                jailed.argv, env, self.spec.code_dir, pass_fds=jailed.pass_fds, hold_output=True
            )
        finally:
            jailed.after_spawn()
        handed = await jailed.handover(self.proc.exited)
        if handed is None:  # bubblewrap or the launcher failed: its message is in the log
            self._init_start(spawn_epoch_ns)
            self.proc.release_output()
            await self.proc.kill()
            return
        spawn_epoch_ns += handed.exec_ns - self._spawn_ns
        self._spawn_ns = handed.exec_ns
        self._init_start(spawn_epoch_ns)  # still the first line: output was held until now
        self.proc.release_output()
        self.proc.adopt(handed.runtime_pid)
        if handed.endpoint is not None and self.serve_endpoint is not None:
            # The endpoint on this sandbox's own loopback: its network stays its own.
            self._endpoint_stop = await self.serve_endpoint(handed.endpoint)
        await self.api.start(handed.listener)

    def _init_start(self, spawn_epoch_ns: int) -> None:
        spawn_ms = spawn_epoch_ns // 1_000_000
        version = self.launch.runtime_version
        arn = runtime_version_arn(self.spec.region, version, self.launch.argv[0])
        # Emitted after the spawn but stamped with its time, and before the loop can read
        # any of the runtime's output, so it is still the stream's first line.
        self._emit(
            spawn_ms,
            pl.init_start(
                version,
                arn,
                json_format=self.json,
                epoch_ms=spawn_ms,
                function_name=self.spec.name,
                function_version=self.spec.version,
                instance_id=self.instance_id,
                memory_mb=self.spec.memory_mb,
                init_type=self.init_type,
            ),
        )

    async def wait_init(self) -> tuple[str, str | None, bytes]:
        """('ready'|'error'|'timeout', error type, error document) once init settles."""
        waits: set[asyncio.Future[Any]] = {self.api.init_settled, self.proc.exited}
        done, _ = await asyncio.wait(
            waits,
            timeout=INIT_LIMIT_S,
            return_when=asyncio.FIRST_COMPLETED,
        )
        api = self.api
        self._record_peak()  # before an init failure ends the process
        if api.first_next_ns is not None:
            self.init_ms = (api.first_next_ns - self._spawn_ns) / 1e6
            if self.group is not None:
                self.group.end_init()
            return "ready", None, b""
        self.broken = True
        if api.init_error is not None:
            self.init_ms = (api.init_error.at_ns - self._spawn_ns) / 1e6
            err = api.init_error
            etype = err.error_type or _error_type_of(err.body) or "Runtime.Unknown"
            return "error", etype, err.body
        self.init_ms = (time.perf_counter_ns() - self._spawn_ns) / 1e6
        if not done:
            # INIT_REPORT and REPORT name no error type for an init timeout, only the status.
            return (
                "timeout",
                None,
                _doc("Sandbox.Timedout", f"INIT phase timed out after {INIT_LIMIT_S:.2f} seconds"),
            )
        code = self.proc.returncode
        return (
            "error",
            "Runtime.ExitError",
            _doc("Runtime.ExitError", f"Error: Runtime exited with error: {_exit_text(code)}"),
        )

    def init_failed(
        self, request_id: str, status: str, etype: str | None, doc: bytes, want_tail: bool
    ) -> InvokeResult:
        """Lambda's answer to an invoke whose sandbox could not initialise."""
        self.proc.drain()
        init_ms = self.init_ms or 0.0
        now = _now_ms()
        self._emit(now, pl.init_report(init_ms, status, etype, json_format=self.json, epoch_ms=now))
        t0 = time.perf_counter_ns()
        self._emit(
            now, pl.start(request_id, self.spec.version, json_format=self.json, epoch_ms=now)
        )
        duration = (time.perf_counter_ns() - t0) / 1e6
        self._finish(
            request_id,
            duration,
            init_ms,
            status,
            etype,
        )
        return InvokeResult(
            payload=doc,
            function_error="Unhandled",
            request_id=request_id,
            executed_version=self.spec.version,
            log_tail=self._tail_text() if want_tail else None,
        )

    # -- invoke --------------------------------------------------------------------------
    async def invoke(self, payload: bytes, request_id: str, want_tail: bool) -> InvokeResult:
        first = self.invocations == 0 and self.init_type == "on-demand"
        self.invocations += 1
        if not first:
            self._reset_tail()  # a cold invoke's tail keeps its INIT lines, as Lambda's does
        spec = self.spec
        now = _now_ms()
        self._emit(now, pl.start(request_id, spec.version, json_format=self.json, epoch_ms=now))
        inv = Invocation(request_id, payload, now + spec.timeout_s * 1000, spec.arn, _trace_id())
        dispatched = time.perf_counter_ns()
        self.api.dispatch(inv)
        oom: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop_watching = self._watch_memory(oom)
        try:
            waits: set[asyncio.Future[Any]] = {inv.done, self.proc.exited, oom}
            done, _ = await asyncio.wait(
                waits, timeout=spec.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            # The timeout runs from the hand-over, which may trail the dispatch a little.
            late_s = ((inv.handed_ns or dispatched) - dispatched) / 1e9
            if not done and late_s > 0:
                await asyncio.wait(waits, timeout=late_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_watching()
        started = inv.handed_ns or dispatched
        if inv.done.done():
            posted = inv.done.result()
            return self._answered(inv, posted, (posted.at_ns - started) / 1e6, first, want_tail)
        duration = (time.perf_counter_ns() - started) / 1e6
        self.broken = True
        status, etype, doc, line = self._failure(request_id, oom.done())
        self._record_peak()
        await self.proc.kill()
        if line:
            self._emit(_now_ms(), line)
        self._finish(request_id, duration, self.init_ms if first else None, status, etype)
        return InvokeResult(
            payload=doc,
            function_error="Unhandled",
            request_id=request_id,
            executed_version=spec.version,
            log_tail=self._tail_text() if want_tail else None,
        )

    def _failure(self, request_id: str, over_memory: bool) -> tuple[str, str | None, bytes, str]:
        """(status, error type, error document, extra log line) of an unanswered invoke."""
        exited = f"RequestId: {request_id} Error: Runtime exited with error: "
        if over_memory or self._kernel_oom():
            kind = "Runtime.OutOfMemory"
            return "error", kind, _doc(kind, exited + "signal: killed"), ""
        if self.proc.exited.done():
            kind = "Runtime.ExitError"
            return "error", kind, _doc(kind, exited + _exit_text(self.proc.returncode)), ""
        # Lambda logs this line and returns it as the error message, word for word.
        line = pl.timed_out(request_id, self.spec.timeout_s, _now_ms())
        return "timeout", None, _doc("Sandbox.Timedout", line), line

    def _answered(
        self, inv: Invocation, posted: Posted, duration: float, first: bool, want_tail: bool
    ) -> InvokeResult:
        self.proc.drain()
        failed = posted.kind == "error"
        etype = (posted.error_type or _error_type_of(posted.body)) if failed else None
        self._finish(
            inv.request_id,
            duration,
            self.init_ms if first else None,
            "error" if failed else "success",
            etype,
            measure=True,
            status_in_text=False,
        )
        return InvokeResult(
            payload=posted.body,
            function_error="Unhandled" if failed else None,
            request_id=inv.request_id,
            executed_version=self.spec.version,
            log_tail=self._tail_text() if want_tail else None,
        )

    def _finish(
        self,
        request_id: str,
        duration: float,
        init_ms: float | None,
        status: str,
        etype: str | None,
        *,
        measure: bool = False,
        status_in_text: bool = True,
    ) -> None:
        """END and REPORT; `init_ms` (first invoke only) is shown and billed."""
        if measure:
            self._record_peak()
        rep = pl.Report(
            request_id,
            duration,
            billed_ms(duration, init_ms),
            self.spec.memory_mb,
            math.ceil(self.peak_mb),
            init_ms,
            status,
            etype,
        )
        now = _now_ms()
        if not self.json and not status_in_text:
            # Lambda's text REPORT names a status only for timeouts and runtime failures.
            rep = pl.Report(
                rep.request_id,
                rep.duration_ms,
                rep.billed_ms,
                rep.memory_mb,
                rep.max_memory_used_mb,
                rep.init_duration_ms,
            )
        self._emit_many(
            [
                (now, pl.end(request_id, status, json_format=self.json, epoch_ms=now)),
                (now, pl.report(rep, json_format=self.json, epoch_ms=now)),
            ]
        )

    def _record_peak(self) -> None:
        pids = self.proc.tree() if self.proc.alive else []
        self.peak_mb = max(self.peak_mb, tree_peak_mb(pids or [self.proc.runtime_pid]))

    def _kernel_oom(self) -> bool:
        return self.group is not None and self.group.oom_kills() > 0

    def _watch_memory(self, over: asyncio.Future[None]) -> Callable[[], None]:
        """Sets `over` (ending the invoke) once the sandbox's peak RSS passes its memory
        size; returns the function that stops watching.

        VmHWM is a high-water mark, so a spike between two polls is still seen. A timer
        rather than a task: it costs next to nothing on invokes shorter than one tick.
        """
        loop = asyncio.get_running_loop()
        limit_kb = self.spec.memory_mb * 1024
        pid = self.proc.runtime_pid
        handles: list[asyncio.TimerHandle] = []

        def tick() -> None:
            hwm = vm_hwm_kb(pid)
            if hwm > limit_kb:
                self.peak_mb = max(self.peak_mb, hwm / 1024)
                if not over.done():
                    over.set_result(None)
                return
            handles[0] = loop.call_later(OOM_POLL_S, tick)

        handles.append(loop.call_later(OOM_POLL_S, tick))
        return lambda: handles[0].cancel()  # noqa: PLW0108 - handles[0] changes each tick

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        await self.proc.kill(grace_s)
        await self.api.close()
        if self._endpoint_stop is not None:
            stop, self._endpoint_stop = self._endpoint_stop, None
            with contextlib.suppress(Exception):  # the server may be shutting down already
                await stop()
        if self.group is not None:
            self.group.remove()


def _trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


def _exit_text(code: int | None) -> str:
    if code is None:
        return "unknown"
    return f"signal: {_signame(-code)}" if code < 0 else f"exit status {code}"


def _signame(num: int) -> str:
    import signal

    with contextlib.suppress(ValueError):
        return signal.Signals(num).name.removeprefix("SIG").lower()
    return str(num)


def _error_type_of(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    value = doc.get("errorType") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None
