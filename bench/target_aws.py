"""An AWS account (or any endpoint that speaks Lambda) opened as a Target: the region
and credentials found as the AWS CLI finds them, the account identified, an artifact
bucket checked to be in the functions' region."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from bench.errors import InputError, TargetError
from bench.target import CONTROL_RETRIES, Target

# An endpoint without STS (the emulator does not model IAM) is identified by the account
# of a given role ARN, exactly like a user-supplied `role_arn` on AWS.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


def resolve_region(region: str | None, session: boto3.Session) -> str:
    """Flag or matrix, then AWS_REGION / AWS_DEFAULT_REGION, then the profile: as the CLI."""
    resolved = (
        region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or session.region_name
    )
    if not resolved:
        raise InputError(
            "no AWS region: set target.region in the matrix, pass --region, or set AWS_REGION"
        )
    return resolved


NO_CREDENTIALS = (
    "no AWS credentials found; they are looked for as the AWS CLI does: AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, then the profile (--profile, target.profile or AWS_PROFILE) in "
    "~/.aws/credentials and ~/.aws/config (SSO included: aws sso login), then a container or "
    "instance role; `aws configure` sets up the first"
)


def open_aws_target(
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    stage: str = "dev",
    role_arn: str | None = None,
    artifact_bucket: str | None = None,
    function_timeout_s: int = 30,
    require_account: bool = True,
    driver_role_arn: str | None = None,
) -> Target:
    """An AWS account (or any Lambda-compatible endpoint) reached through boto3's chain."""
    try:
        session = boto3.Session(profile_name=profile)
    except BotoCoreError as exc:
        raise InputError(f"AWS profile {profile!r}: {exc}") from None
    if session.get_credentials() is None:
        raise InputError(NO_CREDENTIALS)
    region = resolve_region(region, session)
    try:
        account_id = _account_id(session, region, endpoint_url, role_arn)
    except TargetError:
        if require_account:
            raise
        account_id = ""  # cleanup and listing work by name and tags alone
    if artifact_bucket:
        check_bucket_region(session, artifact_bucket, region, endpoint_url)
    return Target(
        kind="aws",
        region=region,
        account_id=account_id,
        stage=stage,
        role_arn=role_arn,
        session=session,
        endpoint_url=endpoint_url,
        function_timeout_s=function_timeout_s,
        # On AWS each function runs on its own execution environments, so cells do not
        # disturb each other; an endpoint on this host runs them on this host's CPUs.
        parallel_cells=1 if _is_loopback(endpoint_url) else 4,
        default_logs_timeout_s=900.0,
        poll_interval_s=1.0,
        artifact_bucket=artifact_bucket,
        driver_role_arn=driver_role_arn,
    )


def check_bucket_region(
    session: boto3.Session, bucket: str, region: str, endpoint_url: str | None
) -> None:
    """Lambda reads a package only from a bucket in its own region (elsewhere CreateFunction
    fails with "S3 Error Code: PermanentRedirect"): refuse before anything is created."""
    s3 = session.client(
        "s3", region_name=region, endpoint_url=endpoint_url, config=Config(retries=CONTROL_RETRIES)
    )
    try:
        constraint = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise TargetError(
            f"target.artifact_bucket {bucket}: cannot read its region (s3 GetBucketLocation: "
            f"{reason}); check the name and that the credentials may s3:GetBucketLocation"
        ) from None
    # GetBucketLocation answers null for us-east-1 and "EU" for the oldest eu-west-1 buckets.
    actual = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)
    if actual != region:
        raise TargetError(
            f"target.artifact_bucket {bucket} is in {actual}, but the functions are created in "
            f"{region}: Lambda reads packages only from a bucket in its own region; use a "
            f"bucket in {region}"
        )


def _account_id(
    session: boto3.Session, region: str, endpoint_url: str | None, role_arn: str | None
) -> str:
    """STS says who we are; an endpoint without STS (our emulator) falls back on the
    account of the given role."""
    try:
        sts = session.client(
            "sts",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"total_max_attempts": 2, "mode": "standard"}),
        )
        return str(sts.get_caller_identity()["Account"])
    except Exception as exc:  # an endpoint without STS answers anything, even non-XML
        match = _ROLE_ARN.match(role_arn or "")
        if match:
            return match.group(1)
        where = endpoint_url or f"AWS in {region}"
        reason = " ".join(str(exc).split())[:200]  # one line, whatever the endpoint said
        raise TargetError(
            f"cannot identify the account at {where} (sts GetCallerIdentity: {reason}); "
            "check the credentials, or give target.role_arn"
        ) from None


def _is_loopback(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = urlsplit(endpoint_url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"
