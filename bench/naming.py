"""Names and tags of everything the harness creates: functions, log groups, the stage's
execution role, artifact keys. Deploy, IAM policies, cleanup and log collection all
spell them through here, so a policy can never grant a name the driver does not use.
"""

from __future__ import annotations

import re
from datetime import datetime

from bench.errors import InputError

PREFIX = "bench"
# Lambda's own default log group of a function (AWS names it, not us).
LAMBDA_LOG_GROUP_PREFIX = "/aws/lambda/"
MAX_FUNCTION_NAME = 64  # Lambda's limit

# The role the local target says its functions run as (it has no IAM to check it).
LOCAL_ROLE_NAME = f"{PREFIX}-local-execution"
# The execution role's inline policy: write the function's own logs, nothing else.
INLINE_POLICY_NAME = f"{PREFIX}-logs"

TAG_RUN = "bench:run"
TAG_STAGE = "bench:stage"
TAG_CELL = "bench:cell"
TAG_CREATED = "bench:created"
TAG_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def function_prefix(stage: str) -> str:
    """Every function, log group and role of a stage starts with this."""
    return f"{PREFIX}-{stage}-"


def run_prefix(stage: str, run_rand: str) -> str:
    """The functions of one run: the stage prefix and the run id's random part."""
    return f"{function_prefix(stage)}{run_rand}-"


def function_name(stage: str, run_rand: str, index: int) -> str:
    name = f"{run_prefix(stage, run_rand)}{index:02d}"
    if len(name) > MAX_FUNCTION_NAME:
        raise InputError(
            f"function name {name} is longer than Lambda's {MAX_FUNCTION_NAME} characters"
        )
    return name


def name_pattern(stage: str, run_rand: str | None = None) -> re.Pattern[str]:
    """Exactly the functions this harness names for a stage (and run): a stage `dev`
    must not match `bench-dev-x-...` of a stage `dev-x`. Cell indexes have two digits or
    more (`-07`, `-123`); a run's driver function (driver: lambda) ends in `-driver`."""
    rand = re.escape(run_rand) if run_rand else "[0-9a-f]{6}"
    return re.compile(rf"^{re.escape(function_prefix(stage))}{rand}-(\d{{2,}}|{DRIVER})$")


DRIVER = "driver"


def driver_name(stage: str, run_rand: str) -> str:
    """The run's driver function (driver: lambda)."""
    return f"{run_prefix(stage, run_rand)}{DRIVER}"


def driver_name_glob(stage: str) -> str:
    """Every driver function of a stage, as an IAM resource pattern."""
    return f"{function_prefix(stage)}??????-{DRIVER}"


def driver_role_name(stage: str) -> str:
    """The role the stage's driver functions run as: it may invoke the stage's functions."""
    return f"{function_prefix(stage)}driver"


def log_group_of(function: str) -> str:
    return f"{LAMBDA_LOG_GROUP_PREFIX}{function}"


def function_of_log_group(group: str) -> str:
    return group.removeprefix(LAMBDA_LOG_GROUP_PREFIX)


def execution_role_name(stage: str) -> str:
    return f"{function_prefix(stage)}exec"


def artifact_key_prefix(stage: str) -> str:
    """Where deployment packages of a stage go in the artifact bucket, so the policy can
    give a stage its own objects and no other's."""
    return f"{PREFIX}-{stage}/"


def artifact_run_prefix(stage: str, run_rand: str | None) -> str:
    """The packages of one run (of every run of the stage when `run_rand` is None)."""
    return artifact_key_prefix(stage) + (f"{run_rand}/" if run_rand else "")


def artifact_key(stage: str, run_id: str, sha256: str) -> str:
    """Under the stage's prefix (which the harness policy grants) and the run's, so a
    teardown or `bench cleanup --run` deletes exactly what that run uploaded."""
    return f"{artifact_run_prefix(stage, run_suffix(run_id))}{sha256}.zip"


def run_suffix(run_id: str) -> str:
    """The random part of a run id (`<timestamp>-<name>-<6 hex>`), which names carry."""
    return run_id.rsplit("-", 1)[-1]


def resource_tags(*, run_id: str, stage: str, cell_id: str, created: datetime) -> dict[str, str]:
    return {
        TAG_RUN: run_id,
        TAG_STAGE: stage,
        TAG_CELL: cell_id,
        TAG_CREATED: created.strftime(TAG_TIME_FORMAT),
    }
