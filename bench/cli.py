"""The `bench` command line. Commands parse options, call one module function and render;
the command group, its error handling and shared options are in bench.cli_app, and the
commands of analyze, housekeeping and the local side in bench.cli_analyze,
bench.cli_housekeeping and bench.cli_local. This module lists them all on `app`.

Exit codes: 0 ok, 1 regression found (compare), 2 usage or input error,
3 run failed or incomplete. Set BENCH_DEBUG=1 for a traceback on errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bench.cli_analyze import analyze
from bench.cli_app import (
    EndpointOpt,
    LenientOpt,
    MatrixArg,
    ProfileOpt,
    RegionOpt,
    ReportsOpt,
    ResultsOpt,
    StageOpt,
    app,
    fixtures_app,
    make_console,
)
from bench.cli_housekeeping import cleanup, iam_policy, list_functions
from bench.cli_local import emulator, fixtures_build
from bench.compare import DEFAULT_ALPHA, DEFAULT_FACTOR, DEFAULT_METRICS

__all__ = ["app", "entry"]


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
    console = make_console()
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


def estimate(matrix: MatrixArg) -> None:
    """Invocations, GB-seconds and cost per cell and in total, expected and worst case."""
    from bench.cost import estimate_matrix, format_estimate
    from bench.matrix import load_matrix

    result = estimate_matrix(load_matrix(matrix), source=str(matrix))
    make_console().print(format_estimate(result))


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
    console = make_console()
    console.print(format_compare_table(outcome.verdict))
    console.print(str(outcome.path))
    raise typer.Exit(outcome.verdict.exit_code)


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


# The commands, in the order `bench --help` lists them.
app.command()(run)
app.command()(analyze)
app.command()(estimate)
app.command()(report)
app.command()(compare)
app.command()(history)
app.command()(cleanup)
app.command(name="ls")(list_functions)
app.command(name="iam-policy")(iam_policy)
app.command()(emulator)
fixtures_app.command("build")(fixtures_build)


def entry() -> None:
    """The `bench` console script and `python -m bench`: errors are caught in the
    commands' group (_OneCatch); Ctrl-C exits 130."""
    from bench.cli_app import watch_ctrl_c

    watch_ctrl_c()
    try:
        app(prog_name="bench")
    except KeyboardInterrupt:  # pragma: no cover - click turns it into an exit first
        sys.exit(130)
