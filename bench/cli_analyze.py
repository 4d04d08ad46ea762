"""`bench analyze`: production REPORT lines read over a window and stored as a run
(bench.analyze does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli_app import (
    EndpointOpt,
    ProfileOpt,
    RegionOpt,
    ReportsOpt,
    ResultsOpt,
    make_console,
)


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
    console = make_console()
    for item in format_analysis(outcome):
        console.print(item)
    raise typer.Exit(outcome.exit_code)
