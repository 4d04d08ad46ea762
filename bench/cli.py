"""The `bench` command line. Commands parse options, call one module function and render.

Exit codes: 0 ok, 1 regression found (compare), 2 usage or input error,
3 run failed or incomplete. Set BENCH_DEBUG=1 for a traceback on errors.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from bench import __version__
from bench.compare import DEFAULT_ALPHA, DEFAULT_FACTOR, DEFAULT_METRICS
from bench.errors import EXIT_INPUT, EXIT_RUN_FAILED, BenchError, InputError, one_line

HELP = """Cold-start benchmarks for AWS Lambda, on AWS or on the embedded local target.

\b
First run: `bench run matrix.yaml` (the embedded local target, no AWS account needed).
On AWS: set `target: {kind: aws, region: ...}` in the matrix, then
  bench estimate matrix.yaml      what it will cost (the run refuses above budget_usd)
  bench iam-policy --stage dev    the policy your credentials need
  bench run matrix.yaml           deploys, measures, tears down
  bench cleanup --stage dev       removes what an interrupted run left
AWS credentials are found as the AWS CLI finds them: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, then --profile / AWS_PROFILE in ~/.aws/credentials and
~/.aws/config (SSO: aws sso login), then a container or instance role.

Exit codes: 0 ok, 1 regression found (compare), 2 usage or input error,
3 run failed or incomplete. BENCH_DEBUG=1 shows tracebacks."""

CONTEXT = {"help_option_names": ["-h", "--help"]}

# click's exceptions as typer raises them: typer >= 0.2x carries its own copy of click, so
# `import click` would name other classes (and is not a dependency); these come from typer.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_CLICKS_OWN = (_CLICK_EXCEPTION, typer.Exit, typer.Abort)


class _OneCatch(TyperGroup):
    """Every command's errors are caught here, once: a BenchError is one line on stderr
    with its exit code; anything else is a bug, one line too, and exit 3. With
    BENCH_DEBUG=1 both show their traceback. Ctrl-C goes on to click (exit 130)."""

    def invoke(self, ctx: typer.Context) -> Any:
        from bench.stopping import StopNow

        try:
            return super().invoke(ctx)
        except StopNow as exc:
            _stopped_now(exc)
        except _CLICKS_OWN:
            raise  # usage errors, exit codes and aborts are click's to show
        except BenchError as exc:
            _fail(f"bench: error: {exc}", exc.exit_code)
        except OSError as exc:
            if exc.filename is not None:  # a path given on the command line, or under one
                from bench.diskio import describe

                _fail(f"bench: error: {describe(exc)}", EXIT_INPUT)
            _bug(exc)
        except Exception as exc:
            _bug(exc)


def _bug(exc: BaseException) -> NoReturn:
    _fail(f"bench: internal error: {one_line(exc)} (a bug; BENCH_DEBUG=1 shows where)",
          EXIT_RUN_FAILED)  # fmt: skip


def _stopped_now(exc: Any) -> NoReturn:
    """A second stop signal: the run tore down and marked itself aborted; end now,
    without waiting for invocations still in flight, as the signal would have."""
    typer.echo(f"bench: {exc}", err=True)
    if exc.resume:
        typer.echo(f"resume: {exc.resume}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exc.exit_code)


def _fail(message: str, code: int) -> NoReturn:
    if os.environ.get("BENCH_DEBUG"):
        traceback.print_exc()
    typer.echo(message, err=True)
    raise typer.Exit(code)


app = typer.Typer(
    name="bench",
    cls=_OneCatch,
    context_settings=CONTEXT,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
fixtures_app = typer.Typer(
    help="Build and inspect fixture deployment packages.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(fixtures_app, name="fixtures")

MatrixArg = Annotated[Path, typer.Argument(help="The matrix file (YAML, schema version 1).")]
ResultsOpt = Annotated[
    Path, typer.Option("--results", help="Directory that holds one folder per run.")
]
ReportsOpt = Annotated[Path, typer.Option("--reports", help="Directory for HTML reports.")]
StageOpt = Annotated[
    str | None,
    typer.Option("--stage", help="Resource name stage: bench-<stage>-... (default dev)."),
]
RegionsOpt = Annotated[
    list[str] | None,
    typer.Option("--region", help="AWS region; repeat for several (default: AWS_REGION)."),
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: AWS_REGION / profile).")
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (default: AWS_PROFILE).")
]
LenientOpt = Annotated[
    bool,
    typer.Option(
        "--lenient",
        help="Leave out records no run can produce (named in the report) instead of stopping.",
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="A Lambda-compatible endpoint instead of AWS's."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"coldbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Cold-start benchmarks for AWS Lambda."""


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a CI log or a file: 80 columns would fold every table.
        console = Console(highlight=False, width=160)
    return console


@app.command()
def run(
    matrix: Annotated[
        Path | None,
        typer.Argument(help="The matrix file (YAML); with --resume, the run's own by default."),
    ] = None,
    results: ResultsOpt = Path("results"),
    reports: ReportsOpt = Path("reports"),
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave functions and log groups in place after the run.")
    ] = False,
    accept_cost: Annotated[
        bool, typer.Option("--accept-cost", help="Run even when the worst case exceeds budget_usd.")
    ] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Complete the missing cells of run RUN_ID.")
    ] = None,
    logs_timeout: Annotated[
        float | None,
        typer.Option(
            "--logs-timeout",
            help="Seconds to wait for every REPORT line in CloudWatch "
            "(default 900 on AWS, 60 local).",
        ),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", help="burst (one bump, N concurrent) or sequential (one bump each)."
        ),
    ] = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Deploy the matrix, force cold starts, collect REPORT lines, write results and a report.

    Runs against the embedded local target unless the matrix says `target: {kind: aws}`.
    Results go to RESULTS/<run_id>/ and the report to REPORTS/<run_id>.html.
    `bench run --resume RUN_ID` completes an interrupted run (the matrix comes from it).

    \b
    Before a first AWS run:
      bench estimate MATRIX                  invocations and cost, worst case included
      bench iam-policy --stage S --region R  the least-privilege policy to attach
    After an interrupted one:
      bench cleanup --stage S                deletes the tagged leftovers
    Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else --profile or AWS_PROFILE
    (~/.aws/credentials, ~/.aws/config, SSO), else a container or instance role.
    """
    from bench.progress_log import Preparing
    from bench.run import RunOptions, run_matrix

    options = RunOptions(
        matrix_path=matrix,
        results_root=results,
        reports_root=reports,
        keep=keep,
        accept_cost=accept_cost,
        resume=resume,
        logs_timeout_s=logs_timeout,
        strategy=strategy,
        stage=stage,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
    )
    console = _console()
    with Preparing(console, options.started):  # heartbeat lines in a log until progress starts
        outcome = run_matrix(options, console=console)
    if outcome.summary is not None:
        console.print(outcome.summary)
    for note in outcome.notes:
        console.print(note)
    console.print(f"status: {outcome.status}")
    console.print(f"results: {outcome.run_dir}")
    if outcome.report_path is not None:
        console.print(f"report: {outcome.report_path}")
    if outcome.resume is not None:
        console.print(f"resume: {outcome.resume}", markup=False)
    raise typer.Exit(outcome.exit_code)


@app.command()
def analyze(
    function: Annotated[
        list[str] | None, typer.Option("--function", help="A function to read; repeatable.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Every function whose name starts with P.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="KEY=VALUE: only functions with this tag; repeatable."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Window length back from --end, e.g. 24h, 90m.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Window start, ISO 8601 (default: --since 24h).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Window end, ISO 8601 (default now).")
    ] = None,
    reader: Annotated[
        str,
        typer.Option(
            "--reader",
            help="filter (FilterLogEvents), insights (Logs Insights, billed per GB scanned) or "
            "auto: insights for windows of 6 h and more.",
        ),
    ] = "auto",
    name: Annotated[
        str, typer.Option("--name", help="Name of the run, for history and compare.")
    ] = "production",
    results: ResultsOpt = Path("results"),
    reports: ReportsOpt = Path("reports"),
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Cold starts in production: read existing functions' REPORT lines over a window and
    store them as a run (phase production) with its report, REPORTS/<run_id>.html.
    Read-only; see bench iam-policy --analyze."""
    from bench.analyze import AnalyzeOptions
    from bench.analyze import analyze as do_analyze
    from bench.analyze.render import format_analysis

    outcome = do_analyze(
        AnalyzeOptions(
            functions=function or [], prefix=prefix, tags=tag or [], since=since, start=start,
            end=end, region=region, profile=profile, endpoint_url=endpoint_url,
            results_root=results, reports_root=reports, name=name, reader=reader,
        )
    )  # fmt: skip
    console = _console()
    for item in format_analysis(outcome):
        console.print(item)
    raise typer.Exit(outcome.exit_code)


@app.command()
def estimate(matrix: MatrixArg) -> None:
    """Invocations, GB-seconds and cost per cell and in total, expected and worst case."""
    from bench.cost import estimate_matrix, format_estimate
    from bench.matrix import load_matrix

    result = estimate_matrix(load_matrix(matrix), source=str(matrix))
    _console().print(format_estimate(result))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. results/<run_id>.")],
    reports: ReportsOpt = Path("reports"),
    lenient: LenientOpt = False,
    cold_share: Annotated[
        float,
        typer.Option(
            "--cold-share",
            min=0.0,
            max=1.0,
            help="Share of cold invocations the memory recommendation is made for.",
        ),
    ] = 0.01,
) -> None:
    """Render the self-contained HTML report of one run."""
    from bench.report import render_run

    path = render_run(run_dir, reports, lenient=lenient, cold_share=cold_share)
    typer.echo(str(path))


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    new: Annotated[Path, typer.Argument(help="The run to judge.")],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="Metric that gates: init_duration_ms (default), duration_ms (the cold "
            "REPORT Duration), client_latency_ms, warm_duration_ms; repeatable.",
        ),
    ] = None,
    report_only: Annotated[
        list[str] | None,
        typer.Option(
            "--report-only",
            help="Metric judged and shown but never failing the comparison (e.g. "
            "client_latency_ms measured across the internet); repeatable.",
        ),
    ] = None,
    factor: Annotated[
        float, typer.Option("--factor", help="Smallest ratio of medians that counts.")
    ] = DEFAULT_FACTOR,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Mann-Whitney U p-value below which it is real.")
    ] = DEFAULT_ALPHA,
    reports: ReportsOpt = Path("reports"),
    lenient: LenientOpt = False,
) -> None:
    """Judge NEW against BASE. Exit 1 on any regression, 0 on none, 2 on bad input."""
    from bench.report import format_compare_table, render_compare

    outcome = render_compare(
        base, new, reports, metrics=metric or list(DEFAULT_METRICS), factor=factor,
        alpha=alpha, lenient=lenient, report_only=report_only,
    )  # fmt: skip
    console = _console()
    console.print(format_compare_table(outcome.verdict))
    console.print(str(outcome.path))
    raise typer.Exit(outcome.verdict.exit_code)


@app.command()
def history(
    results: Annotated[
        Path, typer.Argument(help="Directory that holds one folder per run.")
    ] = Path("results"),
    name: Annotated[
        str | None, typer.Option("--name", help="Matrix name (default: every name found).")
    ] = None,
    reports: ReportsOpt = Path("reports"),
    lenient: LenientOpt = False,
) -> None:
    """Trend of each cell's median Init Duration across runs of the same matrix."""
    from bench.report import render_history

    paths = render_history(results, reports, name=name, lenient=lenient)
    for path in paths:
        typer.echo(str(path))


@app.command()
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
    _console().print(format_cleanup(result))


@app.command(name="ls")
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
    from bench.housekeeping import format_listing, list_region_functions

    rows = list_region_functions(
        inactive_days=inactive_days, region=region, profile=profile, endpoint_url=endpoint_url
    )
    _console().print(format_listing(rows))


@app.command(name="iam-policy")
def iam_policy(
    stage: StageOpt = None,
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Region the policy is scoped to (default '*': any); "
                     "repeat for several."),
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
        typer.Option("--driver", help="client (default) or lambda: the harness then invokes "
                     "only the driver functions; with --driver-role, the drivers' own policy."),
    ] = "client",
    driver_role: Annotated[
        bool,
        typer.Option("--driver-role", help="Print the driver functions' role policy instead "
                     "(driver: lambda): lambda:InvokeFunction on the stage's functions only."),
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
            stage=stage or "dev", region=region or "*", account=account,
            artifact_bucket=artifact_bucket, clone_from=clone_from, clone_vpc=clone_vpc,
            driver=_driver_mode(driver),
        )
    typer.echo(json.dumps(policy, indent=2))


def _driver_mode(driver: str) -> str:
    if driver not in ("client", "lambda"):
        raise InputError(f"--driver {driver!r}: expected client or lambda")
    return driver


@app.command()
def emulator(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 0,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where function code and sandboxes live.")
    ] = None,
    quota_mode: Annotated[
        bool, typer.Option("--quota-mode", help="Throttle like AWS: 15 control-plane req/s etc.")
    ] = False,
    info: Annotated[
        bool,
        typer.Option("--info", help="Print what this machine can emulate (cgroups, runtimes)."),
    ] = False,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="Answer an API call with an AWS error for a while, for testing a client: "
            "OPERATION:ERROR_CODE:WINDOW[:MESSAGE] or OPERATION:delay=SECONDS:WINDOW, "
            "WINDOW like 40s or 2x. Repeatable.",
        ),
    ] = None,
    allow_unisolated: Annotated[
        bool,
        typer.Option(
            "--allow-unisolated",
            help="Run functions even where sandboxes cannot be isolated (no bubblewrap or "
            "user namespaces): their code then sees this machine as your user does.",
        ),
    ] = False,
    account_concurrency: Annotated[
        int | None,
        typer.Option(
            "--account-concurrency",
            min=1,
            help="The account's concurrent executions (default 1000, as a fresh AWS account; "
            "new accounts may have 10).",
        ),
    ] = None,
    idle_timeout_s: Annotated[
        float | None,
        typer.Option("--idle-timeout-s", min=0, help="Evict environments idle this long."),
    ] = None,
    idle_halving: Annotated[
        str | None,
        typer.Option(
            "--idle-halving",
            help="WARM_S:HALF_LIFE_S: all warm for WARM_S idle, then half evicted per further "
            "HALF_LIFE_S (SeBS, 2020: 360:380). Default: idle environments are never evicted.",
        ),
    ] = None,
    max_lifetime_s: Annotated[
        float | None,
        typer.Option("--max-lifetime-s", min=0.001, help="Never reuse an environment this old."),
    ] = None,
) -> None:
    """Serve the local Lambda + CloudWatch Logs endpoint on loopback until Ctrl-C."""
    from bench.emulator.account import AccountSettings
    from bench.emulator.app import emulator_info, serve_forever
    from bench.emulator.faults import parse_fault
    from bench.target import local_target_errors

    if info:
        import json

        typer.echo(json.dumps(emulator_info(), indent=2, sort_keys=True))
        return
    account = (
        AccountSettings(concurrent_executions=account_concurrency)
        if account_concurrency else None
    )  # fmt: skip
    from bench.emulator.eviction import eviction_from_options

    if state_dir is not None:
        from bench.diskio import check_writable_dir

        check_writable_dir(state_dir, flag="--state-dir")
    with local_target_errors():
        serve_forever(
            port=port,
            state_dir=state_dir,
            quota_mode=quota_mode,
            echo=typer.echo,
            faults=[parse_fault(spec) for spec in fault or []],
            allow_unisolated=allow_unisolated,
            account=account,
            eviction=eviction_from_options(idle_timeout_s, idle_halving, max_lifetime_s),
        )


@fixtures_app.command("build")
def fixtures_build(
    matrix: MatrixArg,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the zips (default: the cache).")
    ] = None,
) -> None:
    """Build every deployment package of the matrix, for its target, and print their sizes
    and hashes."""
    from bench.fixtures import build_matrix_artifacts, format_artifacts
    from bench.matrix import load_matrix
    from bench.target import build_platform

    loaded = load_matrix(matrix)
    built = build_matrix_artifacts(loaded, out_dir=out, build_for=build_platform(loaded.target))
    _console().print(format_artifacts(built))


def entry() -> None:
    """The `bench` console script and `python -m bench`: errors are caught in the
    commands' group (_OneCatch); Ctrl-C exits 130."""
    try:
        app(prog_name="bench")
    except KeyboardInterrupt:  # pragma: no cover - click turns it into an exit first
        sys.exit(130)
