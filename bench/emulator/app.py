"""The embedded local target: Lambda + CloudWatch Logs on 127.0.0.1, in-process.

`Emulator` runs the aiohttp server and the SandboxManager on a background thread with its
own event loop, so synchronous callers (the harness, boto3 in tests) can use it over real
HTTP. `serve_forever` is `bench emulator`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import secrets
import shutil
import signal
import socket
import string
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from bench.emulator import snapstart
from bench.emulator.auth import Credentials
from bench.emulator.contracts import LogSink, ManagerInfo, Sandboxes, SandboxSettings
from bench.emulator.errors import EmulatorError
from bench.emulator.eviction import EvictionPolicy

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.account import AccountSettings
    from bench.emulator.faults import Fault, FaultPlan
    from bench.emulator.lambda_api import LambdaApi
    from bench.emulator.quota import QuotaLimiter

SandboxFactory = Callable[[LogSink, SandboxSettings], Sandboxes]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


def _default_factory(sink: LogSink, settings: SandboxSettings) -> Sandboxes:
    from bench.emulator.sandbox import SandboxManager

    return SandboxManager(sink, settings)


def _fresh_credentials() -> tuple[str, str]:
    upper = string.ascii_uppercase + string.digits
    access = "AKIA" + "".join(secrets.choice(upper) for _ in range(16))
    return access, secrets.token_urlsafe(30)


def _manager_section(info: ManagerInfo) -> dict[str, Any]:
    return {
        "cpu_limits": info.cpu_limits,
        "cgroup_version": info.cgroup_version,
        "host_cpus": info.host_cpus,
        "host_cpu_model": info.host_cpu_model,
        "runtime_substitutions": dict(info.runtime_substitutions),
        "oversubscription": {
            "events": info.oversubscription_events,
            "max_cpu_share": info.max_cpu_share,
        },
        "admission": {
            "host_reserve_vcpus": info.host_reserve_vcpus,
            "sandbox_capacity_vcpus": info.sandbox_capacity_vcpus,
            "admitted": info.admitted,
            "admitted_after_wait": info.admitted_after_wait,
        },
        "contended_invocations": info.contended,
        "sandboxes_started": info.sandboxes_started,
        "sandboxes_live": info.sandboxes_live,
        "isolation": dict(info.isolation),
        "eviction": dict(info.eviction),
    }


class Emulator:
    def __init__(
        self,
        *,
        port: int = 0,
        region: str = "us-east-1",
        state_dir: Path | None = None,
        sandbox_settings: SandboxSettings | None = None,
        quota_mode: bool = False,
        log_delay_s: float = 0.0,
        pending_delay_s: float = 0.1,
        update_delay_s: float = 0.1,
        eviction: EvictionPolicy | None = None,
        sandboxes_factory: SandboxFactory | None = None,
        faults: Sequence[Fault] = (),
        account: AccountSettings | None = None,
    ) -> None:
        self.port = port
        self.region = region
        self.quota_mode = quota_mode
        self.log_delay_s = log_delay_s
        self._delays = {"pending": pending_delay_s, "update": update_delay_s}
        self.access_key_id, self.secret_access_key = _fresh_credentials()
        self.account_id = "".join(secrets.choice(string.digits) for _ in range(12))
        self.endpoint_url = ""
        self._own_state = state_dir is None
        self._state_dir = state_dir
        settings = sandbox_settings or SandboxSettings()
        self._settings = settings if eviction is None else replace(settings, eviction=eviction)
        self._factory = sandboxes_factory or _default_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sandboxes: Sandboxes | None = None
        self._lambda: LambdaApi | None = None
        self._quota: QuotaLimiter | None = None
        self._stopped = False
        self._runtimes: dict[str, dict[str, Any]] = {}
        self._faults: FaultPlan | None = None
        self._fault_list = list(faults)
        self._account = account
        from bench.emulator.grants import Grants

        self._grants = Grants()

    # Delays may be changed on a running emulator (tests widen the InProgress window);
    # they apply to the next create or update.
    @property
    def pending_delay_s(self) -> float:
        return self._delays["pending"]

    @pending_delay_s.setter
    def pending_delay_s(self, value: float) -> None:
        self._delays["pending"] = value
        if self._lambda is not None:
            self._lambda.registry.pending_delay_s = value

    @property
    def update_delay_s(self) -> float:
        return self._delays["update"]

    @update_delay_s.setter
    def update_delay_s(self, value: float) -> None:
        self._delays["update"] = value
        if self._lambda is not None:
            self._lambda.registry.update_delay_s = value

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Serve on a background thread; returns once the socket is listening."""
        if self._thread is not None:
            return
        if self._state_dir is None:
            from bench.emulator.leftovers import new_state_dir

            # Labelled with this process, so `bench cleanup` finds it if we are killed.
            self._state_dir = new_state_dir()
        self._state_dir.mkdir(parents=True, exist_ok=True)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # reported to start()'s caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="coldbench-emulator", daemon=True)
        self._thread.start()
        # The loop thread is a daemon: without this, an interpreter exit that skips stop()
        # would leave sandbox processes behind.
        atexit.register(self.stop)
        if not ready.wait(START_TIMEOUT_S):
            raise EmulatorError(f"the local Lambda did not start within {START_TIMEOUT_S:.0f} s")
        if failure:
            self._thread.join()
            self._thread = None
            raise EmulatorError(f"the local Lambda could not start: {failure[0]}") from failure[0]

    async def _startup(self) -> None:
        from aiohttp import web

        from bench.emulator.functions import Registry
        from bench.emulator.lambda_api import LambdaApi
        from bench.emulator.logs_api import LogsApi
        from bench.emulator.logstore import LogStore
        from bench.emulator.quota import QuotaLimiter
        from bench.emulator.server import build_app

        assert self._state_dir is not None
        loop = asyncio.get_running_loop()
        store = LogStore(
            region=self.region, account_id=self.account_id, ingestion_delay_s=self.log_delay_s
        )
        settings = replace(self._settings, serve_endpoint=self._serve_endpoint)
        if settings.state_dir is None:
            settings = replace(settings, state_dir=self._state_dir / "sandboxes")
            settings.state_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        self._sandboxes = sandboxes = self._factory(store, settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))  # loopback only, never 0.0.0.0
        except OSError as exc:
            sock.close()
            raise EmulatorError(
                f"cannot listen on 127.0.0.1:{self.port} ({exc.strerror}): pick another --port"
            ) from exc
        self.port = sock.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        functions_dir = self._state_dir / "functions"
        functions_dir.mkdir(parents=True, exist_ok=True)
        registry = Registry(
            region=self.region,
            account_id=self.account_id,
            functions_dir=functions_dir,
            pending_delay_s=self.pending_delay_s,
            update_delay_s=self.update_delay_s,
            schedule=loop.call_later,
            on_current=lambda name, revision: sandboxes.retire(
                name, keep_revision=revision, version="$LATEST"
            ),
        )
        registry.platform_env = self._platform_env
        self._lambda = LambdaApi(
            registry, sandboxes, functions_dir=functions_dir, account=self._account
        )
        self._quota = QuotaLimiter(self.quota_mode)
        if self._fault_list:
            from bench.emulator.faults import FaultPlan

            self._faults = FaultPlan(self._fault_list)
        app = build_app(
            lambda_api=self._lambda,
            logs_api=LogsApi(store),
            credentials=Credentials(self.access_key_id, self.secret_access_key),
            quota=self._quota,
            faults=self._faults,
            grants=self._grants,
            region=self.region,
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def put_role_policy(self, role_arn: str, document: dict[str, Any]) -> None:
        """What functions running as `role_arn` may call (lambda:InvokeFunction only, see
        bench.emulator.grants); their sandboxes started from now on get its credentials."""
        self._grants.put_role_policy(role_arn, document)

    def _platform_env(self, role_arn: str, function: str, revision: str) -> dict[str, str]:
        session = self._grants.session_for(role_arn, function, revision)
        if session is None:
            return {}
        return {
            "AWS_ACCESS_KEY_ID": session.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.credentials.secret_access_key,
            "AWS_SESSION_TOKEN": session.token,
            "AWS_ENDPOINT_URL_LAMBDA": self.endpoint_url,
        }

    async def _serve_endpoint(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        from aiohttp import web

        assert self._runner is not None
        site = web.SockSite(self._runner, sock)
        await site.start()
        return site.stop

    async def _shutdown(self) -> None:
        if self._lambda is not None:
            background = [*self._lambda.invoker.background, *self._lambda.provisioned.tasks]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._sandboxes is not None:
            await self._sandboxes.shutdown()

    def stop(self) -> None:
        """Stop every sandbox and the server. Safe to call twice, or before start()."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(STOP_TIMEOUT_S)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(STOP_TIMEOUT_S)
        if self._own_state and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def prepare_runtimes(self, runtimes: Iterable[str]) -> None:
        """Resolve (and fetch, on first use on this machine) what runs each runtime, so a
        download or a compile happens before anything is measured, with progress on stderr."""
        from bench.emulator.runtimes import prepare

        for runtime in dict.fromkeys(runtimes):
            found = prepare(runtime, configured=_configured(self._settings, runtime))
            self._runtimes[runtime] = found.info()

    def label_run(self, run_id: str) -> None:
        """Name the run this emulator serves in its own state directory's label."""
        if self._own_state and self._state_dir is not None:
            from bench.emulator.leftovers import write_owner

            write_owner(self._state_dir, run_id)

    def trust_code(self, sha256_hex: str) -> None:
        """Vouch for a package the caller generated itself: it runs even where sandboxes
        cannot be isolated (everything else then needs `allow_unisolated`)."""
        self._settings.trusted_code.add(sha256_hex)

    # --- facts -----------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Fidelity facts for the run manifest, plus the quota-mode throttle counters."""
        out: dict[str, Any] = {}
        if self._sandboxes is not None:
            out.update(_manager_section(self._manager_info(self._sandboxes)))
        out["quota_mode"] = self.quota_mode
        out["throttles"] = dict(self._quota.throttles) if self._quota is not None else {}
        out["requests"] = dict(self._quota.requests) if self._quota is not None else {}
        out["async_invokes_dropped"] = self._lambda.invoker.async_dropped if self._lambda else 0
        out["runtimes"] = dict(self._runtimes)
        out["snapstart"] = snapstart.support()
        out["log_delay_s"] = self.log_delay_s
        out["endpoint_url"] = self.endpoint_url or None
        if self._faults is not None:
            out["faults_fired"] = dict(self._faults.fired)
        if self._account is not None and self._lambda is not None:
            pool = self._lambda.invoker.pool
            out["account"] = {
                "concurrent_executions": self._account.concurrent_executions,
                "unreserved_peak": pool.peak,
                "unreserved_throttles": pool.throttled,
            }
        return out


    def _manager_info(self, sandboxes: Sandboxes) -> ManagerInfo:
        """Read the manager's counters on its own loop thread, where they change."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive() or self._stopped:
            return sandboxes.info()
        if threading.current_thread() is thread:
            return sandboxes.info()

        async def read() -> ManagerInfo:
            return sandboxes.info()

        return asyncio.run_coroutine_threadsafe(read(), loop).result(STOP_TIMEOUT_S)


def emulator_info() -> dict[str, Any]:
    """What this machine can emulate, without starting a server (`bench emulator --info`)."""
    from bench.emulator.logstore import LogStore
    from bench.emulator.runtimes import runtimes_dir
    from bench.emulator.runtimes.resolution import RUNTIMES, describe_all

    scratch = Path(tempfile.mkdtemp(prefix="coldbench-info-"))
    try:
        manager = _default_factory(LogStore(), SandboxSettings(state_dir=scratch))
        try:
            out = _manager_section(manager.info())
        finally:
            asyncio.run(manager.shutdown())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out["quota_mode"] = False
    out["runtimes"] = describe_all(list(RUNTIMES), lambda runtime: None)
    out["runtimes_dir"] = str(runtimes_dir())
    out["snapstart"] = snapstart.support()
    return out


def _configured(settings: SandboxSettings, runtime: str) -> str | None:
    if runtime.startswith("nodejs"):
        return settings.node_binary
    if runtime.startswith("java"):
        return settings.java_binary
    return None


def serve_forever(
    *,
    port: int,
    state_dir: Path | None,
    quota_mode: bool,
    echo: Callable[[str], None],
    faults: Sequence[Fault] = (),
    allow_unisolated: bool = False,
    account: AccountSettings | None = None,
    eviction: EvictionPolicy | None = None,
) -> None:
    """`bench emulator`: print shell exports, serve until Ctrl-C or SIGTERM, stop sandboxes."""
    emulator = Emulator(
        port=port,
        state_dir=state_dir,
        quota_mode=quota_mode,
        faults=faults,
        sandbox_settings=SandboxSettings(allow_unisolated=allow_unisolated),
        account=account,
        eviction=eviction,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, a closed terminal
    previous = {sig: signal.signal(sig, on_signal) for sig in stops}
    try:
        emulator.start()
        echo(f"export AWS_ENDPOINT_URL={emulator.endpoint_url}")
        echo(f"export AWS_ACCESS_KEY_ID={emulator.access_key_id}")
        echo(f"export AWS_SECRET_ACCESS_KEY={emulator.secret_access_key}")
        echo(f"export AWS_DEFAULT_REGION={emulator.region}")
        echo(f"export AWS_REGION={emulator.region}")  # what the JS SDK v3 and others read
        echo(f"# local Lambda + CloudWatch Logs on {emulator.endpoint_url}; Ctrl-C stops it")
        for fault in faults:
            echo(f"# fault injected: {fault}")
        policy = eviction or EvictionPolicy()
        echo(f"# idle environments: {_eviction_text(policy)}")
        isolated = emulator.info().get("isolation") or {}
        if not isolated.get("isolated"):
            refused = "allowed (--allow-unisolated)" if allow_unisolated else "refused"
            echo(f"# sandboxes are NOT isolated ({isolated.get('reason')}): functions {refused}")
        while not done.wait(0.5):  # short waits keep the main thread responsive to signals
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
    echo("# stopped: every sandbox is gone")


def _eviction_text(policy: EvictionPolicy) -> str:
    if policy.model == "fixed":
        text = f"evicted after {policy.idle_timeout_s:g} s idle"
    elif policy.model == "halving":
        text = (
            f"all warm for {policy.halving_warm_s:g} s idle, then half evicted per further "
            f"{policy.halving_half_life_s:g} s"
        )
    else:
        text = "never evicted"
    if policy.max_lifetime_s is not None:
        text += f"; none reused past {policy.max_lifetime_s:g} s of age"
    return text
