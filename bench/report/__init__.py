"""Render a run, a comparison of two runs, and the history of a matrix, as self-contained HTML.

The report only reads results directories (docs/results-format.md); it never talks to a
target. Heavy imports happen inside the functions, so importing this package is cheap.
"""

from __future__ import annotations

from bench.report.compare import CompareOutcome, format_compare_table, render_compare
from bench.report.history import render_history
from bench.report.run import format_summary_table, render_run, summary_table

__all__ = [
    "CompareOutcome",
    "format_compare_table",
    "format_summary_table",
    "render_compare",
    "render_history",
    "render_run",
    "summary_table",
]
