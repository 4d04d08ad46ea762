"""Functions, log groups and their lifecycle: deploy, bump, wait, teardown.

Every control-plane request (waiter polls and SDK retries included) passes one shared
RateLimiter, because AWS counts them against one budget per account and region. The
code here never asks which target it talks to: only clients and an execution role.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.aws_errors import code_or_type, error_code
from bench.errors import TargetError
from bench.iam_roles import is_role_propagation_error
from bench.naming import TAG_CELL, TAG_RUN, TAG_STAGE, artifact_key, log_group_of
from bench.pacing import RateLimiter, is_conflict, is_throttle, retry_call

# AWS allows 15 control-plane requests/s per account and region, shared by every API;
# staying at 12 leaves room for whatever else the account does.
CONTROL_PLANE_RATE_PER_S = 12.0
LOG_RETENTION_DAYS = 3
SETTLE_TIMEOUT_S = 300.0
# A new execution role takes a while to reach Lambda; tools that deploy functions for a
# living wait about two minutes for it (docs/aws.md).
ROLE_PROPAGATION_DEADLINE_S = 120.0
# Throttles and update conflicts: this many attempts, with jittered exponential back-off.
RETRY_ATTEMPTS = 12

EventSink = Callable[[str, str, "str | None"], None]


def pace(client: Any, limiter: RateLimiter) -> Any:
    """Make every HTTP request of `client` take a token first, retries and polls included."""

    def _take_token(**_: Any) -> None:
        limiter.acquire()  # returning None lets the request go on

    client.meta.events.register("before-send", _take_token)
    return client


@dataclass
class ControlPlane:
    """The paced clients of one run and where retries are reported."""

    lambda_client: Any
    logs_client: Any
    poll_interval_s: float
    on_event: EventSink | None = None
    s3_client: Any = None
    propagation_deadline_s: float = ROLE_PROPAGATION_DEADLINE_S
    max_backoff_s: float = 5.0
    # (bucket, key) of every package this control plane uploaded; teardown deletes them.
    uploaded: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def from_target(
        cls, target: Any, limiter: RateLimiter, on_event: EventSink | None = None
    ) -> ControlPlane:
        return cls(
            lambda_client=pace(target.control_client(), limiter),
            logs_client=pace(target.logs_client(), limiter),
            poll_interval_s=target.poll_interval_s,
            on_event=on_event,
            s3_client=target.s3_client() if target.artifact_bucket else None,
            propagation_deadline_s=ROLE_PROPAGATION_DEADLINE_S,
        )

    def call(self, fn: Callable[[], Any], what: str, cell: str | None = None) -> Any:
        """Retry throttles and update conflicts (RETRY_ATTEMPTS times) and IAM propagation
        (until ROLE_PROPAGATION_DEADLINE_S), with jittered backoff."""
        deadline = time.monotonic() + self.propagation_deadline_s
        others = 0

        def retryable(exc: Exception) -> bool:
            nonlocal others
            if is_role_propagation_error(exc):
                return time.monotonic() < deadline
            if is_conflict(exc) and "already exist" in str(exc).lower():
                return False
            others += 1
            return others < RETRY_ATTEMPTS and (is_throttle(exc) or is_conflict(exc))

        def report(exc: Exception, attempt: int, delay: float) -> None:
            if self.on_event is not None:
                code = code_or_type(exc)
                self.on_event(
                    "retry", f"{what}: {code}, attempt {attempt}, next in {delay:.2f}s", cell
                )

        try:
            return retry_call(
                fn, retry_on=retryable, attempts=1_000_000, max_s=self.max_backoff_s,
                on_retry=report,
            )  # fmt: skip
        except ClientError as exc:
            if not is_role_propagation_error(exc):
                raise
            raise TargetError(
                f"{what}: the execution role had not reached Lambda after "
                f"{self.propagation_deadline_s:.0f}s ({exc.response['Error']['Message'][:120]}); "
                "run again, or give target.role_arn of a role that exists already"
            ) from None


@dataclass
class FunctionSpec:
    name: str
    cell_id: str
    runtime: str
    handler: str
    memory_mb: int
    architecture: str
    timeout_s: int
    reserved_concurrency: int | None  # None: none at deploy (bench.concurrency)
    role_arn: str
    tags: dict[str, str]
    zip_path: Any  # pathlib.Path of the deployment package
    zipped_bytes: int
    sha256: str
    artifact_bucket: str | None = None
    # The user's function's own variables (functions:), kept beside BENCH_COLD_TOKEN.
    environment: dict[str, str] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    vpc_config: dict[str, Any] | None = None

    @classmethod
    def for_cell(
        cls,
        cell: Any,
        artifact: Any,
        *,
        name: str,
        timeout_s: int,
        reserved_concurrency: int | None,
        role_arn: str,
        tags: dict[str, str],
        artifact_bucket: str | None = None,
        environment: dict[str, str] | None = None,
        layers: list[str] | None = None,
        vpc_config: dict[str, Any] | None = None,
    ) -> FunctionSpec:
        """The function that measures `cell` with its built deployment package."""
        return cls(
            name=name,
            cell_id=cell.id,
            runtime=cell.runtime,
            handler=artifact.handler,
            memory_mb=cell.memory_mb,
            architecture=cell.architecture,
            timeout_s=timeout_s,
            reserved_concurrency=reserved_concurrency,
            role_arn=role_arn,
            tags=tags,
            zip_path=artifact.zip_path,
            zipped_bytes=artifact.zipped_bytes,
            sha256=artifact.sha256,
            artifact_bucket=artifact_bucket,
            environment=dict(environment or {}),
            layers=list(layers or []),
            vpc_config=vpc_config,
        )


def deploy_function(cp: ControlPlane, spec: FunctionSpec) -> None:
    """Log group (ours, with retention), function, reserved concurrency; wait Active."""
    group = log_group_of(spec.name)
    try:
        cp.call(
            lambda: cp.logs_client.create_log_group(logGroupName=group, tags=spec.tags),
            "CreateLogGroup",
            spec.cell_id,
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
    cp.call(
        lambda: cp.logs_client.put_retention_policy(
            logGroupName=group, retentionInDays=LOG_RETENTION_DAYS
        ),
        "PutRetentionPolicy",
        spec.cell_id,
    )
    code = _code_location(cp, spec)
    try:
        _create(cp, spec, code)
    except ClientError as exc:
        if not (is_conflict(exc) and "already exist" in str(exc).lower()):
            raise
        _adopt_own(cp, spec)
    if spec.reserved_concurrency is not None:
        cp.call(
            lambda: cp.lambda_client.put_function_concurrency(
                FunctionName=spec.name, ReservedConcurrentExecutions=spec.reserved_concurrency
            ),
            "PutFunctionConcurrency",
            spec.cell_id,
        )
    wait_settled(cp, spec.name, spec.cell_id)


def cold_environment(environment: dict[str, str] | None, token: str) -> dict[str, Any]:
    """The function's own variables with the token whose change forces cold starts."""
    return {"Variables": {**(environment or {}), "BENCH_COLD_TOKEN": token}}


def _create(cp: ControlPlane, spec: FunctionSpec, code: dict[str, Any]) -> None:
    extra: dict[str, Any] = {}
    if spec.layers:
        extra["Layers"] = spec.layers
    if spec.vpc_config:
        extra["VpcConfig"] = spec.vpc_config
    cp.call(
        lambda: cp.lambda_client.create_function(
            FunctionName=spec.name,
            Runtime=spec.runtime,
            Role=spec.role_arn,
            Handler=spec.handler,
            Code=code,
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
            Architectures=[spec.architecture],
            Environment=cold_environment(spec.environment, "deploy"),
            Tags=spec.tags,
            Publish=False,
            **extra,
        ),
        "CreateFunction",
        spec.cell_id,
    )


def _adopt_own(cp: ControlPlane, spec: FunctionSpec) -> None:
    """CreateFunction said the function exists. When the SDK retried a create whose answer
    was lost (a read timeout), it does, and it is ours: this run's tags and this very
    package. Anything else is someone else's function and stays untouched."""
    found = cp.call(
        lambda: cp.lambda_client.get_function(FunctionName=spec.name), "GetFunction", spec.cell_id
    )
    tags = found.get("Tags") or {}
    ours = all(tags.get(k) == spec.tags[k] for k in (TAG_RUN, TAG_CELL))
    same_code = found["Configuration"].get("CodeSha256") == _lambda_sha256(spec.sha256)
    if not (ours and same_code):
        raise TargetError(
            f"function {spec.name} exists already and is not this run's "
            f"(run tag {tags.get('bench:run')!r}); delete it (bench cleanup) and run again"
        )
    if cp.on_event is not None:
        cp.on_event(
            "retry",
            "CreateFunction: the function exists with this run's tags and package (an earlier "
            "attempt's answer was lost); carrying on with it",
            spec.cell_id,
        )


def _lambda_sha256(hex_digest: str) -> str:
    """Lambda's CodeSha256 is the base64 of the zip's SHA-256, not its hex."""
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _code_location(cp: ControlPlane, spec: FunctionSpec) -> dict[str, Any]:
    from bench.fixtures.limits import fits_direct_upload

    if not fits_direct_upload(spec.zipped_bytes) and spec.artifact_bucket:
        key = artifact_key(spec.tags[TAG_STAGE], spec.tags[TAG_RUN], spec.sha256)
        cp.s3_client.upload_file(str(spec.zip_path), spec.artifact_bucket, key)
        cp.uploaded.add((spec.artifact_bucket, key))
        return {"S3Bucket": spec.artifact_bucket, "S3Key": key}
    return {"ZipFile": spec.zip_path.read_bytes()}


def create_function_url(cp: ControlPlane, name: str, cell_id: str | None = None) -> str:
    """A function URL in front of `name`, AuthType AWS_IAM (signed requests only, never a
    public endpoint); returns its URL. Deleting the function deletes it."""
    answer = cp.call(
        lambda: cp.lambda_client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM"),
        "CreateFunctionUrlConfig",
        cell_id,
    )
    return str(answer["FunctionUrl"])


def bump(
    cp: ControlPlane,
    name: str,
    token: str,
    cell_id: str | None = None,
    environment: dict[str, str] | None = None,
) -> None:
    """A new environment variable value: the next invokes land on fresh sandboxes. The
    function's own `environment` is sent again, since the call replaces them all."""
    cp.call(
        lambda: cp.lambda_client.update_function_configuration(
            FunctionName=name, Environment=cold_environment(environment, token)
        ),
        "UpdateFunctionConfiguration",
        cell_id,
    )
    wait_settled(cp, name, cell_id)


def wait_settled(cp: ControlPlane, name: str, cell_id: str | None = None) -> None:
    """Poll GetFunction (paced like every call) until State Active and the last update
    Successful, as the function_active_v2 / function_updated_v2 waiters do."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        config = cp.call(
            lambda: cp.lambda_client.get_function(FunctionName=name), "GetFunction", cell_id
        )["Configuration"]
        state, update = config.get("State"), config.get("LastUpdateStatus")
        if state == "Failed" or update == "Failed":
            reason = (
                config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason"
            )
            raise TargetError(f"function {name} failed to settle: {reason}")
        if state in (None, "Active") and update in (None, "Successful"):
            return
        if time.monotonic() > deadline:
            raise TargetError(
                f"function {name} still {state}/{update} after {SETTLE_TIMEOUT_S:.0f}s"
            )
        time.sleep(cp.poll_interval_s)


def execution_role(target: Any, regions: list[str] | None = None) -> str:
    """The role functions run as: the target's given one, or the stage's own, created
    (least privilege, tagged) when missing. IAM is global: with several regions, the one
    role may write the stage's log groups in each of them."""
    if target.role_arn is not None:
        return str(target.role_arn)
    from bench.iam_roles import ensure_execution_role

    return ensure_execution_role(
        target.iam_client(),
        stage=target.stage,
        region=regions or target.region,
        account=target.account_id,
        tags={TAG_STAGE: target.stage},
    )


def delete_if_present(cp: ControlPlane, fn: Callable[[], Any], what: str) -> None:
    """Delete through the paced control plane; something already gone is not an error."""
    try:
        cp.call(fn, what)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise


def teardown(
    cp: ControlPlane, names: list[str], *, log_groups: bool = True, packages: bool = True
) -> list[str]:
    """Delete functions (and their log groups, and the packages this control plane put in
    the artifact bucket); returns what could not be deleted."""
    failures = []
    for name in names:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("function", partial(cp.lambda_client.delete_function, FunctionName=name))
        ]
        if log_groups:
            group = log_group_of(name)
            steps.append(
                ("log group", partial(cp.logs_client.delete_log_group, logGroupName=group))
            )
        for what, fn in steps:
            try:
                delete_if_present(cp, fn, f"delete {what}")
            except ClientError as exc:
                failures.append(f"{what} {name}: {code_or_type(exc)}")
            except BotoCoreError as exc:
                failures.append(f"{what} {name}: {exc}")
    for bucket, key in sorted(cp.uploaded) if packages else []:
        try:
            cp.s3_client.delete_object(Bucket=bucket, Key=key)
            cp.uploaded.discard((bucket, key))
        except (ClientError, BotoCoreError) as exc:
            failures.append(f"package s3://{bucket}/{key}: {exc}")
    return failures
