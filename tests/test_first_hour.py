"""What a newcomer meets first: -h, help enough for a first AWS run, a resume without the
matrix file, and no AWS credentials as an input error that says where they are looked for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from bench.errors import EXIT_INPUT, InputError

AWS_MATRIX = """\
name: first
target: {kind: aws, region: eu-central-1, stage: first}
runtimes: [python3.12]
memory_mb: [128]
cold_starts: 2
burst: 1
warm_invocations: 1
"""


@pytest.mark.parametrize("args", [["-h"], ["run", "-h"], ["fixtures", "-h"], ["cleanup", "-h"]])
def test_short_help_works_everywhere(bench_cli: Callable[..., Result], args: list[str]) -> None:
    result = bench_cli(*args)
    assert result.exit_code == 0, result.output
    assert "Usage: bench" in result.output


def test_run_help_is_enough_for_a_first_aws_run(bench_cli: Callable[..., Result]) -> None:
    text = " ".join(bench_cli("run", "--help").output.split())
    for needed in ("bench estimate", "bench iam-policy", "bench cleanup", "AWS_ACCESS_KEY_ID",
                   "AWS_PROFILE", "~/.aws/credentials", "--resume RUN_ID"):  # fmt: skip
        assert needed in text, needed
    top = " ".join(bench_cli("--help").output.split())
    assert "~/.aws/credentials" in top and "bench iam-policy" in top


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing boto3 could find: no keys, no files, no container or instance role."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_ROLE_ARN", "AWS_ENDPOINT_URL"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize("command", [["run", "m.yaml"], ["cleanup", "--region", "eu-central-1"]])
def test_no_credentials_is_an_input_error_naming_where_they_are_looked_for(
    bench_cli: Callable[..., Result], workdir: Path, command: list[str]
) -> None:
    (workdir / "m.yaml").write_text(AWS_MATRIX)
    result = bench_cli(*command)
    assert result.exit_code == EXIT_INPUT, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("bench: error:")]
    assert "no AWS credentials found" in line
    for place in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "~/.aws/credentials", "instance role"):
        assert place in line, place
    assert "role_arn" not in line  # the old hint led the wrong way
    assert list((workdir / "results").iterdir()) == []  # nothing was started


def test_run_without_matrix_or_resume_is_an_input_error(workdir: Path) -> None:
    from bench.run import RunOptions, load_run_matrix

    with pytest.raises(InputError, match="give the matrix file, or --resume RUN_ID"):
        load_run_matrix(RunOptions(matrix_path=None))


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_results_files_follow_the_umask_not_0600(tmp_path: Path, umask: int, mode: int) -> None:
    import os
    import stat

    from bench.results.writer import atomic_write

    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "manifest.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == mode


def test_a_usage_error_is_exit_2_and_not_called_a_bug(bench_cli: Callable[..., Result]) -> None:
    result = bench_cli("run", "--bogus")
    assert result.exit_code == EXIT_INPUT, result.output
    assert "No such option: --bogus" in result.output
    assert "internal error" not in result.output


def test_the_command_line_does_not_import_click_itself() -> None:
    # typer carries its own click; click is no dependency of ours, and its classes would
    # not match the ones typer raises.
    import ast
    from pathlib import Path

    import bench

    for path in Path(bench.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not [a for a in node.names if a.name.split(".")[0] == "click"], path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "click", path


def test_a_log_hears_from_the_run_while_it_prepares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building packages or fetching a runtime can take minutes: a heartbeat line keeps a CI
    log from going quiet until the run's own progress starts, and stops then."""
    import io
    import time

    from rich.console import Console

    from bench import progress_log
    from bench.progress import RunProgress

    monkeypatch.setattr(progress_log, "HEARTBEAT_S", 0.05)
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None)
    assert not console.is_terminal

    def lines() -> list[str]:
        return [x for x in out.getvalue().splitlines() if "preparing:" in x]

    with progress_log.Preparing(console, time.monotonic()):
        deadline = time.monotonic() + 10
        while len(lines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling for the condition, with a deadline
        assert len(lines()) >= 2, out.getvalue()
        assert lines()[0].startswith("[0:00] preparing: building packages")
        with RunProgress(console, cells=1, rounds=1, invocations=2):
            seen = len(lines())  # the run's progress took over: no more preparing lines
            time.sleep(0.2)
            assert len(lines()) == seen
