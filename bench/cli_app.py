"""The `bench` command group every command registers on (bench.cli lists them): its help
and exit codes, the one place errors are caught, the options commands share, the console.

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
from bench.errors import EXIT_INPUT, EXIT_RUN_FAILED, BenchError, one_line

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
            if _interrupted(exc):
                # Ctrl-C inside an import (numpy turns it into an ImportError): still Ctrl-C.
                raise KeyboardInterrupt from None
            _bug(exc)


_CTRL_C_SEEN = False


def watch_ctrl_c() -> None:
    """Ctrl-C raises KeyboardInterrupt as Python's default does, and is remembered: one
    that lands inside a C extension's import comes out as that import's ImportError, and
    must still end the command as Ctrl-C (130), not as a bug."""
    import signal

    def on_sigint(signum: int, frame: Any) -> None:
        global _CTRL_C_SEEN  # noqa: PLW0603 - one flag for the process's one Ctrl-C handler
        _CTRL_C_SEEN = True
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)


def _interrupted(exc: BaseException) -> bool:
    if _CTRL_C_SEEN:
        return True
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


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


def make_console() -> Any:  # a rich Console, imported late
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a CI log or a file: 80 columns would fold every table.
        console = Console(highlight=False, width=160)
    return console
