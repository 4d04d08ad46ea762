"""The AWS-only parts of deploy.py and housekeeping.py against moto (IAM, tags,
cleanup, listing) and a botocore Stubber where moto has no model (GetAccountSettings)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bench.deploy import (
    ControlPlane,
    FunctionSpec,
    deploy_function,
    execution_role,
    pace,
)
from bench.errors import InputError, TargetError
from bench.housekeeping import cleanup, parse_age
from bench.listing import list_region_functions
from bench.naming import execution_role_name, function_name, name_pattern, resource_tags
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


def _stubbed_plane(limit: int, unreserved: int) -> tuple[ControlPlane, Stubber]:
    client = boto3.client(
        "lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(client)
    stub.add_response(
        "get_account_settings",
        {
            "AccountLimit": {
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": unreserved,
            }
        },
    )
    stub.activate()
    return ControlPlane(lambda_client=client, logs_client=None, poll_interval_s=0.0), stub


def _plan(limit: int, unreserved: int, reserve: str, burst: int, parallel: int = 4) -> Any:
    # moto has no GetAccountSettings; the Stubber validates against botocore's model.
    from bench.concurrency import plan_concurrency

    plane, stub = _stubbed_plane(limit, unreserved)
    try:
        return plan_concurrency(plane, reserve=reserve, burst=burst, cells=12,
                                parallel_cells=parallel)  # fmt: skip
    finally:
        stub.assert_no_pending_responses()


def test_reservations_are_per_cell_measured_at_once_not_per_matrix() -> None:
    # 12 cells x burst 60 would be 720; only the 4 measured at once need to fit.
    plan = _plan(1000, 1000, "auto", 60)
    assert (plan.mode, plan.reserved_concurrency, plan.cells_at_once) == ("reserved", 60, 4)
    assert _plan(1000, 1000, "on", 225).mode == "reserved"  # 900 reserved, 100 left


def test_auto_runs_unreserved_where_the_account_cannot_reserve() -> None:
    plan = _plan(10, 10, "auto", 4, parallel=1)
    assert (plan.mode, plan.reserved_concurrency) == ("unreserved", None)
    assert plan.reason.startswith("the account cannot reserve 4 and keep 100 unreserved")
    assert _plan(1000, 1000, "off", 10).mode == "unreserved"


def test_bursts_that_fit_neither_are_refused_naming_the_numbers() -> None:
    with pytest.raises(TargetError, match=r"reserve: on, but the account has 150 unreserved.*"
                                          r"reserving 240 \(burst 60 x 4"):
        _plan(1000, 150, "on", 60)
    with pytest.raises(TargetError, match=r"burst 8 x 2 cell\(s\) measured at once needs 16 "
                                          r"concurrent executions, more than the account's "
                                          r"unreserved pool of 10 \(account limit 10\)"):
        _plan(10, 10, "auto", 8, parallel=2)


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


def _target(stage: str = "ci") -> Any:
    from bench.target_aws import open_aws_target

    return open_aws_target(region=REGION, stage=stage)


def test_without_a_role_arn_the_stage_role_is_created_least_privilege(aws: None) -> None:
    with _target() as target:
        arn = execution_role(target)
        again = execution_role(target)  # idempotent: found, not duplicated
    assert arn == again and arn.endswith(":role/" + execution_role_name("ci"))
    iam = boto3.client("iam")
    role = iam.get_role(RoleName=execution_role_name("ci"))["Role"]
    principals = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert principals == [{"Service": "lambda.amazonaws.com"}]
    (policy_name,) = iam.list_role_policies(RoleName=execution_role_name("ci"))["PolicyNames"]
    document = iam.get_role_policy(RoleName=execution_role_name("ci"), PolicyName=policy_name)
    for statement in document["PolicyDocument"]["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in action for action in actions)
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        assert all("/aws/lambda/bench-ci-" in r for r in resources)


def test_a_given_role_arn_means_iam_is_never_touched(aws: None) -> None:
    from bench.target_aws import open_aws_target

    role = "arn:aws:iam::123456789012:role/theirs"
    with open_aws_target(region=REGION, stage="ci", role_arn=role) as target:
        assert execution_role(target) == role
        assert target.iam_client() is None
    assert boto3.client("iam").list_roles()["Roles"] == []


def test_deploy_creates_a_tagged_function_log_group_and_reservation(aws: None) -> None:
    with _target() as target:
        cp = ControlPlane.from_target(target, RateLimiter(100))
        role = execution_role(target)
        spec = _spec(role, tmp_zip())
        deploy_function(cp, spec)
    fn = boto3.client("lambda").get_function(FunctionName=spec.name)
    assert fn["Configuration"]["Role"] == role
    assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 4
    assert fn["Tags"]["bench:run"] == RUN_A and fn["Tags"]["bench:stage"] == "ci"
    (group,) = boto3.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{spec.name}"
    )["logGroups"]
    assert group["retentionInDays"] == 3


def test_cleanup_of_a_stage_removes_its_role_when_nothing_uses_it(aws: None) -> None:
    with _target() as target:
        cp = ControlPlane.from_target(target, RateLimiter(100))
        deploy_function(cp, _spec(execution_role(target), tmp_zip()))
    result = cleanup(stage="ci")
    assert result.role == execution_role_name("ci")
    assert boto3.client("iam").list_roles()["Roles"] == []
    assert _names() == (set(), set())


def test_iam_propagation_and_update_conflicts_are_retried_not_slept_through() -> None:
    from botocore.exceptions import ClientError

    events: list[tuple[str, str]] = []
    plane = ControlPlane(
        lambda_client=None,
        logs_client=None,
        poll_interval_s=0.0,
        on_event=lambda kind, detail, cell: events.append((kind, detail)),
    )
    errors = [
        ClientError(
            {
                "Error": {
                    "Code": "InvalidParameterValueException",
                    "Message": "The role defined for the function cannot be assumed by Lambda.",
                }
            },
            "CreateFunction",
        ),
        ClientError(
            {"Error": {"Code": "ResourceConflictException", "Message": "in progress"}}, "X"
        ),
    ]

    def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "created"

    assert plane.call(flaky, "CreateFunction") == "created"
    assert [kind for kind, _ in events] == ["retry", "retry"]
    assert "InvalidParameterValueException" in events[0][1]

    def exists() -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "ResourceConflictException",
                    "Message": "Function already exist: x",
                }
            },
            "CreateFunction",
        )

    with pytest.raises(ClientError):
        plane.call(exists, "CreateFunction")  # not an update in progress: never retried
    assert len(events) == 2


def tmp_zip() -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "code.zip"
    path.write_bytes(_zip())
    return path


def _spec(role: str, zip_path: Path) -> FunctionSpec:
    name = function_name("ci", "aaaaaa", 0)
    return FunctionSpec(
        name=name,
        cell_id="python3.12-128mb-x86_64-none",
        runtime="python3.12",
        handler="handler.handler",
        memory_mb=128,
        architecture="x86_64",
        timeout_s=10,
        reserved_concurrency=4,
        role_arn=role,
        tags=_tags(RUN_A, "ci", datetime.now(UTC)),
        zip_path=zip_path,
        zipped_bytes=zip_path.stat().st_size,
        sha256="0" * 64,
    )


def test_packages_over_the_direct_upload_limit_go_through_the_artifact_bucket(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.fixtures.limits

    monkeypatch.setattr(bench.fixtures.limits, "fits_direct_upload", lambda zipped: False)
    boto3.client("s3").create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    from bench.deploy import teardown
    from bench.target_aws import open_aws_target

    with open_aws_target(region=REGION, stage="ci", artifact_bucket="artifacts") as target:
        cp = ControlPlane.from_target(target, RateLimiter(100))
        spec = _spec(execution_role(target), tmp_zip())
        spec.artifact_bucket = "artifacts"
        deploy_function(cp, spec)
        listed = boto3.client("s3").list_objects_v2(Bucket="artifacts")["Contents"]
        keys = [o["Key"] for o in listed]
        # under the stage's own prefix, which `bench iam-policy --artifact-bucket` grants,
        # and the run's, which `bench cleanup --run` finds
        assert keys == [f"bench-ci/aaaaaa/{spec.sha256}.zip"]
        assert boto3.client("lambda").get_function(FunctionName=spec.name)["Configuration"]["State"]
        assert teardown(cp, [spec.name]) == []
    # The package is gone with the function: nothing over 50 MB stays behind in S3.
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="artifacts")


def test_an_artifact_bucket_in_another_region_is_refused_before_anything_is_created(
    aws: None,
) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="far-away")
    from bench.target_aws import open_aws_target

    with pytest.raises(TargetError) as info:
        open_aws_target(region=REGION, stage="ci", artifact_bucket="far-away")
    assert str(info.value) == (
        "target.artifact_bucket far-away is in us-east-1, but the functions are created in "
        f"{REGION}: Lambda reads packages only from a bucket in its own region; use a bucket "
        f"in {REGION}"
    )
    with pytest.raises(TargetError, match="cannot read its region"):
        open_aws_target(region=REGION, stage="ci", artifact_bucket="no-such-bucket")


def test_the_direct_upload_limit_is_the_size_of_the_request_not_of_the_zip() -> None:
    from bench.fixtures.limits import (
        MAX_DIRECT_REQUEST,
        MAX_ZIPPED,
        direct_request_bytes,
        fits_direct_upload,
    )

    assert MAX_DIRECT_REQUEST == 69_905_067  # AWS: "Request must be smaller than 69905067 bytes"
    # A zip just under 50 MiB still does not fit once base64-encoded inside the JSON body.
    assert not fits_direct_upload(MAX_ZIPPED - 1)
    assert direct_request_bytes(MAX_ZIPPED - 1) > MAX_DIRECT_REQUEST
    assert fits_direct_upload(MAX_ZIPPED - 64 * 1024)


def test_ls_and_cleanup_commands_print_their_tables(
    leftovers: dict[str, str], bench_cli: Any
) -> None:
    listed = bench_cli("ls")
    assert listed.exit_code == 0, listed.output
    assert all(name in listed.output for name in leftovers.values())
    dry = bench_cli("cleanup", "--stage", "ci", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and leftovers["a0"] in dry.output
    assert leftovers["other_stage"] not in dry.output
    bad = bench_cli("cleanup", "--older-than", "soon")
    assert bad.exit_code == 2 and "--older-than" in bad.output


def test_cleanup_removes_a_function_at_cell_index_100(aws: None) -> None:
    role = _role()
    name = function_name("ci", "aaaaaa", 100)
    assert name == "bench-ci-aaaaaa-100" and name_pattern("ci").match(name)
    _make(name, _tags(RUN_A, "ci", datetime.now(UTC) - timedelta(hours=1)), role)
    result = cleanup(stage="ci")
    assert result.functions == [name]
    assert _names() == (set(), set())


def test_cleanup_never_deletes_the_role_a_function_still_runs_as(aws: None) -> None:
    with _target() as target:
        cp = ControlPlane.from_target(target, RateLimiter(100))
        role = execution_role(target)
        deploy_function(cp, _spec(role, tmp_zip()))
    # Someone else's function (not named or tagged like ours) runs as the stage's role.
    _make("their-function", {}, role)
    result = cleanup(stage="ci")
    assert result.functions == [function_name("ci", "aaaaaa", 0)]
    assert result.role is None
    assert result.notes == ["role kept: 1 function(s) still use it (their-function)"]
    assert [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]] == [
        execution_role_name("ci")
    ]

