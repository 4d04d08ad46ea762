"""bench iam-policy --from: the reads cloning needs, on the named functions alone."""

from __future__ import annotations

import json
from collections.abc import Callable

from bench.iam import harness_policy

ARN = "arn:aws:lambda:eu-central-1:123456789012:function:orders-prod:live"
OTHER = "arn:aws:lambda:eu-central-1:123456789012:function:billing"


def _by_sid(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_without_from_the_policy_reads_no_function_outside_the_stage() -> None:
    statements = _by_sid(harness_policy("ci", "eu-central-1", "123456789012"))
    assert "ReadClonedFunctions" not in statements
    assert all("GetLayerVersion" not in json.dumps(s) for s in statements.values())


def test_from_grants_get_function_on_exactly_the_named_functions() -> None:
    policy = harness_policy("ci", "eu-central-1", "123456789012", clone_from=[ARN, OTHER, ARN])
    read = _by_sid(policy)["ReadClonedFunctions"]
    assert read["Action"] == ["lambda:GetFunction", "lambda:GetFunctionConfiguration"]
    assert read["Resource"] == sorted([ARN, OTHER])
    # Reading is all: no write action names the originals.
    for statement in policy["Statement"]:
        resources = json.dumps(statement["Resource"])
        if "orders-prod" in resources or "billing" in resources:
            assert statement["Sid"] == "ReadClonedFunctions"
    assert "ClonedFunctionsVpcLookupsWithoutResourceScoping" not in _by_sid(policy)


def test_vpc_adds_the_lookups_create_function_makes() -> None:
    policy = harness_policy("ci", clone_from=[ARN], clone_vpc=True)
    vpc = _by_sid(policy)["ClonedFunctionsVpcLookupsWithoutResourceScoping"]
    assert vpc["Action"] == ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                             "ec2:DescribeVpcs"]  # fmt: skip


def test_the_cli_prints_it(bench_cli: Callable) -> None:
    result = bench_cli("iam-policy", "--stage", "ci", "--from", ARN)
    assert result.exit_code == 0, result.output
    assert _by_sid(json.loads(result.output))["ReadClonedFunctions"]["Resource"] == ARN
