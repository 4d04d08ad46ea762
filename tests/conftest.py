"""Shared fixtures: a CLI runner with a fixed terminal, temporary results and reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner, Result

# In CI the property tests explore the same examples every run, so a red build is
# reproducible; on a developer's machine they keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with empty results/ and reports/ and a private artifact cache."""
    (tmp_path / "results").mkdir()
    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def bench_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke `bench` in-process: `bench_cli("run", "matrix.yaml")`."""
    from bench.cli import app

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.delenv("BENCH_DEBUG", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke
