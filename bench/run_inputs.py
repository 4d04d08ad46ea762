"""What a run starts from, checked before any target is opened: its options, its matrix
(a file, or the manifest of the run it resumes), the run it resumes, and the packages of
its cells."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import InputError, ResultsFormatError
from bench.matrix import Cell, Matrix, load_matrix, parse_matrix
from bench.recording import Prior
from bench.results import read_manifest, read_records
from bench.target import build_platform


@dataclass
class RunOptions:
    matrix_path: Path | None  # None with --resume: the run's manifest holds its matrix
    results_root: Path = Path("results")
    reports_root: Path = Path("reports")
    keep: bool = False
    accept_cost: bool = False
    resume: str | None = None
    logs_timeout_s: float | None = None
    strategy: str | None = None
    stage: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    started: float = field(default_factory=time.monotonic)  # elapsed time in progress lines


def matrix_source(options: RunOptions) -> str:
    """What error messages call the matrix: its file, or the manifest it came from."""
    if options.matrix_path is not None:
        return str(options.matrix_path)
    return str(options.results_root / str(options.resume) / "manifest.json")


def load_run_matrix(options: RunOptions) -> Matrix:
    source = matrix_source(options)
    if options.matrix_path is not None:
        matrix = load_matrix(options.matrix_path)
    elif options.resume:
        matrix = parse_matrix(_resumed_manifest(options).get("matrix"), source)
    else:
        raise InputError("bench run: give the matrix file, or --resume RUN_ID")
    if options.strategy is not None:
        if options.strategy not in ("burst", "sequential"):
            raise InputError(f"--strategy {options.strategy!r}: expected burst or sequential")
        data = matrix.model_dump(mode="json")
        data["strategy"] = options.strategy
        matrix = parse_matrix(data, source)
    return matrix


def _resumed_manifest(options: RunOptions) -> dict[str, Any]:
    try:
        return dict(read_manifest(options.results_root / str(options.resume)))
    except ResultsFormatError as exc:
        raise InputError(f"--resume {options.resume}: {exc}; nothing was changed") from None


def load_prior(options: RunOptions, matrix: Matrix) -> Prior:
    """The run to resume, read before anything changes: a corrupt record in the middle
    of its invocations.jsonl stops the resume and leaves the file as it is."""
    run_dir = options.results_root / str(options.resume)
    try:
        manifest = read_manifest(run_dir)
        records, _partial_tail = read_records(run_dir)
    except ResultsFormatError as exc:
        raise InputError(f"--resume {options.resume}: {exc}; nothing was changed") from None
    if manifest.get("matrix") != matrix.model_dump(mode="json"):
        raise InputError(
            f"--resume {options.resume}: {matrix_source(options)} is not the matrix that run used; "
            "resume with the same file"
        )
    if manifest.get("status") == "complete":
        raise InputError(f"--resume {options.resume}: that run is already complete")
    return Prior(dict(manifest), records)


def build_artifacts(matrix: Matrix, cells: list[Cell]) -> dict[str, Any]:
    """One package per distinct code (memory never changes the zip), checked against
    Lambda's size limits before anything is created. Requirements are installed for what
    the target really runs (see `build_platform`)."""
    from bench.fixtures import build_cell, check_limits

    build_for = build_platform(matrix.target)
    by_code: dict[Any, Any] = {}
    artifacts = {}
    for cell in cells:
        if cell.code_key not in by_code:
            by_code[cell.code_key] = build_cell(matrix, cell, build_for=build_for)
        artifacts[cell.id] = by_code[cell.code_key]
    bucket = getattr(matrix.target, "artifact_bucket", None)
    check_limits(artifacts, bucket)
    return artifacts
