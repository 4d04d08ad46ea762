"""Who else runs as the stage's execution role, in every Lambda region of the partition.

IAM is global: a role deleted after a cleanup of region A is gone for the stage's functions
in region B too. Before `bench cleanup` deletes the role it lists the functions of every
other Lambda region of the partition (boto3's own region list, no API call), and keeps the
role on any answer short of "nobody else runs as it".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.aws_errors import code_or_type, error_code
from bench.deploy import CONTROL_PLANE_RATE_PER_S, pace
from bench.pacing import RateLimiter

# What a region that is not enabled for the account answers credentials that are valid
# elsewhere: Lambda (JSON protocol) says UnrecognizedClientException, query-protocol
# services InvalidClientTokenId, EC2 AuthFailure. A global-STS session token (version 1)
# gets the same answer from an opt-in region even when the region is enabled, so a region
# skipped for this reason is named in the cleanup's notes.
NOT_ENABLED_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure"}
)


@dataclass
class RoleUsers:
    functions: list[str] = field(default_factory=list)  # "<name> (<region>)"
    not_enabled: list[str] = field(default_factory=list)  # regions skipped: not enabled
    unchecked: list[str] = field(default_factory=list)  # "<region> (<error>)": keep the role

    def notes(self) -> list[str]:
        notes = []
        if self.not_enabled:
            notes.append(
                "regions skipped in the role check, not enabled for the account: "
                + ", ".join(self.not_enabled)
            )
        if self.unchecked:
            notes.append("role kept: could not list the functions of " + ", ".join(self.unchecked))
        return notes


def other_lambda_regions(session: Any, checked: list[str]) -> list[str]:
    """The partition's Lambda regions (the partition of the regions checked), less those;
    none when one endpoint answers for every region (AWS_ENDPOINT_URL or a profile's
    endpoint_url pointing at the local target): that endpoint is the whole world."""
    partitions = {session.get_partition_for_region(region) for region in checked}
    regions: set[str] = set()
    for partition in partitions:
        regions.update(session.get_available_regions("lambda", partition_name=partition))
    others = sorted(regions - set(checked))
    if others and _endpoint(session, others[0]) == _endpoint(session, checked[0]):
        return []
    return others


def _endpoint(session: Any, region: str) -> str:
    return str(session.client("lambda", region_name=region).meta.endpoint_url)


def find_role_users(
    control_client: Callable[[str], Any],
    regions: list[str],
    uses_role: Callable[[dict[str, Any]], bool],
    limiter: RateLimiter | None = None,
) -> RoleUsers:
    """Every function of `regions` for which `uses_role` holds; `control_client(region)`
    makes the Lambda client, each of its requests paced like every control-plane request."""
    limiter = limiter or RateLimiter(CONTROL_PLANE_RATE_PER_S)
    users = RoleUsers()
    for region in regions:
        client = pace(control_client(region), limiter)
        try:
            found = [
                f"{fn['FunctionName']} ({region})"
                for page in client.get_paginator("list_functions").paginate()
                for fn in page.get("Functions", [])
                if uses_role(fn)
            ]
        except ClientError as exc:
            if error_code(exc) in NOT_ENABLED_CODES:
                users.not_enabled.append(region)
            else:
                users.unchecked.append(f"{region} ({code_or_type(exc)})")
            continue
        except BotoCoreError as exc:  # unreachable endpoint, timeout: not an answer
            users.unchecked.append(f"{region} ({type(exc).__name__})")
            continue
        users.functions.extend(found)
    return users
