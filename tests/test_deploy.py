"""The AWS-only parts of deploy.py against moto (IAM, tags, cleanup, listing) and a
botocore Stubber where moto has no model (GetAccountSettings)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from bench.deploy import (
    ControlPlane,
    check_unreserved_concurrency,
    cleanup,
    function_name,
    list_region_functions,
    name_pattern,
    pace,
    parse_age,
    resource_tags,
)
from bench.errors import InputError, TargetError
from bench.pacing import RateLimiter

moto = pytest.importorskip("moto")
REGION = "eu-central-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        yield


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def _role() -> str:
    iam = boto3.client("iam")
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    return iam.create_role(RoleName="bench-test-exec", AssumeRolePolicyDocument=doc)["Role"]["Arn"]


def _make(name: str, tags: dict[str, str], role: str) -> None:
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
        Tags=tags,
    )
    boto3.client("logs").create_log_group(logGroupName=f"/aws/lambda/{name}", tags=tags)


def _tags(run: str, stage: str, created: datetime) -> dict[str, str]:
    return resource_tags(
        run_id=run, stage=stage, cell_id="python3.12-128mb-x86_64-none", created=created
    )


def _names() -> tuple[set[str], set[str]]:
    functions = {f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]}
    groups = {g["logGroupName"] for g in boto3.client("logs").describe_log_groups()["logGroups"]}
    return functions, groups


RUN_A = "20261127T140212Z-demo-aaaaaa"
RUN_B = "20261127T150212Z-demo-bbbbbb"


@pytest.fixture
def leftovers(aws: None) -> dict[str, str]:
    """Two runs of stage `ci`, one of stage `ci-x` (whose names start like `ci`'s), and
    an untagged function that merely looks like ours."""
    role = _role()
    old = datetime.now(UTC) - timedelta(hours=5)
    new = datetime.now(UTC)
    names = {
        "a0": function_name("ci", "aaaaaa", 0),
        "a1": function_name("ci", "aaaaaa", 1),
        "b0": function_name("ci", "bbbbbb", 0),
        "other_stage": function_name("ci-x", "cccccc", 0),
        "untagged": function_name("ci", "dddddd", 0),
    }
    _make(names["a0"], _tags(RUN_A, "ci", old), role)
    _make(names["a1"], _tags(RUN_A, "ci", old), role)
    _make(names["b0"], _tags(RUN_B, "ci", new), role)
    _make(names["other_stage"], _tags("20261127T150212Z-demo-cccccc", "ci-x", old), role)
    _make(names["untagged"], {}, role)
    return names


def test_function_names_fit_lambda_and_patterns_do_not_cross_stages() -> None:
    name = function_name("a-sixteen-chars1", "abcdef", 7)
    assert name == "bench-a-sixteen-chars1-abcdef-07" and len(name) <= 64
    assert name_pattern("dev").match("bench-dev-abcdef-00")
    assert not name_pattern("dev").match("bench-dev-x-abcdef-00")
    assert not name_pattern("dev", "abcdef").match("bench-dev-123456-00")


def test_parse_age_accepts_units_and_names_the_flag_on_nonsense() -> None:
    assert parse_age("2h") == timedelta(hours=2)
    assert parse_age("30m") == timedelta(minutes=30)
    assert parse_age("1d") == timedelta(days=1)
    assert parse_age(None) is None
    with pytest.raises(InputError, match="--older-than"):
        parse_age("two hours")


def test_cleanup_dry_run_lists_the_stage_and_deletes_nothing(leftovers: dict[str, str]) -> None:
    before = _names()
    result = cleanup(stage="ci", dry_run=True)
    assert set(result.functions) == {leftovers["a0"], leftovers["a1"], leftovers["b0"]}
    assert f"/aws/lambda/{leftovers['a0']}" in result.log_groups
    assert _names() == before


def test_cleanup_of_one_run_leaves_the_others(leftovers: dict[str, str]) -> None:
    result = cleanup(stage="ci", run_id=RUN_A)
    functions, groups = _names()
    assert set(result.functions) == {leftovers["a0"], leftovers["a1"]}
    assert leftovers["a0"] not in functions and leftovers["a1"] not in functions
    assert f"/aws/lambda/{leftovers['a0']}" not in groups
    assert {leftovers["b0"], leftovers["other_stage"], leftovers["untagged"]} <= functions
    assert f"/aws/lambda/{leftovers['b0']}" in groups
    assert result.role is None  # a run's cleanup never touches the stage's role


def test_cleanup_older_than_spares_recent_resources(leftovers: dict[str, str]) -> None:
    result = cleanup(stage="ci", older_than="2h")
    functions, _ = _names()
    assert set(result.functions) == {leftovers["a0"], leftovers["a1"]}
    assert leftovers["b0"] in functions


def test_cleanup_of_a_stage_never_touches_other_stages_or_untagged(
    leftovers: dict[str, str],
) -> None:
    cleanup(stage="ci")
    functions, groups = _names()
    assert functions == {leftovers["other_stage"], leftovers["untagged"]}
    assert f"/aws/lambda/{leftovers['other_stage']}" in groups


def test_ls_reports_last_invocation_from_log_streams(leftovers: dict[str, str]) -> None:
    logs = boto3.client("logs")
    group = f"/aws/lambda/{leftovers['a0']}"
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/27/[$LATEST]abc")
    stamp = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/11/27/[$LATEST]abc",
        logEvents=[{"timestamp": stamp, "message": "START RequestId: x Version: $LATEST"}],
    )
    rows = {r.name: r for r in list_region_functions()}
    assert set(rows) == set(leftovers.values())
    last = rows[leftovers["a0"]].last_invocation
    assert last is not None and abs(last.timestamp() * 1000 - stamp) < 1000
    assert rows[leftovers["a1"]].last_invocation is None
    assert rows[leftovers["a0"]].runtime == "python3.12"
    # Functions invoked within the last day are not inactive; never-invoked ones are.
    inactive = {r.name for r in list_region_functions(inactive_days=1)}
    assert leftovers["a0"] in inactive and leftovers["a1"] in inactive
    assert not {r.name for r in list_region_functions(inactive_days=5)} & {leftovers["a0"]}


def _stubbed_plane(unreserved: int) -> tuple[ControlPlane, Stubber]:
    client = boto3.client(
        "lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(client)
    stub.add_response(
        "get_account_settings",
        {
            "AccountLimit": {
                "ConcurrentExecutions": 1000,
                "UnreservedConcurrentExecutions": unreserved,
            }
        },
    )
    stub.activate()
    return ControlPlane(lambda_client=client, logs_client=None, poll_interval_s=0.0), stub


def test_account_settings_check_refuses_reservations_that_do_not_fit() -> None:
    # moto has no GetAccountSettings; the Stubber validates against botocore's model.
    plane, stub = _stubbed_plane(150)
    with pytest.raises(TargetError, match=r"150 unreserved.*fewer than 100"):
        check_unreserved_concurrency(plane, 60)
    stub.assert_no_pending_responses()
    plane, _ = _stubbed_plane(150)
    assert check_unreserved_concurrency(plane, 50) == 150


def test_pace_makes_every_request_take_a_token(aws: None) -> None:
    taken = []

    class Counting(RateLimiter):
        def acquire(self) -> float:
            taken.append(1)
            return 0.0

    client = pace(boto3.client("lambda"), Counting(100))
    client.list_functions()
    client.list_functions()
    assert len(taken) == 2
