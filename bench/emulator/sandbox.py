"""The pool of execution environments (environment.py): the API layer's `Sandboxes`.

SandboxManager implements `contracts.Sandboxes` for the API layer: scale-out on
concurrency, warm reuse, retirement by revision, idle eviction, reserved concurrency,
timeouts, memory limit and init errors, with Lambda's platform lines for all of them.

Warm sandboxes are reused LIFO: the most recently used one serves the next invoke, so
after a burst the surplus sandboxes stay untouched and age out through idle eviction,
and the live set shrinks to the concurrency actually needed (a FIFO would keep every one
of them warm forever under a light steady load).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import time
from collections import defaultdict
from pathlib import Path

from bench.emulator import cgroups, isolation
from bench.emulator.capacity import HOST_RESERVE_VCPUS, Admission, Ticket, sandbox_capacity
from bench.emulator.contracts import (
    PROVISIONED,
    FunctionSpec,
    InvokeResult,
    LogSink,
    ManagerInfo,
    SandboxSettings,
    Throttled,
)
from bench.emulator.environment import Sandbox
from bench.emulator.errors import EmulatorError
from bench.emulator.hostload import (
    CPU_LIMITS_OFF,
    INIT_OVER_BUDGET,
    SAMPLE_S,
    TICKS_PER_S,
    HostLoad,
    process_ticks,
)
from bench.emulator.runtimes import default_cache_dir, launch_for

# An init may use this much more CPU than it was admitted with before it counts as having
# taken it from other sandboxes (possible only without cgroup limits: several busy
# threads); the slack covers the counters' 10 ms ticks.
INIT_BUDGET_FACTOR = 1.25
INIT_BUDGET_SLACK_S = 0.03


def _host_cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def _isolation(mode: str) -> isolation.Support:
    if mode == "off":
        return isolation.Support(False, "none", None, "isolation=off")
    support = isolation.probe()
    if mode == "on" and not support.available:
        raise EmulatorError(f"isolation=on but {support.reason}")
    return support


class SandboxManager:
    """The `Sandboxes` protocol of contracts.py."""

    def __init__(self, sink: LogSink, settings: SandboxSettings | None = None) -> None:
        self._sink = sink
        self._settings = settings or SandboxSettings()
        self._hierarchy = cgroups.detect(self._settings.cpu_limits)
        self._isolation = _isolation(self._settings.isolation)
        self._idle: dict[tuple[str, str], list[Sandbox]] = defaultdict(list)
        self._live: set[Sandbox] = set()
        self._inflight: dict[str, int] = defaultdict(int)
        self._stopping: set[asyncio.Task[None]] = set()
        self._closing = False
        self._host_cpus = len(os.sched_getaffinity(0))
        self._admission = Admission(sandbox_capacity(self._host_cpus))
        self._subs: dict[str, str] = {}
        self._started = 0
        self._oversized = 0  # work that wanted more CPU than the host can give sandboxes
        self._load = HostLoad(
            host_cpus=self._host_cpus,
            reserve_vcpus=HOST_RESERVE_VCPUS,
            leaders=lambda: [
                sb.proc.runtime_pid for sb in self._live if sb.proc.pid and sb.proc.alive
            ],
        )
        self._sampling: asyncio.TimerHandle | None = None
        self._contended = 0
        self._eviction = self._settings.eviction
        # One stream of draws per function: with a seed, each function's k-th idle period
        # gets the same draw whatever other functions do meanwhile, so a run is reproducible.
        self._draws: dict[str, random.Random] = {}
        self._evicted = {"idle": 0, "lifetime": 0}

    async def invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        *,
        request_id: str,
        reserved_concurrency: int | None,
        log_tail: bool,
    ) -> InvokeResult:
        if self._closing:
            raise EmulatorError("the local Lambda is shutting down: invoke refused")
        name = spec.name
        if reserved_concurrency is not None and self._inflight[name] >= reserved_concurrency:
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        self._inflight[name] += 1
        self._keep_sampling()
        arrived = time.monotonic()
        sb: Sandbox | None = None
        ticket: Ticket | None = None
        over_budget = False
        try:
            # Whether this is a cold start is decided on arrival, as on AWS (which would
            # scale out at once); only then does the work wait for this host's capacity.
            sb = self._take_idle(spec)
            if sb is None:
                share = cgroups.cpu_share(spec.memory_mb)
                ticket = await self._admit(max(share, cgroups.INIT_MIN_VCPUS))
                sb = await self._new_sandbox(spec)
                status, etype, doc = await sb.wait_init()
                over_budget = _init_over_budget(sb, ticket.demand)
                ticket.shrink(sb.share)  # the invocation runs at its memory's share
                if status != "ready":
                    result = sb.init_failed(request_id, status, etype, doc, log_tail)
                    return self._judged(result, ticket, arrived, over_budget)
            else:
                ticket = await self._admit(sb.share)
            result = await sb.invoke(payload, request_id, log_tail)
            return self._judged(result, ticket, arrived, over_budget)
        except BaseException:
            if sb is not None:
                sb.broken = True  # cancelled or failed half-way: its state is unknown
            raise
        finally:
            if ticket is not None:
                ticket.release()
            self._inflight[name] -= 1
            if sb is not None:
                self._release(sb)

    def _judged(
        self, result: InvokeResult, ticket: Ticket, arrived: float, over_budget: bool
    ) -> InvokeResult:
        """The wait for capacity, and what contended with this invocation regardless."""
        result.queued_ms = ticket.queued_ms
        reasons = []
        if self._hierarchy is None:
            reasons.append(CPU_LIMITS_OFF)
        if over_budget:
            reasons.append(INIT_OVER_BUDGET)
        reasons += self._load.judge(arrived) if self._load.available else []
        result.contention = reasons
        self._contended += bool(reasons)
        return result

    def _keep_sampling(self) -> None:
        """Sample the host every SAMPLE_S from the first invoke on, so a window always
        has a sample from before its start."""
        if self._sampling is not None or not self._load.available or self._closing:
            return
        loop = asyncio.get_running_loop()

        def tick() -> None:
            self._load.sample()
            self._sampling = None if self._closing else loop.call_later(SAMPLE_S, tick)

        self._load.sample()
        self._sampling = loop.call_later(SAMPLE_S, tick)

    async def _admit(self, demand: float) -> Ticket:
        if demand > self._admission.capacity:
            self._oversized += 1
        return await self._admission.acquire(demand)

    def _take_idle(self, spec: FunctionSpec) -> Sandbox | None:
        stack = self._idle.get((spec.name, spec.revision_id))
        while stack:
            sb = stack.pop()
            if sb.idle_timer is not None:
                sb.idle_timer.cancel()
                sb.idle_timer = None
            if sb.proc.alive and not sb.retired and not self._past_lifetime(sb):
                return sb
            self._stop(sb)
        return None

    def _past_lifetime(self, sb: Sandbox) -> bool:
        limit = self._eviction.max_lifetime_s
        if limit is None or time.monotonic() - sb.born < limit:
            return False
        self._evicted["lifetime"] += 1
        return True

    def _refuse_unisolated(self, spec: FunctionSpec) -> None:
        """Unisolated, a sandbox sees this host as its user does: only code the harness
        generated runs there, unless the user said otherwise."""
        settings = self._settings
        if self._isolation.available or settings.allow_unisolated:
            return
        if spec.code_sha256 and spec.code_sha256 in settings.trusted_code:
            return
        raise EmulatorError(
            f"function {spec.name}: sandboxes are not isolated on this host "
            f"({self._isolation.reason}) and its code was not generated by coldbench, so it "
            "would run with your user's access to this machine; install bubblewrap, or allow "
            "it explicitly (bench emulator --allow-unisolated; in a matrix, target: "
            "{kind: local, allow_unisolated: true})"
        )

    async def provision(self, spec: FunctionSpec, count: int) -> str | None:
        """Initialise `count` environments of `spec` ahead of any invocation, as provisioned
        concurrency does: each through admission at its memory's CPU share (provisioned
        init has no boost on AWS), with init type provisioned-concurrency. None once all
        are ready, else why one failed (the others are stopped)."""

        async def one() -> Sandbox | str:
            ticket = await self._admit(cgroups.cpu_share(spec.memory_mb))
            try:
                sb = await self._new_sandbox(spec, init_type=PROVISIONED)
                status, etype, _doc = await sb.wait_init()
            finally:
                ticket.release()
            if status != "ready":
                self._stop(sb)
                return f"an environment's init ended with {status} {etype or ''}".strip()
            return sb

        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        ready = [r for r in results if isinstance(r, Sandbox)]
        failed = [str(r) for r in results if not isinstance(r, Sandbox)]
        for sb in ready:
            if failed:
                self._stop(sb)
            else:
                self._release(sb)
        return failed[0] if failed else None

    async def _new_sandbox(self, spec: FunctionSpec, init_type: str = "on-demand") -> Sandbox:
        self._refuse_unisolated(spec)
        jail = self._isolation if self._isolation.available else None
        # Off the loop: the first sandbox of a runtime may fetch it or compile its bootstrap.
        launch = await asyncio.to_thread(
            launch_for,
            spec.runtime,
            spec.handler,
            isolation.TASK_ROOT if jail else spec.code_dir,  # where the sandbox sees its code
            memory_mb=spec.memory_mb,
            cache_dir=default_cache_dir(),
            node_binary=self._settings.node_binary,
            java_binary=self._settings.java_binary,
        )
        if launch.substitution:
            self._subs[spec.runtime] = launch.substitution
        group = None
        if self._hierarchy is not None:
            group = cgroups.SandboxGroup(self._hierarchy, secrets.token_hex(8), spec.memory_mb)
        if group is not None and init_type == PROVISIONED:
            group.set_cpu(group.share)  # no init boost: the memory's share from the start
        sb = Sandbox(
            spec, launch, self._sink, group, jail, init_type=init_type,
            serve_endpoint=self._settings.serve_endpoint,
        )  # fmt: skip
        # A sandbox whose runtime dies while idle leaves the pool at once (its cgroup too).
        sb.proc.exited.add_done_callback(lambda _: self._evict(sb))
        self._live.add(sb)
        self._started += 1
        try:
            await sb.start()
        except BaseException:
            self._stop(sb)
            raise
        return sb

    def _release(self, sb: Sandbox) -> None:
        if sb.broken or sb.retired or self._closing or not sb.proc.alive:
            self._stop(sb)
            return
        if self._past_lifetime(sb):
            self._stop(sb)
            return
        self._idle[(sb.spec.name, sb.spec.revision_id)].append(sb)
        if sb.init_type == PROVISIONED:
            return  # kept until its configuration is deleted, however long it idles
        # The eviction policy says how long this idle period may last (bench.emulator.eviction).
        draws = self._draws.get(sb.spec.name)
        if draws is None:
            draws = self._draws[sb.spec.name] = self._eviction.new_rng()
        limits = [self._eviction.draw_idle_limit(draws)]
        if self._eviction.max_lifetime_s is not None:
            limits.append(max(0.0, sb.born + self._eviction.max_lifetime_s - time.monotonic()))
        due = [x for x in limits if x is not None]
        if due:
            sb.idle_timer = asyncio.get_running_loop().call_later(
                min(due), self._evict_idle, sb
            )

    def _evict_idle(self, sb: Sandbox) -> None:
        if self._evict(sb):
            self._evicted["idle"] += 1

    def _evict(self, sb: Sandbox) -> bool:
        stack = self._idle.get((sb.spec.name, sb.spec.revision_id), [])
        if sb in stack:
            stack.remove(sb)
            self._stop(sb)
            return True
        return False

    def _stop(self, sb: Sandbox) -> None:
        if sb not in self._live:
            return
        self._live.discard(sb)
        task = asyncio.get_running_loop().create_task(sb.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def retire(
        self, function_name: str, keep_revision: str | None = None, *, version: str | None = None
    ) -> None:
        def gone(spec: FunctionSpec) -> bool:
            return (
                spec.name == function_name
                and spec.revision_id != keep_revision
                and version in (None, spec.version)
            )

        for key, stack in list(self._idle.items()):
            if stack and gone(stack[0].spec):
                for sb in stack:
                    self._stop(sb)
                del self._idle[key]
        for sb in self._live:
            if gone(sb.spec):
                sb.retired = True  # busy: stopped by _release after its current invoke

    async def shutdown(self) -> None:
        self._closing = True
        if self._sampling is not None:
            self._sampling.cancel()
            self._sampling = None
        self._idle.clear()
        for sb in list(self._live):
            self._stop(sb)
        while self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
        if self._hierarchy is not None:
            self._hierarchy.remove()

    def info(self) -> ManagerInfo:
        h = self._hierarchy
        return ManagerInfo(
            cpu_limits=h is not None,
            cgroup_version=h.version if h else None,
            host_cpus=self._host_cpus,
            host_cpu_model=_host_cpu_model(),
            runtime_substitutions=dict(self._subs),
            oversubscription_events=self._oversized,
            max_cpu_share=round(self._admission.peak / self._host_cpus, 3),
            host_reserve_vcpus=HOST_RESERVE_VCPUS,
            sandbox_capacity_vcpus=self._admission.capacity,
            admitted=self._admission.admitted,
            admitted_after_wait=self._admission.waited,
            contended=self._contended,
            sandboxes_started=self._started,
            sandboxes_live=len(self._live),
            eviction={**self._eviction.describe(), "evicted": dict(self._evicted)},
            isolation={
                **self._isolation.describe(),
                "allow_unisolated": self._settings.allow_unisolated,
            },
        )


def _init_over_budget(sb: Sandbox, admitted_vcpus: float) -> bool:
    """Whether the sandbox's init used more CPU than admission gave it."""
    ticks = process_ticks(sb.proc.pid) if sb.proc.alive else None
    if ticks is None or sb.init_ms is None:
        return False
    used_s = sum(ticks) / TICKS_PER_S
    budget_s = admitted_vcpus * sb.init_ms / 1000
    return used_s > budget_s * INIT_BUDGET_FACTOR + INIT_BUDGET_SLACK_S
