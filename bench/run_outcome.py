"""How a run ended, for the CLI to print: its exit code, status and paths, the report
and summary rendered from what reached the disk, the notes, the command that resumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError, one_line


@dataclass
class RunOutcome:
    """How a run ended, for the CLI to print: the results are on disk whatever it says."""

    exit_code: int
    run_dir: Path
    report_path: Path | None
    status: str
    summary: Any = None  # the per-cell table (rich), when it could be read back
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why
    resume: str | None = None  # the command that completes an unfinished run


def render_outcome(outcome: RunOutcome, reports_root: Path) -> None:
    """Report and summary of the run on disk. Reading them back can only fail on what the
    results directory holds or on the disk: that is noted (with how to retry), and the
    run's own status stands."""
    from bench.report import render_run, summary_table

    try:
        outcome.report_path = render_run(outcome.run_dir, reports_root)
    except (BenchError, OSError) as exc:
        outcome.notes.append(
            f"report not rendered ({one_line(exc)}); retry: bench report {outcome.run_dir}"
        )
    try:
        outcome.summary = summary_table(outcome.run_dir)
    except (BenchError, OSError) as exc:
        outcome.notes.append(f"summary not shown ({one_line(exc)})")
