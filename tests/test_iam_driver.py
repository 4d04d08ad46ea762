"""driver: lambda least privilege: the driver's role may invoke the stage's functions only;
the harness may deploy and invoke the driver, and invoke nothing else."""

from __future__ import annotations

from typing import Any

from bench.emulator.grants import InvokeScope
from bench.iam import driver_policy, harness_policy

ACCOUNT = "123456789012"
ARN = "arn:aws:lambda:{region}:" + ACCOUNT + ":function:{name}"


def _actions(policy: dict[str, Any], effect: str = "Allow") -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == effect:
            action = statement["Action"]
            found.update([action] if isinstance(action, str) else action)
    return found


def test_the_drivers_role_invokes_the_stages_functions_and_nothing_else_of_lambda() -> None:
    policy = driver_policy("dev", ["us-east-1", "eu-west-1"], ACCOUNT)
    lambda_actions = {a for a in _actions(policy) if a.startswith("lambda:")}
    assert lambda_actions == {"lambda:InvokeFunction"}
    assert _actions(policy) - lambda_actions == {"logs:CreateLogStream", "logs:PutLogEvents"}
    scope = InvokeScope.from_policy(policy)
    for region in ("us-east-1", "eu-west-1"):
        assert scope.permits(ARN.format(region=region, name="bench-dev-3fa9c1-07"))
        assert not scope.permits(ARN.format(region=region, name="bench-dev-3fa9c1-driver"))
    assert not scope.permits(ARN.format(region="us-west-2", name="bench-dev-3fa9c1-07"))
    assert not scope.permits(ARN.format(region="us-east-1", name="bench-prod-3fa9c1-07"))
    assert not scope.permits(ARN.format(region="us-east-1", name="orders-api"))


def test_the_harness_with_driver_lambda_invokes_only_the_driver() -> None:
    policy = harness_policy("dev", "us-east-1", ACCOUNT, driver="lambda")
    invoking = [s for s in policy["Statement"] if "lambda:InvokeFunction" in s["Action"]]
    assert [s["Sid"] for s in invoking] == ["InvokeDriversOnly"]
    scope = InvokeScope.from_policy({"Statement": invoking})
    assert scope.permits(ARN.format(region="us-east-1", name="bench-dev-3fa9c1-driver"))
    assert not scope.permits(ARN.format(region="us-east-1", name="bench-dev-3fa9c1-07"))
    roles = next(s for s in policy["Statement"] if s["Sid"] == "PassStageRoleToLambdaOnly")
    assert roles["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/bench-dev-exec",
                                 f"arn:aws:iam::{ACCOUNT}:role/bench-dev-driver"]  # fmt: skip
    # It still deploys and tears down the stage's functions, the driver among them.
    deploy = next(s for s in policy["Statement"] if s["Sid"] == "StageFunctions")
    assert {"lambda:CreateFunction", "lambda:DeleteFunction"} <= set(deploy["Action"])


def test_client_driven_runs_keep_invoking_the_stages_functions() -> None:
    policy = harness_policy("dev", "us-east-1", ACCOUNT)
    deploy = next(s for s in policy["Statement"] if s["Sid"] == "StageFunctions")
    assert "lambda:InvokeFunction" in deploy["Action"]
    assert not [s for s in policy["Statement"] if s["Sid"] == "InvokeDriversOnly"]
