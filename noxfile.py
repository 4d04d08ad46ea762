"""Developer sessions: tests, e2e, lint, typecheck, perf."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = False if os.environ.get("BENCH_NOX_NO_VENV") else None
CORE = [
    "bench/matrix.py",
    "bench/matrix_cells.py",
    "bench/matrix_errors.py",
    "bench/matrix_functions.py",
    "bench/matrix_strict.py",
    "bench/matrix_targets.py",
    "bench/runtimes.py",
    "bench/errors.py",
    "bench/results",
    "bench/logs.py",
    "bench/cloudwatch.py",
    "bench/cost.py",
    "bench/stats.py",
    "bench/compare.py",
    "bench/naming.py",
    "bench/aws_errors.py",
    "bench/lambda_limits.py",
    "bench/analyze",
]


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite, end-to-end runs against the local target included."""
    _install(session)
    session.run("pytest", "-q", *session.posargs)


@nox.session(python=PYTHON)
def e2e(session: nox.Session) -> None:
    """Only the slow end-to-end runs."""
    _install(session)
    session.run("pytest", "-q", "-m", "e2e", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "bench", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    _install(session)
    session.install("mypy>=1.10", "pandas-stubs", "types-PyYAML")
    session.run("mypy", *CORE)


@nox.session(python=PYTHON)
def perf(session: nox.Session) -> None:
    """The harness's own benchmarks; each prints its figures as side-by-side ratios."""
    _install(session)
    for script in ("benchmarks/emulator.py", "benchmarks/strategies.py", "benchmarks/report.py",
                   "benchmarks/admission.py", "benchmarks/isolation.py",
                   "benchmarks/analyze.py", "benchmarks/scaleout.py",
                   "benchmarks/driver_width.py"):  # fmt: skip
        if os.path.exists(script):
            session.run("python", script, *session.posargs)
        else:
            session.warn(f"{script} is missing; skipped")
