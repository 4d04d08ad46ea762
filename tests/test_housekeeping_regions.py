"""bench cleanup and bench ls over several regions (moto: AWS's regions are separate)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, EndpointConnectionError

from bench.housekeeping import cleanup
from bench.listing import list_region_functions
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


def _role_exists() -> bool:
    names = [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]]
    return execution_role_name("ci") in names


@pytest.fixture
def lambda_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every Lambda request's (region, operation), and a way to make a region answer an
    error before moto sees the request, as AWS answers for a region it refuses."""
    seen: list[tuple[str, str]] = []
    refusals: dict[str, str] = {}
    original = BaseClient._make_api_call

    def observed(client: Any, operation: str, params: Any) -> Any:
        region = client.meta.region_name
        if client.meta.service_model.service_name == "lambda":
            seen.append((region, operation))
            if region in refusals:
                code = refusals[region]
                raise ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", observed)
    return {"seen": seen, "refusals": refusals}


def test_a_function_in_a_region_not_given_keeps_the_role_and_is_named(
    aws: None, lambda_calls: dict[str, Any]
) -> None:
    role = _role()
    _deploy("us-east-1", function_name("ci", "aaaaaa", 0), role)
    _deploy("us-west-2", function_name("ci", "aaaaaa", 1), role)

    result = cleanup(stage="ci", region="us-east-1")
    listed = [region for region, op in lambda_calls["seen"] if op == "ListFunctions"]

    assert result.functions == [function_name("ci", "aaaaaa", 0)]
    assert result.role is None and _role_exists()
    assert f"role kept: 1 function(s) still use it ({function_name('ci', 'aaaaaa', 1)} " \
           "(us-west-2))" in result.notes  # fmt: skip
    assert _functions("us-west-2") == {function_name("ci", "aaaaaa", 1)}  # not ours to delete
    # Every Lambda region of the partition was listed; those not given, once each.
    partition = boto3.Session().get_available_regions("lambda", partition_name="aws")
    assert set(listed) == set(partition)
    assert sorted(r for r in listed if r != "us-east-1") == sorted(set(partition) - {"us-east-1"})


def test_another_stages_function_running_as_the_role_elsewhere_keeps_it(aws: None) -> None:
    role = _role()
    _deploy("ap-southeast-2", "someone-elses", role)
    result = cleanup(stage="ci", region="us-east-1", dry_run=True)
    assert result.role is None and _role_exists()
    assert "role kept: 1 function(s) still use it (someone-elses (ap-southeast-2))" in result.notes


def test_with_no_function_anywhere_the_role_goes(aws: None) -> None:
    role = _role()
    _deploy("us-east-1", function_name("ci", "aaaaaa", 0), role)
    result = cleanup(stage="ci", region="us-east-1")
    assert result.role == execution_role_name("ci") and not _role_exists()
    assert result.notes == []


@pytest.mark.parametrize("code", ["UnrecognizedClientException", "InvalidClientTokenId",
                                  "AuthFailure"])  # fmt: skip
def test_a_region_not_enabled_is_skipped_and_named(
    aws: None, lambda_calls: dict[str, Any], code: str
) -> None:
    _role()
    lambda_calls["refusals"].update({"ap-east-1": code, "me-south-1": code})
    result = cleanup(stage="ci", region="us-east-1")
    assert result.role == execution_role_name("ci") and not _role_exists()
    assert result.notes == [
        "regions skipped in the role check, not enabled for the account: ap-east-1, me-south-1"
    ]


@pytest.mark.parametrize("code", ["AccessDeniedException", "ServiceException",
                                  "TooManyRequestsException"])  # fmt: skip
def test_a_region_that_cannot_be_listed_keeps_the_role(
    aws: None, lambda_calls: dict[str, Any], code: str
) -> None:
    _role()
    lambda_calls["refusals"]["eu-central-1"] = code
    result = cleanup(stage="ci", region="us-east-1")
    assert result.role is None and _role_exists()
    assert result.notes == [f"role kept: could not list the functions of eu-central-1 ({code})"]


def test_an_unreachable_region_keeps_the_role(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _role()
    original = BaseClient._make_api_call

    def unreachable(client: Any, operation: str, params: Any) -> Any:
        if client.meta.region_name == "sa-east-1":
            raise EndpointConnectionError(endpoint_url="https://lambda.sa-east-1.amazonaws.com")
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", unreachable)
    result = cleanup(stage="ci", region="us-east-1")
    assert _role_exists() and result.role is None
    assert result.notes == [
        "role kept: could not list the functions of sa-east-1 (EndpointConnectionError)"
    ]


def test_an_endpoint_target_checks_only_the_regions_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lambda_calls: dict[str, Any]
) -> None:
    """The local target is the whole world: no other region is asked (over real HTTP)."""
    from bench.emulator.app import Emulator

    with Emulator(state_dir=tmp_path / "emulator") as emulator:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", emulator.secret_access_key)
        result = cleanup(stage="ci", region=emulator.region, endpoint_url=emulator.endpoint_url)
    assert {region for region, _ in lambda_calls["seen"]} == {emulator.region}
    assert ("us-east-1", "ListFunctions") in lambda_calls["seen"]
    assert not any("role kept" in note for note in result.notes)


def test_an_endpoint_set_in_the_environment_is_the_whole_world_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.role_users import other_lambda_regions

    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b")
    assert "us-west-2" in other_lambda_regions(session, ["us-east-1"])
    assert "us-east-1" not in other_lambda_regions(session, ["us-east-1"])
    assert other_lambda_regions(session, ["cn-north-1"]) == ["cn-northwest-1"]  # its partition
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    assert other_lambda_regions(boto3.Session(), ["us-east-1"]) == []
