"""The commands around runs on AWS: `bench cleanup` (bench.housekeeping), `bench ls`
(bench.listing), `bench iam-policy` (bench.iam)."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.cli_app import EndpointOpt, ProfileOpt, RegionsOpt, StageOpt, make_console
from bench.errors import InputError


def cleanup(
    stage: StageOpt = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only resources of this run.")] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only resources older than e.g. 2h, 30m, 1d.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    region: RegionsOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    artifact_bucket: Annotated[
        str | None,
        typer.Option("--artifact-bucket", help="Also delete the stage's packages in this bucket."),
    ] = None,
) -> None:
    """Delete tagged leftovers: functions, log groups, packages in the artifact bucket, and
    the role when nothing uses it."""
    from bench.housekeeping import cleanup as do_cleanup
    from bench.housekeeping import format_cleanup

    result = do_cleanup(
        stage=stage,
        run_id=run_id,
        older_than=older_than,
        dry_run=dry_run,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        artifact_bucket=artifact_bucket,
    )
    make_console().print(format_cleanup(result))


def list_functions(
    inactive_days: Annotated[
        int | None,
        typer.Option("--inactive-days", help="Only functions not invoked for N days."),
    ] = None,
    region: RegionsOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """List the region's functions with last modified and last invocation time."""
    from bench.listing import format_listing, list_region_functions

    rows = list_region_functions(
        inactive_days=inactive_days, region=region, profile=profile, endpoint_url=endpoint_url
    )
    make_console().print(format_listing(rows))


def iam_policy(
    stage: StageOpt = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="Region the policy is scoped to (default '*': any); repeat for several.",
        ),
    ] = None,
    account: Annotated[
        str, typer.Option("--account", help="Account id the policy is scoped to ('*' for any).")
    ] = "*",
    artifact_bucket: Annotated[
        str | None,
        typer.Option("--artifact-bucket", help="S3 bucket for packages over 50 MB, if used."),
    ] = None,
    driver: Annotated[
        str,
        typer.Option(
            "--driver",
            help="client (default) or lambda: the harness then invokes "
            "only the driver functions; with --driver-role, the drivers' own policy.",
        ),
    ] = "client",
    driver_role: Annotated[
        bool,
        typer.Option(
            "--driver-role",
            help="Print the driver functions' role policy instead "
            "(driver: lambda): lambda:InvokeFunction on the stage's functions only.",
        ),
    ] = False,
    analyze: Annotated[
        bool,
        typer.Option("--analyze", help="The read-only policy of bench analyze instead."),
    ] = False,
    function: Annotated[
        list[str] | None, typer.Option("--function", help="--analyze: a function; repeatable.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="--analyze: functions named P*.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="--analyze: KEY=VALUE narrows; repeatable.")
    ] = None,
    log_group: Annotated[
        list[str] | None,
        typer.Option("--log-group", help="--analyze: a customised LoggingConfig.LogGroup."),
    ] = None,
    clone_from: Annotated[
        list[str] | None,
        typer.Option("--from", help="A function ARN a matrix clones (from:); repeatable."),
    ] = None,
    clone_vpc: Annotated[
        bool, typer.Option("--vpc", help="--from: the clones keep their VPC (vpc: true).")
    ] = False,
) -> None:
    """Print the least-privilege IAM policy the harness's own credentials need (with
    --analyze: what bench analyze needs for the selected functions)."""
    import json

    from bench.iam import analyze_policy, harness_policy

    if analyze:
        from bench.analyze.select import parse_tags

        policy = analyze_policy(
            functions=function or [], prefix=prefix, tagged=bool(parse_tags(tag or [])),
            log_groups=log_group or [], region=(region or ["*"])[0], account=account,
        )  # fmt: skip
    elif driver_role:
        from bench.iam import driver_policy

        policy = driver_policy(stage or "dev", region or ["*"], account)
    elif function or prefix is not None or tag or log_group:
        raise InputError("--function, --prefix, --tag and --log-group go with --analyze")
    else:
        policy = harness_policy(
            stage=stage or "dev",
            region=region or "*",
            account=account,
            artifact_bucket=artifact_bucket,
            clone_from=clone_from,
            clone_vpc=clone_vpc,
            driver=_driver_mode(driver),
        )
    typer.echo(json.dumps(policy, indent=2))


def _driver_mode(driver: str) -> str:
    if driver not in ("client", "lambda"):
        raise InputError(f"--driver {driver!r}: expected client or lambda")
    return driver
