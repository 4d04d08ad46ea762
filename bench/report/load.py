"""Read one results directory (docs/results-format.md) for the report, compare and history.

Only the columns the statistics use are kept, parsed line by line: a million records load
in seconds and well under the memory a full DataFrame of every key would take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ResultsFormatError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
STATUSES = ("running", "complete", "partial", "aborted")
COLUMNS = (
    "cell", "runtime", "memory_mb", "architecture", "package_mb", "package_kind", "phase",
    "status", "start_type", "client_latency_ms", "duration_ms", "billed_duration_ms",
    "init_duration_ms", "max_memory_used_mb", "memory_size_mb",
)  # fmt: skip
REQUIRED = ("cell", "runtime", "memory_mb", "architecture", "package_mb", "package_kind",
            "status", "start_type")  # fmt: skip
CATEGORIES = ("cell", "runtime", "architecture", "package_kind", "phase", "status", "start_type")
NUMBERS = ("memory_mb", "package_mb", "client_latency_ms", "duration_ms", "billed_duration_ms",
           "init_duration_ms", "max_memory_used_mb", "memory_size_mb")  # fmt: skip


@dataclass
class LoadedRun:
    manifest: dict[str, Any]
    invocations: pd.DataFrame
    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "complete"  # `running` already read as `partial`
    skipped_lines: int = 0

    @property
    def run_id(self) -> str:
        return str(self.manifest["run_id"])

    @property
    def matrix_name(self) -> str:
        return str(self.manifest.get("matrix_name") or self.manifest["matrix"].get("name", "?"))


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        raise ResultsFormatError(f"{run_dir}: not a run directory (see docs/results-format.md)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFormatError(f"{path}: missing; is {run_dir} a run directory?") from None
    except (OSError, ValueError) as exc:
        raise ResultsFormatError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsFormatError(f"{path}: expected a JSON object at the top level")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsFormatError(
            f"{path}: schema_version {version!r} is not supported; this tool reads {SCHEMA_VERSION}"
        )
    for key in ("run_id", "target", "status", "started"):
        if key not in data:
            raise ResultsFormatError(f"{path}: field {key} is missing")
    if data["status"] not in STATUSES:
        raise ResultsFormatError(f"{path}: status {data['status']!r}: use one of {STATUSES}")
    if not isinstance(data["target"], dict) or "kind" not in data["target"]:
        raise ResultsFormatError(f"{path}: target.kind is missing")
    if not data.get("matrix_name") and not (data.get("matrix") or {}).get("name"):
        raise ResultsFormatError(f"{path}: matrix_name is missing")
    return data


def _jsonl(path: Path) -> tuple[list[bytes], int]:
    """Complete lines of a JSONL file and whether a trailing partial line was dropped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ResultsFormatError(f"{path}: missing (an empty file is fine)") from None
    lines = raw.split(b"\n")
    partial = lines.pop()  # after the last newline: empty, or a record cut off by a crash
    return lines, int(bool(partial.strip()))


def _read_invocations(path: Path) -> tuple[pd.DataFrame, int]:
    import pandas as pd

    lines, skipped = _jsonl(path)
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    appenders = [(c, out[c].append) for c in COLUMNS]
    loads = json.loads
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except ValueError:
            raise ResultsFormatError(f"{path}:{number}: not a JSON object") from None
        if not isinstance(record, dict):
            raise ResultsFormatError(f"{path}:{number}: not a JSON object")
        for column, append in appenders:
            append(record.get(column))
        missing = [k for k in REQUIRED if record.get(k) is None]
        if missing:
            raise ResultsFormatError(f"{path}:{number}: field {missing[0]} is missing or null")
    frame = pd.DataFrame(out)
    for column in CATEGORIES:
        frame[column] = frame[column].astype("category")
    for column in NUMBERS:
        try:
            frame[column] = pd.to_numeric(frame[column]).astype(float)
        except (TypeError, ValueError):
            raise ResultsFormatError(f"{path}: field {column} has a non-number value") from None
    return frame, skipped


def _read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    lines, skipped = _jsonl(path)
    events = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                raise ResultsFormatError(f"{path}:{number}: not a JSON object") from None
    return events, skipped


def load_run(run_dir: Path) -> LoadedRun:
    """Manifest, invocations (one row per record), events; `running` reads as `partial`."""
    run_dir = Path(run_dir)
    manifest = _read_manifest(run_dir)
    invocations, skipped = _read_invocations(run_dir / "invocations.jsonl")
    events, skipped_events = _read_events(run_dir / "events.jsonl")
    status = "partial" if manifest["status"] == "running" else str(manifest["status"])
    return LoadedRun(manifest, invocations, events, status, skipped + skipped_events)
