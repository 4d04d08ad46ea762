# --- sandbox layer fixtures (bench.emulator.sandbox) -------------------------------------
import asyncio as _sbx_asyncio
import json as _sbx_json
import uuid as _sbx_uuid
from collections.abc import Awaitable as _SbxAwaitable
from collections.abc import Callable as _SbxCallable
from dataclasses import replace as _sbx_replace
from pathlib import Path as _SbxPath
from typing import Any as _SbxAny

import pytest as _sbx_pytest

SANDBOX_HANDLERS = _SbxPath(__file__).resolve().parent / "handlers"


class CollectingSink:
    """A LogSink that keeps every event, in order, for assertions."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, str]] = []

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        self.events.extend((group, stream, ts, msg) for ts, msg in events)

    def messages(self, group: str | None = None) -> list[str]:
        return [m for g, _, _, m in self.events if group is None or g == group]

    def lines_starting(self, prefix: str) -> list[str]:
        return [m for m in self.messages() if m.startswith(prefix)]

    def report_for(self, request_id: str) -> str:
        found = [m for m in self.messages() if m.startswith(f"REPORT RequestId: {request_id}\t")]
        assert len(found) == 1, f"expected one REPORT for {request_id}, got {found}"
        return found[0]


def sandbox_spec(**overrides: _SbxAny) -> _SbxAny:
    """A FunctionSpec for the python test handler; override any field."""
    from bench.emulator.contracts import FunctionSpec

    base = FunctionSpec(
        name="sbx-test",
        arn="arn:aws:lambda:us-east-1:000000000000:function:sbx-test",
        revision_id="rev-1",
        runtime="python3.12",
        handler="fidelity.handler",
        code_dir=SANDBOX_HANDLERS / "python",
        memory_mb=1769,
        timeout_s=10,
        environment={"FUNCTION_OWN": "yes"},
        log_group="/aws/lambda/sbx-test",
    )
    return _sbx_replace(base, **overrides)


async def invoke_json(
    manager: _SbxAny, spec: _SbxAny, event: dict[str, _SbxAny], reserved: int | None = None
) -> tuple[str, _SbxAny]:
    """(request id, result) of one invoke with a JSON event."""
    request_id = str(_sbx_uuid.uuid4())
    result = await manager.invoke(
        spec,
        _sbx_json.dumps(event).encode(),
        request_id=request_id,
        reserved_concurrency=reserved,
        log_tail=True,
    )
    return request_id, result


@_sbx_pytest.fixture
def run_sandboxes() -> _SbxCallable[..., _SbxAny]:
    """run_sandboxes(scenario, cpu_limits="off", **settings): runs `await scenario(manager,
    sink)` in a fresh event loop, then shuts the manager down and checks nothing is left."""
    from bench.emulator.contracts import SandboxSettings
    from bench.emulator.sandbox import SandboxManager

    def run(
        scenario: _SbxCallable[[_SbxAny, CollectingSink], _SbxAwaitable[_SbxAny]],
        cpu_limits: str = "off",
        **settings: _SbxAny,
    ) -> _SbxAny:
        async def main() -> _SbxAny:
            sink = CollectingSink()
            # The handlers under handlers/ are this project's own code: they may run where
            # sandboxes cannot be isolated (test_isolation.py covers the refusal).
            settings.setdefault("allow_unisolated", True)
            manager = SandboxManager(sink, SandboxSettings(cpu_limits=cpu_limits, **settings))
            try:
                return await scenario(manager, sink)
            finally:
                await manager.shutdown()
                assert manager.info().sandboxes_live == 0

        return _sbx_asyncio.run(main())

    return run


@_sbx_pytest.fixture
def sandbox_kit() -> _SbxAny:
    """The helpers above, for test modules (conftest modules are not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(spec=sandbox_spec, invoke=invoke_json, handlers=SANDBOX_HANDLERS)


# --- API layer fixtures (bench.emulator.app: server, Lambda and Logs APIs) ---------------
import io as _api_io  # noqa: E402 - appended section
import zipfile as _api_zipfile  # noqa: E402 - appended section
from collections.abc import Iterator as _ApiIterator  # noqa: E402 - appended section


class FakeSandboxes:
    """The `Sandboxes` protocol without processes: records what the API layer asks for.

    Its invoke echoes the spec it was given, so tests can see which configuration ran.
    `gate`, when set, holds every invoke until the test releases it.
    """

    def __init__(self, sink: _SbxAny, settings: _SbxAny) -> None:
        self.sink = sink
        self.settings = settings
        self.specs: list[_SbxAny] = []
        self.retired: list[tuple[str, str | None]] = []
        self.reserved_seen: list[int | None] = []
        self.inflight: dict[str, int] = {}
        self.gate: _sbx_asyncio.Event | None = None
        self.shut_down = False

    async def invoke(
        self,
        spec: _SbxAny,
        payload: bytes,
        *,
        request_id: str,
        reserved_concurrency: int | None,
        log_tail: bool,
    ) -> _SbxAny:
        from bench.emulator.contracts import InvokeResult, Throttled

        if (
            reserved_concurrency is not None
            and self.inflight.get(spec.name, 0) >= reserved_concurrency
        ):
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        self.inflight[spec.name] = self.inflight.get(spec.name, 0) + 1
        try:
            self.specs.append(spec)
            self.reserved_seen.append(reserved_concurrency)
            if self.gate is not None:
                await self.gate.wait()
            body = _sbx_json.dumps(
                {
                    "revision": spec.revision_id,
                    "memory": spec.memory_mb,
                    "env": spec.environment,
                    "echo": payload.decode(),
                }
            )
            self.sink.put_events(
                spec.log_group,
                "2026/11/27/[$LATEST]fake",
                [
                    (1, f"START RequestId: {request_id} Version: $LATEST"),
                    (2, f"REPORT RequestId: {request_id}\tDuration: 1.00 ms"),
                ],
            )
            error = "Unhandled" if b"fail" in payload else None
            return InvokeResult(
                payload=body.encode(),
                function_error=error,
                log_tail=f"REPORT RequestId: {request_id}\n" if log_tail else None,
                request_id=request_id,
            )
        finally:
            self.inflight[spec.name] -= 1

    def retire(
        self, function_name: str, keep_revision: str | None = None, *, version: str | None = None
    ) -> None:
        self.retired.append((function_name, keep_revision))

    async def shutdown(self) -> None:
        self.shut_down = True

    def info(self) -> _SbxAny:
        from bench.emulator.contracts import ManagerInfo

        return ManagerInfo(
            cpu_limits=False, cgroup_version=None, host_cpus=2, host_cpu_model="fake"
        )


def make_zip(files: dict[str, str | bytes] | None = None) -> bytes:
    """A deployment package; the default holds one python handler."""
    files = files if files is not None else {"handler.py": "def handler(e, c):\n    return e\n"}
    buf = _api_io.BytesIO()
    with _api_zipfile.ZipFile(buf, "w", _api_zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buf.getvalue()


class ApiKit:
    """boto3 clients for one emulator, retries off so every error reaches the test."""

    def __init__(self, emulator: _SbxAny) -> None:
        import boto3
        from botocore.config import Config

        self.emulator = emulator
        session = boto3.Session(
            aws_access_key_id=emulator.access_key_id,
            aws_secret_access_key=emulator.secret_access_key,
            region_name=emulator.region,
        )
        config = Config(
            retries={"total_max_attempts": 1}, parameter_validation=False, max_pool_connections=32
        )
        self.lam = session.client("lambda", endpoint_url=emulator.endpoint_url, config=config)
        self.logs = session.client("logs", endpoint_url=emulator.endpoint_url, config=config)
        self.role = f"arn:aws:iam::{emulator.account_id}:role/bench-test"

    @property
    def fake(self) -> _SbxAny:
        """The emulator's FakeSandboxes (only with the api_emulator fixture)."""
        return self.emulator._sandboxes

    def create(self, name: str, *, wait: bool = True, **overrides: _SbxAny) -> dict[str, _SbxAny]:
        params: dict[str, _SbxAny] = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": self.role,
            "Handler": "handler.handler",
            "Code": {"ZipFile": make_zip()},
        }
        params.update(overrides)
        created = self.lam.create_function(**params)
        if wait:
            self.wait_state(name, "State", "Active")
        return created

    def wait_state(self, name: str, key: str, value: str, deadline_s: float = 10.0) -> None:
        """Poll GetFunctionConfiguration until `key` == `value` (no fixed sleeps)."""
        import time

        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.lam.get_function_configuration(FunctionName=name).get(key) == value:
                return
            time.sleep(0.01)
        raise AssertionError(f"{name}: {key} never became {value} within {deadline_s} s")


@_sbx_pytest.fixture
def api_emulator(tmp_path: _SbxPath) -> _ApiIterator[_SbxAny]:
    """A started Emulator over real HTTP whose sandboxes are FakeSandboxes."""
    from bench.emulator.app import Emulator

    emulator = Emulator(
        state_dir=tmp_path / "state",
        sandboxes_factory=FakeSandboxes,
        pending_delay_s=0.05,
        update_delay_s=0.05,
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@_sbx_pytest.fixture
def api(api_emulator: _SbxAny) -> ApiKit:
    return ApiKit(api_emulator)


@_sbx_pytest.fixture
def api_zip() -> _SbxCallable[..., bytes]:
    return make_zip


@_sbx_pytest.fixture
def make_api(tmp_path: _SbxPath) -> _ApiIterator[_SbxCallable[..., ApiKit]]:
    """make_api(**Emulator options): a started emulator with FakeSandboxes unless a
    `sandboxes_factory` is given; every one started is stopped at teardown."""
    from bench.emulator.app import Emulator

    started: list[_SbxAny] = []

    def make(**options: _SbxAny) -> ApiKit:
        options.setdefault("sandboxes_factory", FakeSandboxes)
        options.setdefault("state_dir", tmp_path / f"state-{len(started)}")
        emulator = Emulator(**options)
        started.append(emulator)
        emulator.start()
        return ApiKit(emulator)

    try:
        yield make
    finally:
        for emulator in started:
            emulator.stop()
