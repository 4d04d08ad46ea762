"""The stage's IAM roles in an account: the execution role and the driver role created or
brought up to date (trusting Lambda only), the execution role deleted, and a new role's
propagation told from a real error. Their policies are written in bench.iam."""

from __future__ import annotations

import json
from typing import Any

from bench.aws_errors import error_code, error_message
from bench.errors import TargetError
from bench.iam import LAMBDA_SERVICE, Regions, driver_policy, execution_policy, trust_policy
from bench.naming import INLINE_POLICY_NAME, driver_role_name, execution_role_name


def ensure_execution_role(
    iam_client: Any, *, stage: str, region: Regions, account: str, tags: dict[str, str]
) -> str:
    """The stage's execution role ARN, creating the role and its inline policy if missing.

    Idempotent: an existing role gets its inline policy and tags re-applied. A role whose
    trust reaches beyond Lambda is refused rather than silently used.
    """
    return _ensure_role(
        iam_client,
        name=execution_role_name(stage),
        policy=execution_policy(stage, region, account),
        description=f"coldbench stage {stage}: benchmark functions write their logs",
        tags=tags,
    )


def _ensure_role(
    iam_client: Any, *, name: str, policy: dict[str, Any], description: str, tags: dict[str, str]
) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    try:
        role = iam_client.get_role(RoleName=name)["Role"]
        arn = str(role["Arn"])
        _check_trust(name, role.get("AssumeRolePolicyDocument"))
        if tag_list:
            iam_client.tag_role(RoleName=name, Tags=tag_list)
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        kwargs: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": json.dumps(trust_policy()),
            "Description": description,
            "MaxSessionDuration": 3600,
        }
        if tag_list:
            kwargs["Tags"] = tag_list
        arn = str(iam_client.create_role(**kwargs)["Role"]["Arn"])
    iam_client.put_role_policy(
        RoleName=name,
        PolicyName=INLINE_POLICY_NAME,
        PolicyDocument=json.dumps(policy),
    )
    return arn


def ensure_driver_role(
    iam_client: Any, *, stage: str, region: Regions, account: str, tags: dict[str, str]
) -> str:
    """The stage's driver role (driver: lambda), created or brought up to date like the
    execution role: trusts Lambda only, may invoke the stage's functions only."""
    return _ensure_role(
        iam_client,
        name=driver_role_name(stage),
        policy=driver_policy(stage, region, account),
        description=f"coldbench stage {stage}: driver functions invoke the stage's functions",
        tags=tags,
    )


def _check_trust(name: str, document: Any) -> None:
    if isinstance(document, str):  # IAM returns it URL-encoded when botocore does not decode
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        service = principal.get("Service") if isinstance(principal, dict) else None
        if statement.get("Effect") == "Allow" and service not in (LAMBDA_SERVICE, [LAMBDA_SERVICE]):
            raise TargetError(
                f"IAM role {name} trusts more than {LAMBDA_SERVICE}; restore its trust policy "
                "or delete it (bench cleanup) so the harness recreates it"
            )


def delete_execution_role(iam_client: Any, stage: str) -> str | None:
    """Delete the stage's role and its inline policies; the role name, or None if absent."""
    name = execution_role_name(stage)
    try:
        names = iam_client.list_role_policies(RoleName=name)["PolicyNames"]
    except Exception as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    for policy in names:
        iam_client.delete_role_policy(RoleName=name, PolicyName=policy)
    try:
        iam_client.delete_role(RoleName=name)
    except Exception as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return name


def is_role_propagation_error(exc: BaseException) -> bool:
    """CreateFunction failing only because a new role has not reached Lambda yet. Lambda
    says so in two ways: the role "cannot be assumed by Lambda", or, for a function with
    environment variables, the grant on its KMS key names an assumed-role session that
    "does not refer to a valid principal" yet. (The same CreateGrant message with another
    KMS reason, e.g. a key alias, is a real error and is not retried.)"""
    if error_code(exc) != "InvalidParameterValueException":
        return False
    message = error_message(exc)
    if "cannot be assumed by Lambda" in message:
        return True
    return "invalid for CreateGrant" in message and "does not refer to a valid principal" in message
