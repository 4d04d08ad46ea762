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


def load_run(run_dir: Path) -> LoadedRun:
    """The run as bench.results reads it, after checking the fields every page shows."""
    loaded = _load_run(Path(run_dir))
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
