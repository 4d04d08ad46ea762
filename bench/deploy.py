"""Functions, log groups and their lifecycle: deploy, bump, teardown, cleanup, listing.

Every control-plane request (waiter polls and SDK retries included) passes one shared
RateLimiter, because AWS counts them against one budget per account and region. The
code here never asks which target it talks to: only clients and an execution role.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.errors import InputError, TargetError
from bench.pacing import RateLimiter, is_conflict, is_throttle, retry_call

# AWS allows 15 control-plane requests/s per account and region, shared by every API;
# staying at 12 leaves room for whatever else the account does.
CONTROL_PLANE_RATE_PER_S = 12.0
LOG_RETENTION_DAYS = 3
DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024
# AWS refuses reserved concurrency that leaves the account fewer unreserved than this.
MIN_UNRESERVED = 100
SETTLE_TIMEOUT_S = 300.0

EventSink = Callable[[str, str, "str | None"], None]


def function_name(stage: str, run_rand: str, index: int) -> str:
    name = f"bench-{stage}-{run_rand}-{index:02d}"
    if len(name) > 64:
        raise InputError(f"function name {name} is longer than Lambda's 64 characters")
    return name


def name_pattern(stage: str, run_rand: str | None = None) -> re.Pattern[str]:
    """Exactly the functions this harness names for a stage (and run): a stage `dev`
    must not match `bench-dev-x-...` of a stage `dev-x`."""
    rand = re.escape(run_rand) if run_rand else "[0-9a-f]{6}"
    return re.compile(rf"^bench-{re.escape(stage)}-{rand}-\d{{2}}$")


def pace(client: Any, limiter: RateLimiter) -> Any:
    """Make every HTTP request of `client` take a token first, retries and polls included."""

    def _take_token(**_: Any) -> None:
        limiter.acquire()  # returning None lets the request go on

    client.meta.events.register("before-send", _take_token)
    return client


def is_role_propagation_error(exc: Exception) -> bool:
    from bench.iam import is_role_propagation_error as check

    return bool(check(exc))


@dataclass
class ControlPlane:
    """The paced clients of one run and where retries are reported."""

    lambda_client: Any
    logs_client: Any
    poll_interval_s: float
    on_event: EventSink | None = None
    s3_client: Any = None

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
        )

    def call(self, fn: Callable[[], Any], what: str, cell: str | None = None) -> Any:
        """Retry throttles, update conflicts and IAM propagation with jittered backoff."""

        def retryable(exc: Exception) -> bool:
            if is_conflict(exc) and "already exist" in str(exc).lower():
                return False
            return is_throttle(exc) or is_conflict(exc) or is_role_propagation_error(exc)

        def report(exc: Exception, attempt: int, delay: float) -> None:
            if self.on_event is not None:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                self.on_event(
                    "retry", f"{what}: {code}, attempt {attempt}, next in {delay:.2f}s", cell
                )

        return retry_call(fn, retry_on=retryable, attempts=12, on_retry=report)


@dataclass
class FunctionSpec:
    name: str
    cell_id: str
    runtime: str
    handler: str
    memory_mb: int
    architecture: str
    timeout_s: int
    reserved_concurrency: int
    role_arn: str
    tags: dict[str, str]
    zip_path: Any  # pathlib.Path of the deployment package
    zipped_bytes: int
    sha256: str
    artifact_bucket: str | None = None


def resource_tags(*, run_id: str, stage: str, cell_id: str, created: datetime) -> dict[str, str]:
    return {
        "bench:run": run_id,
        "bench:stage": stage,
        "bench:cell": cell_id,
        "bench:created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def log_group_of(name: str) -> str:
    return f"/aws/lambda/{name}"


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
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    cp.call(
        lambda: cp.logs_client.put_retention_policy(
            logGroupName=group, retentionInDays=LOG_RETENTION_DAYS
        ),
        "PutRetentionPolicy",
        spec.cell_id,
    )
    code = _code_location(cp, spec)
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
            Environment={"Variables": {"BENCH_COLD_TOKEN": "deploy"}},
            Tags=spec.tags,
            Publish=False,
        ),
        "CreateFunction",
        spec.cell_id,
    )
    cp.call(
        lambda: cp.lambda_client.put_function_concurrency(
            FunctionName=spec.name, ReservedConcurrentExecutions=spec.reserved_concurrency
        ),
        "PutFunctionConcurrency",
        spec.cell_id,
    )
    wait_settled(cp, spec.name, spec.cell_id)


def _code_location(cp: ControlPlane, spec: FunctionSpec) -> dict[str, Any]:
    if spec.zipped_bytes > DIRECT_UPLOAD_LIMIT_BYTES and spec.artifact_bucket:
        key = f"bench/{spec.sha256}.zip"
        cp.s3_client.upload_file(str(spec.zip_path), spec.artifact_bucket, key)
        return {"S3Bucket": spec.artifact_bucket, "S3Key": key}
    return {"ZipFile": spec.zip_path.read_bytes()}


def bump(cp: ControlPlane, name: str, token: str, cell_id: str | None = None) -> None:
    """A new environment variable value: the next invokes land on fresh sandboxes."""
    cp.call(
        lambda: cp.lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"BENCH_COLD_TOKEN": token}}
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


def execution_role(target: Any) -> str:
    """The role functions run as: the target's given one, or the stage's own, created
    (least privilege, tagged) when missing."""
    if target.role_arn is not None:
        return str(target.role_arn)
    from bench.iam import ensure_execution_role

    return ensure_execution_role(
        target.iam_client(),
        stage=target.stage,
        region=target.region,
        account=target.account_id,
        tags={"bench:stage": target.stage},
    )


def check_unreserved_concurrency(cp: ControlPlane, needed: int) -> int:
    """Refuse before anything is created when the reservations would not fit."""
    settings = cp.call(cp.lambda_client.get_account_settings, "GetAccountSettings")
    unreserved = int(settings["AccountLimit"]["UnreservedConcurrentExecutions"])
    if unreserved - needed < MIN_UNRESERVED:
        raise TargetError(
            f"the account has {unreserved} unreserved concurrent executions; reserving "
            f"{needed} (the sum of burst over cells) would leave fewer than {MIN_UNRESERVED}: "
            "lower burst or the number of cells, or ask AWS for a higher concurrency quota"
        )
    return unreserved


def teardown(cp: ControlPlane, names: list[str], *, log_groups: bool = True) -> list[str]:
    """Delete functions (and their log groups); returns what could not be deleted."""
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
                cp.call(fn, f"delete {what}")
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    failures.append(f"{what} {name}: {exc.response['Error']['Code']}")
            except BotoCoreError as exc:
                failures.append(f"{what} {name}: {exc}")
    return failures


# --------------------------------------------------------------------------- cleanup, ls


@dataclass
class CleanupResult:
    stage: str
    dry_run: bool
    functions: list[str] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)
    role: str | None = None
    notes: list[str] = field(default_factory=list)


def parse_age(text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise InputError(f"--older-than {text!r}: expected a number and s, m, h or d, e.g. 2h")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def _open_for_cleanup(
    region: str | None, profile: str | None, endpoint_url: str | None, stage: str
) -> Any:
    from bench.target import open_aws_target

    return open_aws_target(
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        stage=stage,
        require_account=False,
    )


def cleanup(
    *,
    stage: str | None = None,
    run_id: str | None = None,
    older_than: str | None = None,
    dry_run: bool = False,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> CleanupResult:
    """Delete the stage's tagged leftovers, and its role once no function uses it."""
    stage = stage or "dev"
    age = parse_age(older_than)
    run_rand = run_id.rsplit("-", 1)[-1] if run_id else None
    if run_rand is not None and not re.fullmatch(r"[0-9a-f]{6}", run_rand):
        raise InputError(f"--run {run_id!r}: not a run id (<timestamp>-<name>-<6 hex>)")
    cutoff = datetime.now(UTC) - age if age else None
    result = CleanupResult(stage=stage, dry_run=dry_run)
    with _open_for_cleanup(region, profile, endpoint_url, stage) as target:
        cp = ControlPlane.from_target(target, RateLimiter(CONTROL_PLANE_RATE_PER_S))
        wanted = name_pattern(stage, run_rand)
        try:
            _cleanup_functions(
                cp, wanted=wanted, stage=stage, run_id=run_id, cutoff=cutoff, result=result
            )
            _cleanup_log_groups(cp, wanted, stage, cutoff, result)
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"cleanup of stage {stage}: {exc}") from None
        _cleanup_role(target, cp, stage, run_id, result)
    return result


def _cleanup_functions(
    cp: ControlPlane,
    *,
    wanted: re.Pattern[str],
    stage: str,
    run_id: str | None,
    cutoff: datetime | None,
    result: CleanupResult,
) -> None:
    for fn in _paginate(cp.lambda_client, "list_functions", "Functions"):
        name = fn["FunctionName"]
        if not wanted.match(name):
            continue
        tags = cp.call(partial(cp.lambda_client.list_tags, Resource=fn["FunctionArn"]), "ListTags")
        tags = tags.get("Tags", {})
        if tags.get("bench:stage") != stage or (run_id and tags.get("bench:run") != run_id):
            continue  # named like ours but not tagged as ours: leave it alone
        created = _parse_time(tags.get("bench:created")) or _parse_time(fn.get("LastModified"))
        if cutoff and created and created > cutoff:
            continue
        result.functions.append(name)
        if not result.dry_run:
            try:
                cp.call(
                    partial(cp.lambda_client.delete_function, FunctionName=name),
                    "DeleteFunction",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise


def _cleanup_log_groups(
    cp: ControlPlane,
    wanted: re.Pattern[str],
    stage: str,
    cutoff: datetime | None,
    result: CleanupResult,
) -> None:
    groups = _paginate(
        cp.logs_client,
        "describe_log_groups",
        "logGroups",
        logGroupNamePrefix=f"/aws/lambda/bench-{stage}-",
    )
    for group in groups:
        name = group["logGroupName"]
        if not wanted.match(name.removeprefix("/aws/lambda/")):
            continue
        created_ms = group.get("creationTime")
        created = datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else None
        if cutoff and created and created > cutoff:
            continue
        result.log_groups.append(name)
        if not result.dry_run:
            try:
                cp.call(
                    partial(cp.logs_client.delete_log_group, logGroupName=name), "DeleteLogGroup"
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise


def _cleanup_role(
    target: Any, cp: ControlPlane, stage: str, run_id: str | None, result: CleanupResult
) -> None:
    if run_id:
        return  # the role belongs to the stage, not to one run
    remaining = [
        fn["FunctionName"]
        for fn in _paginate(cp.lambda_client, "list_functions", "Functions")
        if name_pattern(stage).match(fn["FunctionName"])
        and fn["FunctionName"] not in result.functions
    ]
    if remaining:
        result.notes.append(
            f"role kept: {len(remaining)} function(s) of stage {stage} still use it"
        )
        return
    iam = target.iam_client()
    if iam is None:
        return
    try:
        from bench.iam import delete_execution_role, execution_role_name

        if result.dry_run:
            result.role = f"{execution_role_name(stage)} (if present)"
        else:
            result.role = delete_execution_role(iam, stage)
    except Exception as exc:  # an endpoint without IAM (the emulator) answers anything
        result.notes.append(f"role not checked: IAM did not answer ({type(exc).__name__})")


def format_cleanup(result: CleanupResult) -> Any:
    from rich.table import Table

    verb = "would delete" if result.dry_run else "deleted"
    table = Table(title=f"cleanup of stage {result.stage} ({verb})")
    table.add_column("kind")
    table.add_column("name")
    for name in result.functions:
        table.add_row("function", name)
    for name in result.log_groups:
        table.add_row("log group", name)
    if result.role:
        table.add_row("role", result.role)
    for note in result.notes:
        table.add_row("note", note)
    if not (result.functions or result.log_groups or result.role):
        table.add_row("-", "nothing to delete")
    return table


@dataclass
class FunctionRow:
    name: str
    runtime: str | None
    memory_mb: int | None
    last_modified: datetime | None
    last_invocation: datetime | None


def list_region_functions(
    *,
    inactive_days: int | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> list[FunctionRow]:
    """Every function of the region with its last invocation (newest log stream event)."""
    cutoff = (
        datetime.now(UTC) - timedelta(days=inactive_days) if inactive_days is not None else None
    )
    rows = []
    with _open_for_cleanup(region, profile, endpoint_url, "dev") as target:
        cp = ControlPlane.from_target(target, RateLimiter(CONTROL_PLANE_RATE_PER_S))
        try:
            for fn in _paginate(cp.lambda_client, "list_functions", "Functions"):
                last = _last_invocation(cp, log_group_of(fn["FunctionName"]))
                if cutoff and last and last > cutoff:
                    continue
                rows.append(
                    FunctionRow(
                        name=fn["FunctionName"],
                        runtime=fn.get("Runtime"),
                        memory_mb=fn.get("MemorySize"),
                        last_modified=_parse_time(fn.get("LastModified")),
                        last_invocation=last,
                    )
                )
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"listing functions: {exc}") from None
    return sorted(rows, key=lambda r: r.name)


def _last_invocation(cp: ControlPlane, group: str) -> datetime | None:
    try:
        streams = cp.call(
            lambda: cp.logs_client.describe_log_streams(
                logGroupName=group, orderBy="LastEventTime", descending=True, limit=1
            ),
            "DescribeLogStreams",
        ).get("logStreams", [])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    if not streams or not streams[0].get("lastEventTimestamp"):
        return None
    return datetime.fromtimestamp(streams[0]["lastEventTimestamp"] / 1000, UTC)


def format_listing(rows: list[FunctionRow]) -> Any:
    from rich.table import Table

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "never"

    table = Table(title=f"{len(rows)} function(s)")
    for column in ("name", "runtime", "memory", "last modified", "last invocation"):
        table.add_column(column)
    for row in rows:
        memory = f"{row.memory_mb} MB" if row.memory_mb else "-"
        table.add_row(
            row.name, row.runtime or "-", memory, when(row.last_modified), when(row.last_invocation)
        )
    return table
