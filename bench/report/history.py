"""History: each cell's median Init Duration with its CI across runs of one matrix name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.compare import DEFAULT_ALPHA, DEFAULT_FACTOR
from bench.errors import InputError, ResultsFormatError
from bench.report import charts
from bench.report.html import render, svg
from bench.report.load import load_run, matrix_name
from bench.report.settings import matrix_changes
from bench.results import MANIFEST, read_manifest


def _scan(results_root: Path) -> tuple[dict[str, list[tuple[str, Path]]], list[str]]:
    """Run directories grouped by matrix name, each list sorted by start time; plus the
    directories that are not readable runs (shown on the page, never silently dropped)."""
    groups: dict[str, list[tuple[str, Path]]] = {}
    skipped = []
    for run_dir in sorted(p for p in results_root.iterdir() if p.is_dir()):
        try:
            manifest = read_manifest(run_dir)
            name = matrix_name(manifest)
            if not name or "started" not in manifest:
                raise ResultsFormatError(f"{run_dir / MANIFEST}: no matrix_name or started")
            groups.setdefault(name, []).append((str(manifest["started"]), run_dir))
        except ResultsFormatError as exc:
            skipped.append(f"{run_dir.name}: {str(exc).removeprefix(str(run_dir) + '/')}")
    for runs in groups.values():
        runs.sort()
    return groups, skipped


def _history_rows(run_dirs: list[Path], lenient: bool) -> tuple[Any, list[dict[str, Any]]]:
    import pandas as pd

    from bench.compare import judge_runs
    from bench.stats import cell_summary

    frames, runs = [], []
    previous = None  # the last run that was judged: an aborted run is never a baseline
    for order, run_dir in enumerate(run_dirs):
        loaded = load_run(run_dir, lenient=lenient)
        summary = cell_summary(loaded.invocations)
        flagged: set[str] = set()
        changes = matrix_changes(previous.manifest, loaded.manifest) if previous else []
        # A stopped run measured what it had time for: its points are shown, marked, and
        # neither judged nor judged against.
        judged = loaded.status not in UNJUDGED
        if previous is not None and judged:
            verdict = judge_runs(previous, loaded, metrics=["init_duration_ms"])
            flagged = {r.cell for r in verdict.rows if r.mark == "regression"}
        started = str(loaded.manifest["started"])
        label = run_label(started, loaded.run_id, changed=bool(changes))
        if not judged:
            label = f"{label} ({loaded.status}, not judged)"
        summary = summary.assign(
            order=order,
            label=label,
            run_id=loaded.run_id,
            regression=summary["cell"].isin(flagged),
        )
        frames.append(summary)
        runs.append({"order": order, "run_id": loaded.run_id, "started": started,
                     "status": loaded.status, "cells": len(summary), "judged": judged,
                     "regressions": sorted(flagged), "matrix_changes": changes,
                     "label": label,
                     "dropped": [f"{loaded.run_id}: {d}" for d in loaded.dropped]})  # fmt: skip
        if judged:
            previous = loaded
    return pd.concat(frames, ignore_index=True), runs


# Runs shown but left out of regression judgements, as the judged run and as the baseline.
UNJUDGED = ("aborted",)


def run_label(started: str, run_id: str, *, changed: bool) -> str:
    """Start to the second and the run id's random part, so two runs started in the same
    minute (or second) are told apart; "matrix changed" when its settings moved."""
    label = f"{started[:19].replace('T', ' ')} {run_id.rsplit('-', 1)[-1]}"
    return f"{label} (matrix changed)" if changed else label


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def render_history(
    results_root: Path, reports_dir: Path, *, name: str | None = None, lenient: bool = False
) -> list[Path]:
    """One page per matrix name (reports/history-<name>.html); returns the paths written."""
    results_root = Path(results_root)
    if not results_root.is_dir():
        raise InputError(f"{results_root}: not a directory of runs")
    groups, skipped = _scan(results_root)
    if name is not None:
        if name not in groups:
            found = ", ".join(sorted(groups)) or "none"
            raise InputError(f"--name {name}: no run of that matrix under {results_root} "
                             f"(found: {found})")  # fmt: skip
        groups = {name: groups[name]}
    if not groups:
        raise ResultsFormatError(f"{results_root}: no run directory with a readable manifest.json")
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name_found in sorted(groups):
        points, runs = _history_rows([run_dir for _, run_dir in groups[name_found]], lenient)
        runtimes = sorted(points["runtime"].dropna().astype(str).unique())
        html = render(
            "history.html.j2",
            name=name_found,
            runs=runs,
            skipped=skipped,
            charts=[(rt, svg(charts.history_trend(points, rt))) for rt in runtimes],
            factor=DEFAULT_FACTOR,
            alpha=DEFAULT_ALPHA,
        )
        path = reports_dir / f"history-{_safe_name(name_found)}.html"
        path.write_text(html, encoding="utf-8")
        paths.append(path)
    return paths
