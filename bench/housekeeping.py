"""Housekeeping on a region: delete tagged leftovers (`bench cleanup`); listing functions
with their last invocation (`bench ls`) is bench.listing.

Like deployment, every control-plane request goes through the shared ControlPlane pacing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.deploy import CONTROL_PLANE_RATE_PER_S, ControlPlane, delete_if_present
from bench.errors import InputError, TargetError
from bench.naming import (
    TAG_CREATED,
    TAG_RUN,
    TAG_STAGE,
    artifact_run_prefix,
    execution_role_name,
    function_of_log_group,
    function_prefix,
    log_group_of,
    name_pattern,
    run_suffix,
)
from bench.pacing import RateLimiter


@dataclass
class CleanupResult:
    stage: str
    dry_run: bool
    functions: list[str] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)  # s3://bucket/key
    role: str | None = None
    local: list[str] = field(default_factory=list)  # dead local targets' leftovers
    notes: list[str] = field(default_factory=list)


def parse_age(text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise InputError(f"--older-than {text!r}: expected a number and s, m, h or d, e.g. 2h")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def open_region(
    region: str | None, profile: str | None, endpoint_url: str | None, stage: str
) -> Any:
    from bench.target_aws import open_aws_target

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
    region: str | list[str] | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    artifact_bucket: str | None = None,
) -> CleanupResult:
    """Delete the stage's tagged leftovers (and, given the artifact bucket, the packages
    uploaded there), and its role once no function uses it."""
    stage = stage or "dev"
    age = parse_age(older_than)
    run_rand = run_suffix(run_id) if run_id else None
    if run_rand is not None and not re.fullmatch(r"[0-9a-f]{6}", run_rand):
        raise InputError(f"--run {run_id!r}: not a run id (<timestamp>-<name>-<6 hex>)")
    cutoff = datetime.now(UTC) - age if age else None
    result = CleanupResult(stage=stage, dry_run=dry_run)
    _cleanup_local(run_id, cutoff, result)
    if endpoint_url is None and not _region_known(region, profile):
        result.notes.append(
            "AWS not checked: no region (give --region, set AWS_REGION, or a profile's region)"
        )
        return result
    regions = region_list(region)
    remaining: list[str] = []
    checked: list[str] = []
    for index, name in enumerate(regions):
        with open_region(name, profile, endpoint_url, stage) as target:
            checked.append(target.region)
            cp = ControlPlane.from_target(target, RateLimiter(CONTROL_PLANE_RATE_PER_S))
            wanted = name_pattern(stage, run_rand)
            try:
                _cleanup_functions(
                    cp, wanted=wanted, stage=stage, run_id=run_id, cutoff=cutoff, result=result
                )
                _cleanup_log_groups(cp, wanted, stage, cutoff, result)
                if artifact_bucket and index == 0:  # the bucket is one, whatever the region
                    _cleanup_packages(
                        target.s3_client(), artifact_bucket, stage=stage, run_rand=run_rand,
                        cutoff=cutoff, result=result,
                    )  # fmt: skip
                remaining += _still_using_role(cp, stage, result)
            except (ClientError, BotoCoreError) as exc:
                raise TargetError(f"cleanup of stage {stage}: {exc}") from None
            if index == len(regions) - 1:  # the role is global: kept while any region uses it
                _cleanup_role(target, stage, run_id, result, remaining, checked=checked)
    return result


def _region_known(region: str | list[str] | None, profile: str | None) -> bool:
    if region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        return True
    import boto3

    try:
        return bool(boto3.Session(profile_name=profile).region_name)
    except BotoCoreError:
        return True  # a broken profile: opening the target says what is wrong with it


def _cleanup_local(run_id: str | None, cutoff: datetime | None, result: CleanupResult) -> None:
    """State directories, cgroups and sandbox processes of local targets whose process
    is gone (a killed `bench run` or `bench emulator`)."""
    from bench.emulator import leftovers

    for leftover in leftovers.find(run_id=run_id, cutoff=cutoff):
        result.local.append(leftover.describe())
        if not result.dry_run:
            for problem in leftovers.remove(leftover):
                result.notes.append(f"local leftover not removed: {problem}")


def _cleanup_functions(
    cp: ControlPlane,
    *,
    wanted: re.Pattern[str],
    stage: str,
    run_id: str | None,
    cutoff: datetime | None,
    result: CleanupResult,
) -> None:
    for fn in paginate(cp.lambda_client, "list_functions", "Functions"):
        name = fn["FunctionName"]
        if not wanted.match(name):
            continue
        tags = cp.call(partial(cp.lambda_client.list_tags, Resource=fn["FunctionArn"]), "ListTags")
        tags = tags.get("Tags", {})
        if tags.get(TAG_STAGE) != stage or (run_id and tags.get(TAG_RUN) != run_id):
            continue  # named like ours but not tagged as ours: leave it alone
        created = parse_time(tags.get(TAG_CREATED)) or parse_time(fn.get("LastModified"))
        if cutoff and created and created > cutoff:
            continue
        result.functions.append(name)
        if not result.dry_run:
            delete_if_present(
                cp, partial(cp.lambda_client.delete_function, FunctionName=name), "DeleteFunction"
            )


def _cleanup_log_groups(
    cp: ControlPlane,
    wanted: re.Pattern[str],
    stage: str,
    cutoff: datetime | None,
    result: CleanupResult,
) -> None:
    groups = paginate(
        cp.logs_client,
        "describe_log_groups",
        "logGroups",
        logGroupNamePrefix=log_group_of(function_prefix(stage)),
    )
    for group in groups:
        name = group["logGroupName"]
        if not wanted.match(function_of_log_group(name)):
            continue
        created_ms = group.get("creationTime")
        created = datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else None
        if cutoff and created and created > cutoff:
            continue
        result.log_groups.append(name)
        if not result.dry_run:
            delete_if_present(
                cp, partial(cp.logs_client.delete_log_group, logGroupName=name), "DeleteLogGroup"
            )


def _cleanup_packages(
    s3: Any,
    bucket: str,
    *,
    stage: str,
    run_rand: str | None,
    cutoff: datetime | None,
    result: CleanupResult,
) -> None:
    """Packages a run uploaded (bench.naming.artifact_key) that its teardown did not get to."""
    prefix = artifact_run_prefix(stage, run_rand)
    for obj in paginate(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix):
        if cutoff and obj.get("LastModified") and obj["LastModified"] > cutoff:
            continue
        result.packages.append(f"s3://{bucket}/{obj['Key']}")
        if not result.dry_run:
            s3.delete_object(Bucket=bucket, Key=obj["Key"])


def region_list(region: str | list[str] | None) -> list[str | None]:
    """`--region` given once, several times, or not at all (the default region)."""
    if region is None or isinstance(region, str):
        return [region]
    return list(dict.fromkeys(region)) or [None]


def _still_using_role(cp: ControlPlane, stage: str, result: CleanupResult) -> list[str]:
    """Whatever still runs as the role keeps it, whether or not we would have named it."""
    return [
        fn["FunctionName"]
        for fn in paginate(cp.lambda_client, "list_functions", "Functions")
        if fn["FunctionName"] not in result.functions and _uses_role(stage, fn)
    ]


def _uses_role(stage: str, fn: dict[str, Any]) -> bool:
    """Named like the stage's functions, or running as its role."""
    runs_as = str(fn.get("Role", "")).endswith(f":role/{execution_role_name(stage)}")
    return runs_as or bool(name_pattern(stage).match(fn["FunctionName"]))


def _cleanup_role(
    target: Any,
    stage: str,
    run_id: str | None,
    result: CleanupResult,
    remaining: list[str],
    *,
    checked: list[str],
) -> None:
    if run_id:
        return  # the role belongs to the stage, not to one run
    if not remaining and target.endpoint_url is None:  # an endpoint is the whole world
        from bench.role_users import find_role_users, other_lambda_regions

        elsewhere = find_role_users(
            lambda region: replace(target, region=region).control_client(),
            other_lambda_regions(target.session, checked),
            partial(_uses_role, stage),
        )
        result.notes.extend(elsewhere.notes())
        if elsewhere.unchecked:
            return  # never deleted on doubt
        remaining = elsewhere.functions
    if remaining:
        result.notes.append(
            f"role kept: {len(remaining)} function(s) still use it ({', '.join(remaining[:3])}"
            + (", ..." if len(remaining) > 3 else "")
            + ")"
        )
        return
    iam = target.iam_client()
    if iam is None:
        return
    try:
        from bench.iam_roles import delete_execution_role

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
    for name in result.packages:
        table.add_row("package", name)
    if result.role:
        table.add_row("role", result.role)
    for name in result.local:
        table.add_row("local state", name)
    for note in result.notes:
        table.add_row("note", note)
    if not (
        result.functions or result.log_groups or result.packages or result.role or result.local
    ):
        table.add_row("-", "nothing to delete")
    return table
