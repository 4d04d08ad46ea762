"""The commands of the local side: `bench emulator` serves the embedded target
(bench.emulator), `bench fixtures build` builds a matrix's packages (bench.fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli_app import MatrixArg, make_console


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
    make_console().print(format_artifacts(built))
