"""IAM: the execution role and the harness policy are least privilege and stage-scoped (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import TargetError
from bench.iam import (
    execution_policy,
    execution_role_name,
    function_prefix,
    harness_policy,
    trust_policy,
)
from bench.iam_roles import delete_execution_role, ensure_execution_role, is_role_propagation_error

ACCOUNT = "123456789012"


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy["Statement"]
    return found if isinstance(found, list) else [found]


def listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def assert_no_wildcard_action(policy: dict[str, Any]) -> None:
    for statement in statements(policy):
        assert "NotAction" not in statement
        for action in listed(statement["Action"]):
            service, _, name = action.partition(":")
            assert action != "*" and name and "*" not in name, action
            assert service and "*" not in service, action


def assert_resources_name_stage(policy: dict[str, Any], stage: str) -> None:
    """Every resource names the stage, except account-level reads that AWS cannot scope."""
    for statement in statements(policy):
        assert "NotResource" not in statement
        for resource in listed(statement["Resource"]):
            if resource == "*":
                assert "WithoutResourceScoping" in statement["Sid"], statement
                assert all(
                    a in ("lambda:ListFunctions", "lambda:GetAccountSettings",
                          "logs:DescribeLogGroups") for a in listed(statement["Action"])
                ), statement
            else:
                assert f"bench-{stage}-" in resource, resource


@pytest.fixture
def iam() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("iam", region_name="us-east-1")


def test_names() -> None:
    assert execution_role_name("nightly") == "bench-nightly-exec"
    assert function_prefix("nightly") == "bench-nightly-"


def test_trust_policy_is_lambda_only() -> None:
    [statement] = statements(trust_policy())
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


def test_execution_policy_writes_only_the_stage_logs() -> None:
    policy = execution_policy("nightly", "eu-central-1", ACCOUNT)
    [statement] = statements(policy)
    assert sorted(listed(statement["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == (
        f"arn:aws:logs:eu-central-1:{ACCOUNT}:log-group:/aws/lambda/bench-nightly-*:*"
    )
    assert_no_wildcard_action(policy)


def test_ensure_creates_role_with_trust_inline_policy_and_tags(iam: Any) -> None:
    arn = ensure_execution_role(
        iam, stage="nightly", region="eu-central-1", account=ACCOUNT,
        tags={"bench:stage": "nightly", "bench:created": "2026-11-27T14:00:00Z"},
    )
    role = iam.get_role(RoleName="bench-nightly-exec")["Role"]
    assert arn == role["Arn"] and arn.endswith(":role/bench-nightly-exec")
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    assert trust == trust_policy()
    assert iam.list_role_policies(RoleName="bench-nightly-exec")["PolicyNames"] == ["bench-logs"]
    assert iam.list_attached_role_policies(RoleName="bench-nightly-exec")[
        "AttachedPolicies"] == []
    inline = iam.get_role_policy(RoleName="bench-nightly-exec", PolicyName="bench-logs")
    document = inline["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    assert document == execution_policy("nightly", "eu-central-1", ACCOUNT)
    assert_no_wildcard_action(document)
    assert_resources_name_stage(document, "nightly")
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="bench-nightly-exec")["Tags"]}
    assert tags["bench:stage"] == "nightly"


def test_ensure_is_idempotent(iam: Any) -> None:
    first = ensure_execution_role(iam, stage="dev", region="us-east-1", account=ACCOUNT,
                                  tags={"bench:stage": "dev"})
    second = ensure_execution_role(iam, stage="dev", region="us-east-1", account=ACCOUNT,
                                   tags={"bench:stage": "dev"})
    assert first == second
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert roles.count("bench-dev-exec") == 1
    assert iam.list_role_policies(RoleName="bench-dev-exec")["PolicyNames"] == ["bench-logs"]


def test_ensure_restores_a_widened_inline_policy(iam: Any) -> None:
    ensure_execution_role(iam, stage="dev", region="us-east-1", account=ACCOUNT, tags={})
    wide = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName="bench-dev-exec", PolicyName="bench-logs",
                        PolicyDocument=json.dumps(wide))
    ensure_execution_role(iam, stage="dev", region="us-east-1", account=ACCOUNT, tags={})
    document = iam.get_role_policy(RoleName="bench-dev-exec", PolicyName="bench-logs")[
        "PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    assert document == execution_policy("dev", "us-east-1", ACCOUNT)


def test_ensure_refuses_a_role_trusting_more_than_lambda(iam: Any) -> None:
    trust = trust_policy()
    account_root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    trust["Statement"].append(
        {"Effect": "Allow", "Principal": account_root, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName="bench-dev-exec", AssumeRolePolicyDocument=json.dumps(trust))
    with pytest.raises(TargetError, match=r"trusts more than lambda\.amazonaws\.com"):
        ensure_execution_role(iam, stage="dev", region="us-east-1", account=ACCOUNT, tags={})


def test_delete_role_and_its_policies(iam: Any) -> None:
    ensure_execution_role(iam, stage="dev", region="us-east-1", account=ACCOUNT, tags={})
    ensure_execution_role(iam, stage="other", region="us-east-1", account=ACCOUNT, tags={})
    assert delete_execution_role(iam, "dev") == "bench-dev-exec"
    with pytest.raises(ClientError):
        iam.get_role(RoleName="bench-dev-exec")
    assert iam.get_role(RoleName="bench-other-exec")["Role"]["RoleName"] == "bench-other-exec"
    assert delete_execution_role(iam, "dev") is None  # already gone: nothing to do


def test_harness_policy_scoped_to_the_stage() -> None:
    policy = harness_policy("nightly", "eu-central-1", ACCOUNT, artifact_bucket="artifacts")
    assert_no_wildcard_action(policy)
    by_sid = {s["Sid"]: s for s in statements(policy)}
    actions = {a for s in statements(policy) for a in listed(s["Action"])}
    for needed in ("lambda:CreateFunction", "lambda:InvokeFunction", "lambda:ListFunctions",
                   "lambda:GetAccountSettings", "logs:FilterLogEvents", "logs:CreateLogGroup",
                   "logs:PutRetentionPolicy", "iam:CreateRole", "iam:PassRole", "s3:PutObject"):
        assert needed in actions, needed
    passrole = by_sid["PassStageRoleToLambdaOnly"]
    assert listed(passrole["Action"]) == ["iam:PassRole"]
    assert passrole["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/bench-nightly-exec"
    assert passrole["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
    }
    assert by_sid["StageArtifacts"]["Resource"] == "arn:aws:s3:::artifacts/bench-nightly/*"
    for statement in statements(policy):
        if statement["Resource"] != "*":
            for resource in listed(statement["Resource"]):
                assert "bench-nightly-" in resource or resource.startswith("arn:aws:s3:::")
    assert "StageArtifacts" not in {s["Sid"] for s in statements(harness_policy("nightly"))}


def test_harness_policy_is_accepted_by_iam(iam: Any) -> None:
    # IAM validates the document's grammar (actions, ARNs, condition operators).
    document = json.dumps(harness_policy("nightly", "us-east-1", ACCOUNT, "artifacts"))
    created = iam.create_policy(PolicyName="bench-nightly-harness", PolicyDocument=document)
    assert created["Policy"]["PolicyName"] == "bench-nightly-harness"


def test_bench_iam_policy_command() -> None:
    result = CliRunner().invoke(app, ["iam-policy", "--stage", "nightly"])
    assert result.exit_code == 0, result.output
    policy = json.loads(result.output)
    assert_no_wildcard_action(policy)
    assert_resources_name_stage(policy, "nightly")
    assert not any("dev" in json.dumps(s) for s in statements(policy))


def test_role_propagation_error_is_recognised() -> None:
    def error(code: str, message: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": message}}, "CreateFunction")

    assert is_role_propagation_error(error(
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    ))
    assert not is_role_propagation_error(error("InvalidParameterValueException",
                                               "Unzipped size must be smaller than 262144000"))
    assert not is_role_propagation_error(error("AccessDeniedException",
                                               "cannot be assumed by Lambda"))
    assert not is_role_propagation_error(ValueError("cannot be assumed by Lambda"))
    # A function with environment variables meets the same delay as a KMS grant error
    # (terraform-provider-aws#4633); the same error for a real KMS problem is not a delay.
    assert is_role_propagation_error(error(
        "InvalidParameterValueException",
        "Lambda was unable to configure access to your environment variables because the KMS "
        "key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
        "InvalidArnException KMS Message: ARN does not refer to a valid principal: "
        "arn:aws:sts::123456789012:assumed-role/bench-dev-exec/bench-dev-abcdef-00",
    ))
    assert not is_role_propagation_error(error(
        "InvalidParameterValueException",
        "Lambda was unable to configure access to your environment variables because the KMS "
        "key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
        "InvalidArnException KMS Message: Key Aliases are not supported for this operation.",
    ))


def test_analyze_policy_reads_only_the_selected_functions_and_their_log_groups() -> None:
    from bench.iam import analyze_policy

    policy = analyze_policy(functions=["orders"], prefix="shop-", tagged=True,
                            log_groups=["/custom/orders"], region="eu-west-1",
                            account="123456789012")  # fmt: skip
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    reads = ("Get", "List", "Filter", "StartQuery", "StopQuery")
    assert all(a.split(":")[1].startswith(reads) for a in actions), actions
    assert not any(a.split(":")[1].startswith(("Put", "Create", "Delete", "Update", "Tag",
                                                "Untag", "Invoke")) for a in actions)  # fmt: skip
    assert "*" not in [a for a in actions if a.endswith("*")]
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        if resources == "*":
            # Only where AWS scopes to no resource, and then the Sid says so.
            assert "WithoutResourceScoping" in statement["Sid"]
            assert set(statement["Action"]) <= {
                "lambda:ListFunctions", "logs:GetQueryResults", "logs:StopQuery"}
            assert all(a.split(":")[1] in statement["Sid"] for a in statement["Action"])
            continue
        for arn in resources:
            assert ":123456789012:" in arn and ":eu-west-1:" in arn
    logs = next(s for s in policy["Statement"] if s["Sid"] == "ReadSelectedLogGroups")
    groups = {arn.split(":log-group:")[1].removesuffix(":*") for arn in logs["Resource"]}
    assert groups == {"/aws/lambda/orders", "/aws/lambda/shop-*", "/custom/orders"}
    functions = next(s for s in policy["Statement"] if s["Sid"] == "ReadSelectedFunctions")
    assert functions["Action"] == ["lambda:GetFunctionConfiguration", "lambda:ListTags"]


def test_analyze_policy_without_prefix_or_tag_needs_no_listing() -> None:
    from bench.iam import analyze_policy

    policy = analyze_policy(functions=["orders"])
    assert "lambda:ListFunctions" not in [a for s in policy["Statement"] for a in s["Action"]]


def test_analyze_policy_refuses_a_tag_alone() -> None:
    from bench.errors import InputError
    from bench.iam import analyze_policy

    with pytest.raises(InputError, match="a Lambda tag cannot scope their log groups"):
        analyze_policy(functions=[], tagged=True)


def test_iam_policy_analyze_cli(bench_cli: Any) -> None:
    import json

    result = bench_cli("iam-policy", "--analyze", "--function", "orders", "--region",
                       "us-east-1", "--account", "123456789012")  # fmt: skip
    assert result.exit_code == 0, result.output
    policy = json.loads(result.output)
    sids = [s["Sid"] for s in policy["Statement"]]
    assert sids == ["ReadSelectedFunctions", "ReadSelectedLogGroups",
                    "QueryResultsWithoutResourceScopingGetQueryResultsStopQuery"]
