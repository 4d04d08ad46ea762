"""bench cleanup and bench ls over several regions (moto: AWS's regions are separate)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest

from bench.housekeeping import cleanup, list_region_functions
from bench.naming import driver_name, execution_role_name, function_name, resource_tags

moto = pytest.importorskip("moto")
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_REGION": REGIONS[0],
                       "AWS_DEFAULT_REGION": REGIONS[0]}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        yield


def _deploy(region: str, name: str, role: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    tags = resource_tags(run_id="20261127T140212Z-demo-aaaaaa", stage="ci",
                         cell_id="c", created=datetime.now(UTC))  # fmt: skip
    boto3.client("lambda", region_name=region).create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
        Code={"ZipFile": buf.getvalue()}, Tags=tags,
    )  # fmt: skip
    boto3.client("logs", region_name=region).create_log_group(
        logGroupName=f"/aws/lambda/{name}", tags=tags
    )


def _role() -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
             "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}  # fmt: skip
    return boto3.client("iam").create_role(
        RoleName=execution_role_name("ci"), AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]


def _functions(region: str) -> set[str]:
    listed = boto3.client("lambda", region_name=region).list_functions()["Functions"]
    return {f["FunctionName"] for f in listed}


def test_cleanup_of_several_regions_takes_every_one_and_then_the_role(aws: None) -> None:
    role = _role()
    _deploy("us-east-1", function_name("ci", "aaaaaa", 0), role)
    _deploy("eu-west-1", function_name("ci", "aaaaaa", 1), role)
    _deploy("eu-west-1", driver_name("ci", "aaaaaa"), role)

    both = cleanup(stage="ci", region=REGIONS)

    assert sorted(both.functions) == sorted([function_name("ci", "aaaaaa", 0),
                                             function_name("ci", "aaaaaa", 1),
                                             driver_name("ci", "aaaaaa")])  # fmt: skip
    assert _functions("us-east-1") == set() and _functions("eu-west-1") == set()
    assert both.role == execution_role_name("ci")


def test_the_role_stays_while_a_function_in_any_region_given_runs_as_it(aws: None) -> None:
    role = _role()
    _deploy("us-east-1", function_name("ci", "aaaaaa", 0), role)
    _deploy("eu-west-1", "someone-elses", role)  # not ours: never deleted, keeps the role

    result = cleanup(stage="ci", region=REGIONS)

    assert result.functions == [function_name("ci", "aaaaaa", 0)]
    assert result.role is None
    assert any("role kept" in note and "someone-elses" in note for note in result.notes)


def test_ls_of_several_regions_names_each_functions_region(aws: None) -> None:
    role = _role()
    _deploy("us-east-1", function_name("ci", "aaaaaa", 0), role)
    _deploy("eu-west-1", function_name("ci", "aaaaaa", 1), role)
    rows = list_region_functions(region=REGIONS)
    assert [(r.region, r.name) for r in rows] == [
        ("eu-west-1", function_name("ci", "aaaaaa", 1)),
        ("us-east-1", function_name("ci", "aaaaaa", 0)),
    ]
    assert [r.region for r in list_region_functions(region=["us-east-1"])] == [None]
