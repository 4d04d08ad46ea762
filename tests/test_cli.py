"""The command line's own promises: help, version, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import __version__
from bench.errors import EXIT_INPUT


def test_version(bench_cli) -> None:
    result = bench_cli("--version")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"coldbench {__version__}"


def test_help_lists_every_command_and_exit_codes(bench_cli) -> None:
    result = bench_cli("--help")
    assert result.exit_code == 0, result.output
    for command in ("run", "compare", "report", "history", "estimate", "cleanup", "ls",
                    "iam-policy", "emulator", "fixtures"):
        assert command in result.output
    assert "Exit codes" in result.output


def test_run_help_explains_every_option(bench_cli) -> None:
    result = bench_cli("run", "--help")
    assert result.exit_code == 0, result.output
    for option in ("--results", "--reports", "--keep", "--accept-cost", "--resume",
                   "--logs-timeout", "--strategy", "--stage", "--region", "--profile",
                   "--endpoint-url"):
        assert option in result.output


def test_help_starts_without_heavy_imports() -> None:
    # `bench --help` must stay responsive: pandas, matplotlib, scipy and aiohttp load late.
    code = (
        "import sys; from bench.cli import app; "
        "heavy = [m for m in ('pandas', 'matplotlib', 'scipy', 'aiohttp', 'boto3') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_missing_matrix_is_a_one_line_error(bench_cli, workdir: Path) -> None:
    result = bench_cli("estimate", "nope.yaml")
    assert result.exit_code == EXIT_INPUT
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "nope.yaml" in lines[0]
    assert "Traceback" not in result.output
