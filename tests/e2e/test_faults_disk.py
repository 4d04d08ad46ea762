"""The disk says no: a results directory that is a file, read-only or full, a state
directory that cannot be one. Each ends in one line naming the path and what to do,
exit 2 before anything is deployed, exit 3 (and a readable partial run, torn down) once
the run has started."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TINY = """\
name: {name}
runtimes: [python3.12]
memory_mb: [256, 512]
package:
  size_mb: [0]
cold_starts: 2
burst: 2
warm_invocations: 6
timeout_s: 10
budget_usd: 0.05
"""
LOCAL = "target: {kind: local}\n"


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output


def _in_private_mounts(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a mount namespace of its own (what it mounts is private to it
    and gone when it ends); skip with the reason where that is not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) not installed: cannot make a read-only or full disk")
    flags = ["-m", "--propagation", "private"] if os.geteuid() == 0 else ["-rm"]
    probe = subprocess.run([unshare, *flags, "true"], check=False, capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here ({probe.stderr.strip()})")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PYTHONPATH=str(REPO), NO_COLOR="1", COLUMNS="160", PYTHON=sys.executable)
    return subprocess.run(
        [unshare, *flags, "sh", "-ec", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


BENCH = '"$PYTHON" -c "from bench.cli import app; app()"'


def test_results_naming_a_regular_file_is_one_line_exit_2(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    (workdir / "m.yaml").write_text(LOCAL + TINY.format(name="file"))
    (workdir / "taken").write_text("not a directory\n")
    result = bench_cli("run", "m.yaml", "--results", "taken")
    assert result.exit_code == 2, result.output
    _no_traceback(result.output)
    lines = _error_lines(result.output)
    assert lines == [
        "bench: error: --results taken: a file, not a directory; give --results a directory"
    ]
    assert (workdir / "taken").read_text() == "not a directory\n"  # left as it was


def test_results_on_a_read_only_filesystem_is_one_line_exit_2(workdir: Path) -> None:
    (workdir / "m.yaml").write_text(LOCAL + TINY.format(name="ro"))
    (workdir / "ro").mkdir()
    done = _in_private_mounts(
        f"mount -t tmpfs -o ro,size=1m tmpfs ro\n"
        f"set +e; {BENCH} run m.yaml --results ro/results; echo \"exit=$?\"",
        workdir,
    )
    out = done.stdout + done.stderr
    assert "exit=2" in done.stdout, out
    _no_traceback(out)
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, out
    assert lines[0].startswith("bench: error: --results ro/results: read-only file system")
    assert "give --results a writable directory" in lines[0]


def test_results_on_a_full_disk_is_one_line_exit_2(workdir: Path) -> None:
    (workdir / "m.yaml").write_text(LOCAL + TINY.format(name="full"))
    (workdir / "full").mkdir()
    done = _in_private_mounts(
        "mount -t tmpfs -o size=64k tmpfs full\n"
        "head -c 60000 /dev/zero > full/filler || true\n"
        f"set +e; {BENCH} run m.yaml --results full/results; echo \"exit=$?\"\n"
        "ls -A full/results",
        workdir,
    )
    out = done.stdout + done.stderr
    assert "exit=2" in done.stdout, out
    _no_traceback(out)
    lines = _error_lines(done.stderr)
    assert len(lines) == 1 and "full/results" in lines[0], out
    assert "no space left on the device" in lines[0]
    assert done.stdout.strip().splitlines()[-1] == "exit=2"  # no run directory was left


def test_a_disk_that_fills_mid_run_ends_partial_readable_and_torn_down(  # noqa: PLR0917
    workdir: Path,
    emulator: Any,
    emu: Any,
    aws_env: dict[str, str],
    bench_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC on the fourth record (injected where the writer appends)."""
    from bench.results import RunWriter, load_run

    real = RunWriter.append_invocation
    written: list[int] = []

    def filling(self: Any, record: Any) -> None:
        if len(written) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        real(self, record)
        written.append(1)

    monkeypatch.setattr(RunWriter, "append_invocation", filling)
    (workdir / "m.yaml").write_text(emu.matrix(emulator, stage="enospc", body=TINY.format(
        name="enospc")))  # fmt: skip
    result = bench_cli("run", "m.yaml")
    assert result.exit_code == 3, result.output
    _no_traceback(result.output)
    (run_dir,) = list((workdir / "results").iterdir())
    errors = [line for line in _error_lines(result.output) if line.startswith("bench: ")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"bench: error: results/{run_dir.name}: no space left on the")
    assert f"resume: bench run --resume {run_dir.name}" in errors[0]
    loaded = load_run(run_dir)
    assert loaded.status == "partial"
    assert len(loaded.invocations) == 3
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []


def test_emulator_state_dir_naming_a_file_is_one_line_exit_2(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    (workdir / "state").write_text("x")
    result = bench_cli("emulator", "--state-dir", "state")
    assert result.exit_code == 2, result.output
    _no_traceback(result.output)
    assert _error_lines(result.output) == [
        "bench: error: --state-dir state: a file, not a directory; give --state-dir a directory"
    ]


def test_emulator_state_dir_in_a_read_only_place_is_one_line_exit_2(workdir: Path) -> None:
    (workdir / "ro").mkdir()
    done = _in_private_mounts(
        "mount -t tmpfs -o ro,size=1m tmpfs ro\n"
        f"set +e; {BENCH} emulator --state-dir ro/state; echo \"exit=$?\"",
        workdir,
    )
    out = done.stdout + done.stderr
    assert "exit=2" in done.stdout, out
    _no_traceback(out)
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, out
    assert lines[0].startswith("bench: error: --state-dir ro/state: read-only file system")



def test_a_results_directory_removed_mid_run_is_one_line_exit_3_torn_down(  # noqa: PLR0917
    workdir: Path, emulator: Any, emu: Any, aws_env: dict[str, str],
    bench_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Someone removes the run's directory (a cleanup job, a careless rm) while it works."""
    from bench.results import RunWriter

    real = RunWriter.append_invocation
    written: list[int] = []

    def vanishing(self: Any, record: Any) -> None:
        real(self, record)
        written.append(1)
        if len(written) == 3:
            shutil.rmtree(self.path)

    monkeypatch.setattr(RunWriter, "append_invocation", vanishing)
    (workdir / "m.yaml").write_text(emu.matrix(emulator, stage="vanish", body=TINY.format(
        name="vanish")))  # fmt: skip
    result = bench_cli("run", "m.yaml")
    assert result.exit_code == 3, result.output
    _no_traceback(result.output)
    errors = [line for line in _error_lines(result.output) if line.startswith("bench: ")]
    assert len(errors) == 1, result.output
    assert re.match(r"bench: error: \S*results/\d{8}T\d{6}Z-vanish-[0-9a-f]{6}: no longer "
                    r"exists \(removed while in use\).*; the run stopped and tore down what it "
                    r"deployed; its results went with the directory$",
                    errors[0]), errors  # fmt: skip
    assert list((workdir / "results").iterdir()) == []
    lambda_client, logs_client = emu.clients(emulator)
    assert lambda_client.list_functions()["Functions"] == []
    assert logs_client.describe_log_groups()["logGroups"] == []


def test_report_into_a_file_is_one_line_exit_2(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    from tests.synthetic import SyntheticRun, default_cells, write_run

    run_dir = write_run(workdir / "results", SyntheticRun(cells=default_cells()[:1], cold=4,
                                                          warm=0, burst=2))  # fmt: skip
    (workdir / "taken").write_text("x")
    result = bench_cli("report", str(run_dir), "--reports", "taken")
    assert result.exit_code == 2, result.output
    _no_traceback(result.output)
    (line,) = _error_lines(result.output)
    assert line.startswith("bench: error: taken: a file where a directory is expected"), line


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.EROFS, "read-only file system; give --results a writable directory"),
        (errno.EACCES, "permission denied; give --results a directory you may write to"),
        (errno.ENOSPC, "no space left on the device; free some space or give --results"),
        (errno.ENOTDIR, "a file where a directory is expected; give --results a directory"),
        (errno.EIO, "Input/output error; check the path and the disk"),
    ],
)
def test_every_disk_error_names_the_path_and_what_to_do(code: int, says: str) -> None:
    from bench.diskio import describe

    text = describe(OSError(code, os.strerror(code), "/data/results/x"), flag="--results")
    assert text.startswith("/data/results/x: " + says), text
    assert "\n" not in text


def test_a_vanished_directory_is_named_not_the_file_inside_it(tmp_path: Path) -> None:
    from bench.diskio import describe

    gone = tmp_path / "results" / "run-1" / ".manifest.json.abc.tmp"
    (tmp_path / "results").mkdir()
    text = describe(FileNotFoundError(errno.ENOENT, "No such file", str(gone)))
    assert text.startswith(f"{tmp_path / 'results' / 'run-1'}: no longer exists"), text
