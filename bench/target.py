"""Where a run happens: the embedded local emulator or an AWS account (or any endpoint
that speaks Lambda; opened in bench.target_aws). Everything past this module sees only
boto3 clients and a few numbers; the driver never asks which kind it has.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from bench.errors import InputError, TargetError
from bench.matrix import AwsTarget, LocalTarget, Matrix
from bench.naming import LOCAL_ROLE_NAME

# Control-plane retries inside the SDK; every attempt still passes our one rate limiter
# (see `pace`), so a retry never pushes the account over its shared budget.
CONTROL_RETRIES = {"max_attempts": 4, "mode": "standard"}
# platform.machine() spellings -> Lambda's architecture names.
_HOST_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class BuildPlatform:
    """What `requirements` packages must be built for when the target does not run the
    cell's own runtime version and architecture."""

    python_version: str  # major.minor, e.g. "3.11"
    architecture: str | None  # Lambda's name (x86_64, arm64); None: the cell's own


def _all_runtimes(matrix: Matrix) -> list[str]:
    """The fixtures' runtimes and the user's functions' (a clone's is known only later)."""
    own = [r for f in matrix.functions for r in f.runtime_list]
    return list(dict.fromkeys([*matrix.runtimes, *own]))


def build_platform(spec: LocalTarget | AwsTarget) -> BuildPlatform | None:
    """None on AWS: packages are built for each cell's runtime and architecture.

    The local target runs every python runtime on the interpreter running us and every
    sandbox on this machine (bench.emulator.runtimes), so native code must match those.
    """
    if isinstance(spec, LocalTarget):
        return BuildPlatform(
            python_version="{}.{}".format(*sys.version_info[:2]),
            architecture=_HOST_ARCHITECTURES.get(platform.machine().lower()),
        )
    return None


@dataclass
class Target:
    """Clients and limits of one target; use as a context manager so it always closes."""

    kind: str
    region: str
    account_id: str
    stage: str
    role_arn: str | None
    session: boto3.Session
    endpoint_url: str | None
    function_timeout_s: int
    parallel_cells: int
    default_logs_timeout_s: float
    # How often to poll GetFunction while a function settles (each poll is paced too).
    poll_interval_s: float
    artifact_bucket: str | None = None
    driver_role_arn: str | None = None
    # driver: lambda: the driver function's memory. On AWS its CPU (1024 MB: most of a
    # vCPU) fires a round's threads; locally it would be CPU held from the sandboxes that
    # initialise meanwhile (capacity admission), so it gets the least.
    driver_memory_mb: int = 1024
    local_info: dict[str, Any] | None = None
    _emulator: Any = None
    _closers: list[Any] = field(default_factory=list)

    def _client(self, service: str, config: Config) -> Any:
        return self.session.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
        )

    def lambda_client(self, max_pool: int = 10) -> Any:
        """A client for Invoke: no SDK retries (a retried throttle would land on a warm
        sandbox and be recorded as something it is not), a read timeout past the function
        timeout, and enough pooled connections for a whole burst."""
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            read_timeout=self.function_timeout_s + 30,
            connect_timeout=10,
            max_pool_connections=max(max_pool, 10),
            tcp_keepalive=True,
        )
        return self._client("lambda", config)

    def control_client(self) -> Any:
        """A Lambda client for control-plane calls, with standard retries."""
        return self._client("lambda", Config(retries=CONTROL_RETRIES, max_pool_connections=20))

    def logs_client(self) -> Any:
        return self._client("logs", Config(retries=CONTROL_RETRIES, max_pool_connections=20))

    def iam_client(self) -> Any | None:
        """None when the execution role is given: then the harness never touches IAM."""
        if self.role_arn is not None:
            return None
        # IAM is global; the endpoint override applies when the user points at a full
        # AWS look-alike (e.g. LocalStack).
        return self._client("iam", Config(retries=CONTROL_RETRIES))

    def s3_client(self) -> Any:
        return self._client("s3", Config(retries=CONTROL_RETRIES))

    def describe(self) -> dict[str, Any]:
        """The manifest's `target` section."""
        return {
            "kind": self.kind,
            "region": self.region,
            "account_id": self.account_id,
            "stage": self.stage,
            "endpoint_url": self.endpoint_url,
            "local": self.local_info,
        }

    def refresh_local_info(self) -> None:
        """Re-read the emulator's fidelity facts (oversubscription grows during a run)."""
        if self._emulator is not None:
            self.local_info = _local_section(self._emulator.info())

    def vouch_for(self, sha256_hex: str) -> None:
        """A package the harness generated itself (no third-party code in it): a local
        target runs it even where its sandboxes cannot be isolated. No-op elsewhere."""
        if self._emulator is not None:
            self._emulator.trust_code(sha256_hex)

    def bind_run(self, run_id: str) -> None:
        """Label the local target's state with the run it serves, so `bench cleanup`
        can name what a killed run left. No-op elsewhere."""
        if self._emulator is not None:
            self._emulator.label_run(run_id)

    def driver_role(self, regions: list[str]) -> str:
        """The role the driver function runs as (driver: lambda): lambda:InvokeFunction on
        the stage's functions only (bench.iam.driver_policy). On the local target the
        policy is given to the emulator, which mints the driver's credentials from it."""
        from bench.iam import driver_policy
        from bench.iam_roles import ensure_driver_role
        from bench.naming import TAG_STAGE, driver_role_name

        policy = driver_policy(self.stage, regions, self.account_id)
        if self._emulator is not None:
            arn = f"arn:aws:iam::{self.account_id}:role/{driver_role_name(self.stage)}"
            self._emulator.put_role_policy(arn, policy)
            return arn
        if self.driver_role_arn is not None:
            return self.driver_role_arn
        iam = self.iam_client()
        if iam is None:
            raise InputError(
                "driver: lambda with target.role_arn: give target.driver_role_arn too, a role "
                "Lambda may assume that may lambda:InvokeFunction the stage's functions only"
            )
        return ensure_driver_role(
            iam, stage=self.stage, region=regions, account=self.account_id,
            tags={TAG_STAGE: self.stage},
        )  # fmt: skip

    def emulator_info(self) -> dict[str, Any] | None:
        return self._emulator.info() if self._emulator is not None else None

    def close(self) -> None:
        if self._emulator is not None:
            emulator, self._emulator = self._emulator, None
            emulator.stop()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _local_section(info: dict[str, Any]) -> dict[str, Any]:
    over = info.get("oversubscription") or {}
    section = {
        "cpu_limits": info.get("cpu_limits"),
        "cgroup_version": info.get("cgroup_version"),
        "host_cpus": info.get("host_cpus"),
        "host_cpu_model": info.get("host_cpu_model"),
        "runtime_substitutions": info.get("runtime_substitutions", {}),
        "oversubscription": {
            "events": over.get("events", 0),
            "max_cpu_share": over.get("max_cpu_share", 0.0),
        },
    }
    # Anything else the emulator reports (throttle counters in quota mode) is kept as is.
    section.update({k: v for k, v in info.items() if k not in section and k != "oversubscription"})
    return section


def open_target(
    matrix: Matrix,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    stage: str | None = None,
) -> Target:
    """Open the matrix's target; flags (the keyword arguments) win over the matrix."""
    spec = matrix.target
    if isinstance(spec, LocalTarget):
        if endpoint_url is not None or profile is not None:
            raise InputError(
                "--endpoint-url/--profile apply to `target: {kind: aws}`; the local target "
                "starts its own endpoint"
            )
        return open_local_target(
            cpu_limits=spec.cpu_limits,
            quota_mode=spec.quota_mode,
            allow_unisolated=spec.allow_unisolated,
            eviction=eviction_policy(spec),
            stage=stage or matrix.stage,
            function_timeout_s=matrix.timeout_s,
            region=region or "us-east-1",
            runtimes=_all_runtimes(matrix),
            **_local_account(spec.account_concurrency),
        )
    assert isinstance(spec, AwsTarget)
    from bench.target_aws import open_aws_target

    return open_aws_target(
        region=region or spec.region,
        profile=profile or spec.profile,
        endpoint_url=endpoint_url or spec.endpoint_url,
        stage=stage or spec.stage,
        role_arn=spec.role_arn,
        artifact_bucket=spec.artifact_bucket,
        function_timeout_s=matrix.timeout_s,
        driver_role_arn=spec.driver_role_arn,
    )


def _local_account(concurrency: int | None) -> dict[str, Any]:
    if concurrency is None:
        return {}
    from bench.emulator.account import AccountSettings

    return {"account": AccountSettings(concurrent_executions=concurrency)}


@contextmanager
def local_target_errors() -> Iterator[None]:
    """The local Lambda's own errors, as the harness reports them: a bad option of the
    endpoint is an input error (exit 2), anything else it cannot do a target error (3)."""
    from bench.emulator.errors import EmulatorConfigError, EmulatorError

    try:
        yield
    except EmulatorConfigError as exc:
        raise InputError(str(exc)) from exc
    except EmulatorError as exc:
        raise TargetError(str(exc)) from exc


def eviction_policy(spec: LocalTarget) -> Any:
    """The matrix's `target.eviction` as the emulator's EvictionPolicy."""
    from bench.emulator.eviction import EvictionPolicy

    e = spec.eviction
    return EvictionPolicy(
        idle_timeout_s=e.idle_timeout_s,
        halving_warm_s=e.halving.warm_s if e.halving else None,
        halving_half_life_s=e.halving.half_life_s if e.halving else None,
        max_lifetime_s=e.max_lifetime_s,
        seed=e.seed,
    )


def open_local_target(
    *,
    cpu_limits: str = "auto",
    quota_mode: bool = False,
    allow_unisolated: bool = False,
    stage: str = "local",
    function_timeout_s: int = 30,
    region: str = "us-east-1",
    runtimes: Sequence[str] = (),
    **emulator_options: Any,
) -> Target:
    """Start an in-process emulator on loopback and describe it as a target.

    The `runtimes` are resolved before anything is measured: a Node or JDK build fetched on
    first use downloads now, with its progress on stderr, not inside a cold start."""
    from bench.emulator.app import Emulator
    from bench.emulator.contracts import SandboxSettings

    with local_target_errors():
        emulator = Emulator(
            region=region,
            quota_mode=quota_mode,
            sandbox_settings=SandboxSettings(
                cpu_limits=cpu_limits,  # type: ignore[arg-type]
                allow_unisolated=allow_unisolated,
            ),
            **emulator_options,
        )
        try:
            emulator.start()
            emulator.prepare_runtimes(runtimes)
        except BaseException:
            emulator.stop()
            raise
    session = boto3.Session(
        aws_access_key_id=emulator.access_key_id,
        aws_secret_access_key=emulator.secret_access_key,
        region_name=emulator.region,
    )
    return Target(
        kind="local",
        region=emulator.region,
        account_id=emulator.account_id,
        stage=stage,
        role_arn=f"arn:aws:iam::{emulator.account_id}:role/{LOCAL_ROLE_NAME}",
        session=session,
        endpoint_url=emulator.endpoint_url,
        function_timeout_s=function_timeout_s,
        # Local sandboxes share this host's CPUs: two cells measuring at once would
        # slow each other down and the numbers would describe the overlap.
        parallel_cells=1,
        default_logs_timeout_s=60.0,
        poll_interval_s=0.2,
        driver_memory_mb=128,
        local_info=_local_section(emulator.info()),
        _emulator=emulator,
    )
