"""Errors are caught once, at the command line's edge: one line and an exit code, a
traceback only with BENCH_DEBUG=1, and Ctrl-C exits 130 wherever it lands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.synthetic import SyntheticRun, write_run

REPO = Path(__file__).resolve().parents[1]


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its children (compare parses in workers)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _tree_cpu_s(int(child))
    except (OSError, IndexError):
        pass  # the process (or a child) just ended
    return total


@pytest.fixture(scope="module")
def big_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs large enough that reading them takes seconds of CPU."""
    root = tmp_path_factory.mktemp("results")
    base = write_run(root, SyntheticRun(seed=1, cold=3000, warm=1000, burst=100))
    new = write_run(root, SyntheticRun(seed=2, cold=3000, warm=1000, burst=100))
    return base, new


@pytest.mark.parametrize("command", ["compare", "report"])
def test_ctrl_c_during_compare_and_report_exits_130(
    command: str, big_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    base, new = big_runs
    args = [str(base), str(new)] if command == "compare" else [str(base)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("BENCH_DEBUG", None)
    # As an interactive shell starts it: Ctrl-C raises KeyboardInterrupt (a shell that
    # runs this test in the background may have left SIGINT ignored).
    main = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "sys.argv[0] = 'bench'; from bench.cli import entry; entry()")
    proc = subprocess.Popen(
        [sys.executable, "-c", main, command, *args, "--reports", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    # Past the imports and into reading the runs: about a second of CPU in.
    deadline = time.monotonic() + 60
    while _tree_cpu_s(proc.pid) < 1.0 and proc.poll() is None:
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.02)
    assert proc.poll() is None, "it finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"Traceback" not in err


def test_an_unexpected_error_is_one_line_and_exit_3(
    bench_cli: Callable[..., Result], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = write_run(workdir / "results", SyntheticRun(cold=6, warm=0, burst=6))

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("init_p50")

    monkeypatch.setattr("bench.report.run.page_context", broken)
    result = bench_cli("report", str(run))
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert lines == ["bench: internal error: KeyError: 'init_p50' (a bug; BENCH_DEBUG=1 "
                     "shows where)"]  # fmt: skip
    monkeypatch.setenv("BENCH_DEBUG", "1")
    result = bench_cli("report", str(run))
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.output
    assert 'in broken\n    raise KeyError("init_p50")' in result.output


def test_a_bench_error_is_one_line_and_its_exit_code(
    bench_cli: Callable[..., Result], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = bench_cli("report", str(workdir / "nope"))
    assert result.exit_code == 2
    assert result.output.strip() == f"bench: error: {workdir / 'nope'}: not a run directory " \
        "(no such directory)"
    monkeypatch.setenv("BENCH_DEBUG", "1")
    result = bench_cli("report", str(workdir / "nope"))
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.output
    assert "ResultsFormatError" in result.output


def test_the_console_script_goes_through_the_one_catch() -> None:
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"bench": "bench.cli:entry"}
    done = subprocess.run([sys.executable, "-m", "bench", "report", "/nonexistent/run"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "bench: error: /nonexistent/run: not a run directory (no such directory)"
    )


def test_ctrl_c_that_lands_inside_an_import_still_exits_130(tmp_path: Path) -> None:
    """A SIGINT during a C extension's initialisation comes out as that import's
    ImportError ("initialization failed"); it is still Ctrl-C, not a bug."""
    run = write_run(tmp_path / "results", SyntheticRun(cold=6, warm=0, burst=6))
    main = (
        "import os, signal, sys\n"
        "from bench.cli import entry\n"
        "import bench.report.run as page\n"
        "def broken(*a, **k):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    except KeyboardInterrupt:\n"
        "        pass\n"
        "    raise ImportError('initialization failed')\n"
        "page.page_context = broken\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "sys.argv[0] = 'bench'\n"
        "entry()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("BENCH_DEBUG", None)
    done = subprocess.run([sys.executable, "-c", main, "report", str(run), "--reports",
                           str(tmp_path / "reports")], capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 130, done.stderr[-2000:]
    assert "internal error" not in done.stderr
