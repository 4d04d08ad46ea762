"""`bench ls` and `bench cleanup` under exactly `bench iam-policy`'s policy.

moto answers the calls; every request first passes a small evaluation of the harness
policy (Allow statements, action names, resource ARNs with `*`, the s3:prefix condition),
and a request the policy does not allow is answered as AWS would, AccessDenied, before it
reaches moto. moto's own IAM enforcement cannot do this: it rejects Lambda's signatures and
ignores resources.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from bench.iam import analyze_policy, harness_policy
from bench.naming import function_name, resource_tags

moto = pytest.importorskip("moto")
REGION = "eu-central-1"
ACCOUNT = "123456789012"  # moto's


# Where an API operation's IAM action has another name (Service Authorization Reference).
IAM_ACTION = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:HeadObject": "s3:GetObject",
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, amt: int | None = None) -> bytes:
        out, self.data = self.data, b""
        return out

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def _resource(service: str, operation: str, params: dict[str, Any]) -> str:
    if service == "lambda":
        if "FunctionName" in params:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{params['FunctionName']}"
        return str(params.get("Resource", "*"))
    if service == "logs":
        name = params.get("logGroupName")
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*" if name else "*"
    if service == "iam":
        return f"arn:aws:iam::{ACCOUNT}:role/{params.get('RoleName', '*')}"
    if service == "s3":
        key = params.get("Key")
        return f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key else "")
    return "*"


def allowed(policy: dict[str, Any], action: str, resource: str, params: dict[str, Any]) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
            statement["Resource"]]
        if statement["Effect"] != "Allow" or action not in actions:
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources):
            continue
        prefixes = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if prefixes and not any(
            fnmatch.fnmatchcase(str(params.get("Prefix", "")), p) for p in prefixes
        ):
            continue
        return True
    return False


@pytest.fixture
def under_policy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """Every client the harness makes enforces the harness policy; returns what was asked."""
    return enforce(monkeypatch, harness_policy("ci", REGION, ACCOUNT, artifact_bucket="artifacts"))


def enforce(monkeypatch: pytest.MonkeyPatch, policy: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Every client the harness makes enforces `policy`; returns what was asked."""
    import bench.target

    asked: list[tuple[str, str, bool]] = []
    original = bench.target.Target._client

    def client(self: Any, service: str, config: Any) -> Any:
        made = original(self, service, config)
        prefix = made.meta.service_model.signing_name
        if prefix == "sts":
            return made  # GetCallerIdentity needs no permission

        def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["api_params"] = dict(params)

        def check(model: Any, context: dict[str, Any], **_: Any) -> Any:
            params = context.get("api_params", {})
            action = IAM_ACTION.get(f"{prefix}:{model.name}", f"{prefix}:{model.name}")
            resource = _resource(made.meta.service_model.service_name, model.name, params)
            ok = allowed(policy, action, resource, params)
            asked.append((action, resource, ok))
            if ok:
                return None
            body = json.dumps({"__type": "AccessDeniedException", "message": (
                f"User is not authorized to perform: {action} on resource: {resource}")})
            headers = {"x-amzn-ErrorType": "AccessDeniedException",
                       "Content-Type": "application/x-amz-json-1.1"}
            response = AWSResponse("https://denied", 400, headers, _Body(body.encode()))
            return response, {"Error": {"Code": "AccessDeniedException",
                                        "Message": json.loads(body)["message"]},
                              "ResponseMetadata": {"HTTPStatusCode": 400}}

        made.meta.events.register("before-parameter-build", remember)
        made.meta.events.register("before-call", check)
        return made

    monkeypatch.setattr(bench.target.Target, "_client", client)
    return asked


@pytest.fixture
def two_stages(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        iam = boto3.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName="bench-ci-exec", AssumeRolePolicyDocument=trust)
        import io
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("handler.py", "def handler(e, c):\n    return {}\n")
        names = {"ours": function_name("ci", "aaaaaa", 0),
                 "other_stage": function_name("prod", "bbbbbb", 0)}
        old = datetime.now(UTC) - timedelta(hours=3)
        for stage, name in (("ci", names["ours"]), ("prod", names["other_stage"])):
            tags = resource_tags(run_id=f"20261130T000000Z-x-{name[-9:-3]}", stage=stage,
                                 cell_id="c", created=old)
            boto3.client("lambda").create_function(
                FunctionName=name, Runtime="python3.12", Role=role["Role"]["Arn"],
                Handler="handler.handler", Code={"ZipFile": buf.getvalue()}, Tags=tags)
            boto3.client("logs").create_log_group(logGroupName=f"/aws/lambda/{name}", tags=tags)
        yield names


def test_ls_under_the_harness_policy_lists_everything_and_reads_only_its_stage_logs(
    two_stages: dict[str, str], under_policy: list[tuple[str, str, bool]], bench_cli: Any
) -> None:
    result = bench_cli("ls")
    assert result.exit_code == 0, result.output
    assert two_stages["ours"] in result.output and two_stages["other_stage"] in result.output
    assert "unknown (logs not readable)" in result.output
    denied = [(action, resource) for action, resource, ok in under_policy if not ok]
    assert denied == [(
        "logs:DescribeLogStreams",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{two_stages['other_stage']}:*",
    )]


def test_cleanup_under_the_harness_policy_is_never_denied(
    two_stages: dict[str, str], under_policy: list[tuple[str, str, bool]], bench_cli: Any
) -> None:
    boto3.client("s3").create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("s3").put_object(Bucket="artifacts", Key="bench-ci/aaaaaa/x.zip", Body=b"z")
    result = bench_cli("cleanup", "--stage", "ci", "--artifact-bucket", "artifacts")
    assert result.exit_code == 0, result.output
    assert [a for a in under_policy if not a[2]] == []
    assert two_stages["ours"] in result.output
    # The other stage's function runs as this stage's role here: the role stays.
    assert f"role kept: 1 function(s) still use it ({two_stages['other_stage']})" in result.output
    assert "bench-ci/aaaaaa/x.zip" in result.output
    left = {f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]}
    assert left == {two_stages["other_stage"]}
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="artifacts")


@pytest.mark.parametrize("reader", ["filter", "insights"])
def test_analyze_under_its_own_policy_is_never_denied(
    two_stages: dict[str, str], monkeypatch: pytest.MonkeyPatch, bench_cli: Any, reader: str
) -> None:
    name = two_stages["ours"]
    asked = enforce(monkeypatch, analyze_policy(functions=[name], region=REGION,
                                                account=ACCOUNT))  # fmt: skip
    result = bench_cli("analyze", "--function", name, "--since", "1h", "--reader", reader)
    assert result.exit_code == 0, result.output
    assert [a for a in asked if not a[2]] == []
    wanted = {"filter": {"logs:FilterLogEvents"},
              "insights": {"logs:StartQuery", "logs:GetQueryResults"}}[reader]
    assert {a for a, _, _ in asked} == {"lambda:GetFunctionConfiguration", *wanted}


def test_analyze_by_prefix_and_tag_under_its_policy_reads_no_other_log_group(
    two_stages: dict[str, str], monkeypatch: pytest.MonkeyPatch, bench_cli: Any
) -> None:
    asked = enforce(monkeypatch, analyze_policy(functions=[], prefix="bench-ci-", tagged=True,
                                                region=REGION, account=ACCOUNT))  # fmt: skip
    result = bench_cli("analyze", "--prefix", "bench-ci-", "--tag", "bench:stage=ci", "--since",
                       "1h", "--reader", "filter")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [a for a in asked if not a[2]] == []
    read = {r for a, r, _ in asked if a == "logs:FilterLogEvents"}
    assert read == {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{two_stages['ours']}:*"}


def test_the_role_check_in_every_region_is_never_denied(
    two_stages: dict[str, str], under_policy: list[tuple[str, str, bool]], bench_cli: Any
) -> None:
    boto3.client("lambda").delete_function(FunctionName=two_stages["other_stage"])
    result = bench_cli("cleanup", "--stage", "ci")
    assert result.exit_code == 0, result.output
    assert [a for a in under_policy if not a[2]] == []
    regions = boto3.Session().get_available_regions("lambda", partition_name="aws")
    listed = [a for a in under_policy if a[0] == "lambda:ListFunctions"]
    assert len(listed) >= len(regions)  # the region's own listings, then every other region
    assert "role" in result.output and "bench-ci-exec" in result.output
    roles = [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]]
    assert "bench-ci-exec" not in roles
