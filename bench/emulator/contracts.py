"""The seam between the emulator's API layer and its sandbox layer.

The API layer (server, Lambda and Logs handlers, function registry, log store) owns
functions, their configurations and their states. The sandbox layer (SandboxManager,
processes, Runtime API, measurements, platform lines) owns execution environments. They
meet only through the types below.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bench.emulator.eviction import EvictionPolicy

# AWS_LAMBDA_INITIALIZATION_TYPE of an environment that provisioned concurrency started.
PROVISIONED = "provisioned-concurrency"


@dataclass(frozen=True)
class FunctionSpec:
    """An immutable snapshot of one function configuration (one RevisionId).

    Sandboxes are keyed by (name, revision_id): a configuration or code change makes a
    new revision, and sandboxes of older revisions are retired.
    """

    name: str
    arn: str
    revision_id: str
    runtime: str  # e.g. "python3.12", "nodejs22.x", "java21"
    handler: str  # e.g. "handler.handler", "index.handler", "bench.Handler::handleRequest"
    code_dir: Path  # unzipped code, read-only for sandboxes
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]  # the function's own variables only
    log_group: str  # "/aws/lambda/<name>" unless LoggingConfig says otherwise
    log_format: Literal["Text", "JSON"] = "Text"
    ephemeral_mb: int = 512  # EphemeralStorage.Size: the size of the sandbox's private /tmp
    code_sha256: str = ""  # hex digest of the deployment package (which code this is)
    version: str = "$LATEST"
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # What the platform gives a function whose role may call the endpoint
    # (bench.emulator.grants): session credentials and AWS_ENDPOINT_URL_LAMBDA.
    platform_env: dict[str, str] = field(default_factory=dict)
    # That endpoint's port, listened on inside an isolated sandbox's own namespace; 0: none.
    endpoint_port: int = 0


@dataclass
class InvokeResult:
    """What the API layer turns into an Invoke response."""

    payload: bytes  # the function's response, or the error document
    function_error: str | None = None  # "Unhandled" on a function or runtime error
    log_tail: str | None = None  # last 4 KB of this invocation's log, when asked for
    executed_version: str = "$LATEST"
    request_id: str = ""
    queued_ms: float | None = None  # held for this host's capacity before INIT_START/START
    # What the target could not prevent while this ran (hostload.py reason codes); [] none.
    contention: list[str] | None = None


class Throttled(Exception):  # named after Lambda's own error, hence no Error suffix
    """No sandbox may be started or borrowed: 429 TooManyRequestsException."""

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason  # e.g. "ReservedFunctionConcurrentInvocationLimitExceeded"
        self.message = message


class LogSink(Protocol):
    """Where sandboxes write their log lines (the API layer's log store implements it).

    A missing group or stream is created on first write, as Lambda does when its role
    allows it. Events are (epoch milliseconds, message) pairs, in order.
    """

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None: ...


@dataclass
class SandboxSettings:
    cpu_limits: Literal["auto", "on", "off"] = "auto"
    # auto: each sandbox isolated (bench.emulator.isolation) where the host allows it.
    isolation: Literal["auto", "on", "off"] = "auto"
    # Run code the harness did not generate even where sandboxes are not isolated.
    allow_unisolated: bool = False
    # Packages (sha256 hex) the harness generated itself: they run even unisolated. Shared
    # with the Emulator, which adds to it (`Emulator.trust_code`).
    trusted_code: set[str] = field(default_factory=set)
    # When idle environments are reclaimed (bench.emulator.eviction); default never.
    eviction: EvictionPolicy = field(default_factory=EvictionPolicy)
    state_dir: Path | None = None  # scratch space; a temporary directory when None
    # Extra environment for runtimes that need it to *start* (never the host's own).
    node_binary: str | None = None
    java_binary: str | None = None
    # Serves the endpoint on a listener an isolated sandbox handed over (its own network
    # namespace's 127.0.0.1:<endpoint port>); returns how to stop serving it.
    serve_endpoint: Callable[[socket.socket], Awaitable[Callable[[], Awaitable[None]]]] | None = (
        None
    )


@dataclass
class ManagerInfo:
    """Fidelity facts for `bench emulator --info` and the run manifest."""

    cpu_limits: bool
    cgroup_version: int | None
    host_cpus: int
    host_cpu_model: str
    runtime_substitutions: dict[str, str] = field(default_factory=dict)
    # Work that wanted more CPU than the sandboxes may have (it ran alone, cut to that).
    oversubscription_events: int = 0
    max_cpu_share: float = 0.0  # peak CPU admitted to sandbox work / host cores
    host_reserve_vcpus: float = 0.0  # kept free for the endpoint and the driver
    sandbox_capacity_vcpus: float = 0.0  # CPUs sandbox work may use at once
    admitted: int = 0  # inits and invocations admitted
    admitted_after_wait: int = 0  # of which had to wait for capacity
    contended: int = 0  # invocations that ran while something contended with them
    sandboxes_started: int = 0
    # {"isolated", "mode", "reason", "allow_unisolated"}: see bench.emulator.isolation.
    isolation: dict[str, object] = field(default_factory=dict)
    sandboxes_live: int = 0
    # EvictionPolicy.describe() and {"evicted": {"idle": n, "lifetime": n}}.
    eviction: dict[str, object] = field(default_factory=dict)


class Sandboxes(Protocol):
    """Implemented by `bench.emulator.sandbox.SandboxManager`; used by the API layer."""

    async def invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        *,
        request_id: str,
        reserved_concurrency: int | None,
        log_tail: bool,
    ) -> InvokeResult:
        """Run one invocation on a warm idle sandbox of `spec.revision_id`, or a new one.

        Raises Throttled when the function's in-flight invocations (all revisions) already
        equal `reserved_concurrency`. Timeouts, out-of-memory and init errors are results
        (function_error "Unhandled"), not exceptions.
        """
        ...

    def retire(
        self, function_name: str, keep_revision: str | None = None, *, version: str | None = None
    ) -> None:
        """Retire sandboxes of every other revision (all when None) of `version` ("$LATEST"
        or a published number; every version when None): idle ones stop now, busy ones
        after their current invocation."""
        ...

    async def provision(self, spec: FunctionSpec, count: int) -> str | None:
        """Initialise `count` environments of `spec` ahead (provisioned concurrency); None
        once all are ready, else why not."""
        ...

    async def shutdown(self) -> None:
        """Stop every sandbox process; leaves no child process behind."""
        ...

    def info(self) -> ManagerInfo: ...
