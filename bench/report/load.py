"""What the report needs from a results directory, on top of bench.results.load_run.

The loader owns the format (docs/results-format.md); the pages also need a few manifest
fields to say what ran, and say which one is missing rather than fail half-way through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import ResultsFormatError
from bench.results import MANIFEST, LoadedRun
from bench.results import load_run as _load_run

__all__ = ["LoadedRun", "load_run", "matrix_name"]


def matrix_name(manifest: dict[str, Any]) -> str:
    return str(manifest.get("matrix_name") or (manifest.get("matrix") or {}).get("name") or "")


def load_run(run_dir: Path, *, lenient: bool = False) -> LoadedRun:
    """The run as bench.results reads it, after checking the fields every page shows."""
    loaded = _load_run(Path(run_dir), lenient=lenient)
    where = Path(run_dir) / MANIFEST
    manifest = loaded.manifest
    for key in ("run_id", "started", "target"):
        if key not in manifest:
            raise ResultsFormatError(f"{where}: field {key} is missing")
    if not isinstance(manifest["target"], dict) or "kind" not in manifest["target"]:
        raise ResultsFormatError(f"{where}: field target.kind is missing")
    if not matrix_name(manifest):
        raise ResultsFormatError(f"{where}: field matrix_name is missing")
    return loaded


# The columns the statistics and charts read; the rest stay in the results directory.
USED_COLUMNS = (
    "cell", "runtime", "memory_mb", "architecture", "package_mb", "package_kind", "status",
    "start_type", "client_latency_ms", "duration_ms", "billed_duration_ms",
    "init_duration_ms", "max_memory_used_mb", "memory_size_mb", "queued_ms", "contention",
    "function", "invoke_via", "error_type", "error_phase", "error_message",
)  # fmt: skip
_TEXT_COLUMNS = ("cell", "runtime", "architecture", "package_kind", "status", "start_type")


def _slim_load(run_dir: Path, lenient: bool = False) -> LoadedRun:
    loaded = load_run(run_dir, lenient=lenient)
    frame = loaded.invocations[list(USED_COLUMNS)].copy()
    for column in _TEXT_COLUMNS:
        # Categories also make the frame cheap to send back from a worker process.
        frame[column] = frame[column].astype("category")
    loaded.invocations = frame
    return loaded


def load_runs(run_dirs: list[Path], *, lenient: bool = False) -> list[LoadedRun]:
    """Several runs, parsed side by side in worker processes where the host has the cores
    (parsing JSON is most of a compare's time); only the columns the report uses."""
    import multiprocessing
    import os

    if len(run_dirs) < 2 or (os.cpu_count() or 1) < 2 or "fork" not in (
        multiprocessing.get_all_start_methods()
    ):
        return [_slim_load(Path(d), lenient) for d in run_dirs]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork")  # the parent already imported bench
    try:
        with ProcessPoolExecutor(max_workers=min(len(run_dirs), 2), mp_context=context) as pool:
            dirs = [Path(d) for d in run_dirs]
            return list(pool.map(_slim_load, dirs, [lenient] * len(dirs)))
    except (OSError, BrokenProcessPool):
        # No worker processes here (no /dev/shm, a process limit): the same, one by one.
        return [_slim_load(Path(d), lenient) for d in run_dirs]
