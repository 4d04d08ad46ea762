"""Least-privilege IAM for a stage, as policy documents: the functions' execution role, the
driver role, the harness's own policy and bench analyze's (bench.iam_roles puts the roles
in an account).

Everything a stage creates is named `bench-<stage>-...`, so every permission below is
scoped to that prefix. No statement grants a wildcard action; the few calls AWS cannot
scope to a resource say so in their Sid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.errors import InputError
from bench.naming import (
    artifact_key_prefix,
    driver_name_glob,
    driver_role_name,
    execution_role_name,
    function_prefix,
    log_group_of,
)

POLICY_VERSION = "2012-10-17"
LAMBDA_SERVICE = "lambda.amazonaws.com"


Regions = str | Sequence[str]


def _each(region: Regions) -> list[str]:
    """One region, or the regions a run measures at once."""
    return [region] if isinstance(region, str) else list(region)


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _log_group_arn(stage: str, region: str, account: str) -> str:
    group = log_group_of(function_prefix(stage))
    return f"arn:aws:logs:{region}:{account}:log-group:{group}*"


def _role_arn(stage: str, account: str) -> str:
    return f"arn:aws:iam::{account}:role/{execution_role_name(stage)}"


def trust_policy() -> dict[str, Any]:
    """Only the Lambda service may assume the execution role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": LAMBDA_SERVICE},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def execution_policy(stage: str, region: Regions, account: str) -> dict[str, Any]:
    """What the benchmark functions themselves may do: write their own logs, nothing else.

    No logs:CreateLogGroup: the harness creates each group with a retention first, so a
    function can never leave behind a group that keeps its logs forever.
    """
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": _one_or_list(
                    [f"{_log_group_arn(stage, r, account)}:*" for r in _each(region)]
                ),
            }
        ],
    }


def driver_policy(stage: str, region: Regions, account: str) -> dict[str, Any]:
    """The driver function's role (driver: lambda): lambda:InvokeFunction on the stage's
    functions and nothing else of Lambda (never a driver, itself included), and writing
    the drivers' own logs."""
    regions = _each(region)
    prefix = function_prefix(stage)
    drivers = [f"arn:aws:lambda:{r}:{account}:function:{driver_name_glob(stage)}" for r in regions]
    groups = [
        f"arn:aws:logs:{r}:{account}:log-group:{log_group_of(driver_name_glob(stage))}:*"
        for r in regions
    ]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "InvokeStageFunctions",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": _one_or_list(
                    [f"arn:aws:lambda:{r}:{account}:function:{prefix}*" for r in regions]
                ),
            },
            {
                "Sid": "NeverADriver",
                "Effect": "Deny",
                "Action": "lambda:InvokeFunction",
                "Resource": _one_or_list(drivers),
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": _one_or_list(groups),
            },
        ],
    }


def _invoke_drivers(stage: str, regions: list[str], account: str) -> dict[str, Any]:
    glob = driver_name_glob(stage)
    return {
        "Sid": "InvokeDriversOnly",
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": _one_or_list(
            [f"arn:aws:lambda:{r}:{account}:function:{glob}" for r in regions]
        ),
    }


def harness_policy(
    stage: str,
    region: Regions = "*",
    account: str = "*",
    artifact_bucket: str | None = None,
    artifact_prefix: str | None = None,
    *,
    clone_from: list[str] | None = None,
    clone_vpc: bool = False,
    driver: str = "client",
) -> dict[str, Any]:
    """The policy the harness's own credentials need to run, clean up and list a stage;
    with `clone_from` (function ARNs of `from:`), the reads that cloning them needs, on
    those functions alone (and the VPC lookups with `clone_vpc`). With `driver: lambda`
    the harness invokes only the driver functions (they invoke the stage's functions) and
    manages the drivers' role besides the execution role."""
    artifact_prefix = artifact_prefix or artifact_key_prefix(stage)
    regions = _each(region)
    functions = _one_or_list(
        [f"arn:aws:lambda:{r}:{account}:function:{function_prefix(stage)}*" for r in regions]
    )
    groups = [_log_group_arn(stage, r, account) for r in regions]
    role: str | list[str] = _role_arn(stage, account)
    in_region = driver == "lambda"
    if in_region:
        driver_role = f"arn:aws:iam::{account}:role/{driver_role_name(stage)}"
        role = [_role_arn(stage, account), driver_role]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "StageFunctions",
            "Effect": "Allow",
            "Action": [
                "lambda:CreateFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:UpdateFunctionConfiguration",
                "lambda:UpdateFunctionCode",
                "lambda:DeleteFunction",
                *([] if in_region else ["lambda:InvokeFunction"]),
                "lambda:CreateFunctionUrlConfig",
                "lambda:GetFunctionUrlConfig",
                "lambda:DeleteFunctionUrlConfig",
                "lambda:InvokeFunctionUrl",
                "lambda:PutFunctionConcurrency",
                "lambda:DeleteFunctionConcurrency",
                "lambda:PublishVersion",
                "lambda:PutProvisionedConcurrencyConfig",
                "lambda:GetProvisionedConcurrencyConfig",
                "lambda:DeleteProvisionedConcurrencyConfig",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:ListTags",
            ],
            "Resource": functions,
        },
        *([_invoke_drivers(stage, regions, account)] if in_region else []),
        {
            # AWS offers no resource-level scoping for these two account-wide reads.
            "Sid": "AccountReadsWithoutResourceScopingListFunctionsGetAccountSettings",
            "Effect": "Allow",
            "Action": ["lambda:ListFunctions", "lambda:GetAccountSettings"],
            "Resource": "*",
        },
        {
            "Sid": "StageLogGroups",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
                "logs:TagLogGroup",
                "logs:DescribeLogStreams",
                "logs:FilterLogEvents",
                "logs:GetLogEvents",
            ],
            "Resource": [x for g in groups for x in (g, f"{g}:*")],
        },
        {
            # DescribeLogGroups is authorised against the account's log groups as a whole;
            # the harness filters by the stage prefix itself.
            "Sid": "AccountReadsWithoutResourceScopingDescribeLogGroups",
            "Effect": "Allow",
            "Action": ["logs:DescribeLogGroups"],
            "Resource": "*",
        },
        {
            "Sid": "StageExecutionRole",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:TagRole",
                "iam:ListRolePolicies",
            ],
            "Resource": role,
        },
        {
            "Sid": "PassStageRoleToLambdaOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": LAMBDA_SERVICE}},
        },
    ]
    if artifact_bucket:
        statements.append(
            {
                "Sid": "StageArtifacts",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": f"arn:aws:s3:::{artifact_bucket}/{artifact_prefix}*",
            }
        )
        statements.append(
            {
                # Cleanup lists the stage's own packages, and no other prefix.
                "Sid": "StageArtifactListing",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{artifact_bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{artifact_prefix}*"]}},
            }
        )
        statements.append(
            {
                # A run checks the bucket is in its region before uploading anything.
                "Sid": "ArtifactBucketRegion",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": f"arn:aws:s3:::{artifact_bucket}",
            }
        )
    statements.extend(clone_statements(clone_from or [], vpc=clone_vpc))
    return {"Version": POLICY_VERSION, "Statement": statements}


def clone_statements(arns: list[str], *, vpc: bool = False) -> list[dict[str, Any]]:
    """Reading the functions a matrix clones (`from:`), and nothing else of them: their
    configuration and code (GetFunction, on each named ARN, qualified as given); the layer
    versions a copy is created with; the VPC lookups CreateFunction makes with a VpcConfig."""
    if not arns:
        return []
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadClonedFunctions",
            "Effect": "Allow",
            "Action": ["lambda:GetFunction", "lambda:GetFunctionConfiguration"],
            "Resource": _one_or_list(sorted(set(arns))),
        },
        {
            # A function's layers are known only once it is read: narrow this to them.
            "Sid": "UseClonedFunctionsLayers",
            "Effect": "Allow",
            "Action": ["lambda:GetLayerVersion"],
            "Resource": "arn:aws:lambda:*:*:layer:*:*",
        },
    ]
    if vpc:
        statements.append(
            {
                # Lambda checks these for the caller of CreateFunction with a VpcConfig;
                # EC2 offers no resource-level scoping for Describe calls.
                "Sid": "ClonedFunctionsVpcLookupsWithoutResourceScoping",
                "Effect": "Allow",
                "Action": ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                           "ec2:DescribeVpcs"],
                "Resource": "*",
            }
        )  # fmt: skip
    return statements


def analyze_policy(
    *,
    functions: list[str],
    prefix: str | None = None,
    tagged: bool = False,
    log_groups: list[str] | None = None,
    region: str = "*",
    account: str = "*",
) -> dict[str, Any]:
    """What `bench analyze` needs, read-only: the selected functions' configuration and
    their log groups (the default /aws/lambda/<name>, plus each customised
    LoggingConfig.LogGroup given in `log_groups`). A tag alone cannot scope log groups, so
    the functions are named or prefixed; `tagged` adds the tag reads."""
    if not functions and prefix is None:
        raise InputError(
            "bench iam-policy --analyze: name the functions (--function) or a prefix "
            "(--prefix); a Lambda tag cannot scope their log groups"
        )
    names = [*functions, *([f"{prefix}*"] if prefix is not None else [])]
    groups = [log_group_of(name) for name in names] + list(log_groups or [])
    group_arns = [f"arn:aws:logs:{region}:{account}:log-group:{group}" for group in groups]
    lambda_actions = ["lambda:GetFunctionConfiguration"]
    if tagged:
        lambda_actions.append("lambda:ListTags")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadSelectedFunctions",
            "Effect": "Allow",
            "Action": lambda_actions,
            "Resource": [f"arn:aws:lambda:{region}:{account}:function:{n}" for n in names],
        },
        {
            "Sid": "ReadSelectedLogGroups",
            "Effect": "Allow",
            "Action": ["logs:FilterLogEvents", "logs:StartQuery"],
            "Resource": [*group_arns, *(f"{arn}:*" for arn in group_arns)],
        },
        {
            # Query ids, not log groups, are what these two act on: AWS offers no
            # resource-level scoping for them.
            "Sid": "QueryResultsWithoutResourceScopingGetQueryResultsStopQuery",
            "Effect": "Allow",
            "Action": ["logs:GetQueryResults", "logs:StopQuery"],
            "Resource": "*",
        },
    ]
    if prefix is not None or tagged:
        statements.insert(1, {
            # Finding functions by prefix or tag lists them; AWS scopes ListFunctions to
            # no resource.
            "Sid": "AccountReadsWithoutResourceScopingListFunctions",
            "Effect": "Allow",
            "Action": ["lambda:ListFunctions"],
            "Resource": "*",
        })  # fmt: skip
    return {"Version": POLICY_VERSION, "Statement": statements}
