"""The one reader of run directories: the manifest, the records, and the typed frame.

A crash's trailing partial line (a final line without its newline) is skipped and
counted; a corrupt line anywhere else is an error naming the file and line, never a
record silently lost. What no run can produce is refused (bench.results.validate).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ResultsFormatError
from bench.results.columns import Columns, check_objects
from bench.results.schema import (
    EVENTS,
    INVOCATIONS,
    MANIFEST,
    SCHEMA_VERSION,
    check_invocation,
    check_manifest_status,
    with_added_keys,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class LoadedRun:
    path: Path
    manifest: dict[str, Any]
    invocations: pd.DataFrame
    events: list[dict[str, Any]]
    status: str
    skipped_lines: int
    # Leniently read: each record left out and why (empty when read strictly).
    dropped: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id", self.path.name))


def read_manifest(path: Path) -> dict[str, Any]:
    """manifest.json of run directory `path`, checked for its schema version."""
    path = Path(path)
    file = path / MANIFEST
    if not path.is_dir():
        raise ResultsFormatError(f"{path}: not a run directory (no such directory)")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsFormatError(f"{file}: missing; not a run directory") from None
    except OSError as exc:
        raise ResultsFormatError(f"{file}: unreadable ({exc.strerror})") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ResultsFormatError(f"{file}: not valid JSON (line {_lineno(exc)})") from None
    if not isinstance(manifest, dict):
        raise ResultsFormatError(f"{file}: expected a JSON object")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsFormatError(f"{file}: schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise ResultsFormatError(
            f"{file}: schema_version {version} is newer than this coldbench supports "
            f"({SCHEMA_VERSION}); upgrade coldbench"
        )
    if version < SCHEMA_VERSION:
        raise ResultsFormatError(
            f"{file}: schema_version {version} is older than this coldbench supports "
            f"({SCHEMA_VERSION}); re-run with the matching coldbench version"
        )
    return manifest


def _lineno(exc: ValueError) -> int | str:
    return getattr(exc, "lineno", "?")


_CHUNK_BYTES = 4 << 20  # big enough to amortise each parse, small enough to stay in cache


def _jsonl_chunks(file: Path, *, required: bool) -> Iterator[list[Any]]:
    """Parsed records of a JSONL file, read and parsed a few MB at a time.

    One parse of a chunk as a JSON array is much faster than a loads per line, and orjson
    builds the records about twice as fast as the stdlib. Only a chunk that fails is re-read
    line by line with the stdlib, to name the bad line or skip the trailing partial one, a
    final line without its newline (the chunk is then a `_PartialTail`); the stdlib also
    reads what orjson refuses but older files may hold (NaN, integers beyond 64 bits).
    """
    from orjson import loads

    try:
        handle = file.open("rb")
    except FileNotFoundError:
        if required:
            raise ResultsFormatError(f"{file}: missing") from None
        return
    with handle:
        carry, lineno = b"", 1
        while True:
            block = handle.read(_CHUNK_BYTES)
            data = carry + block
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # a line longer than a block: read on
                    carry = data
                    continue
                chunk, carry = data[:cut], data[cut:]
            else:
                chunk, carry = data, b""
            body = chunk.strip()
            if body:
                try:
                    records = loads(b"[" + body.replace(b"\n", b",") + b"]")
                except (ValueError, RecursionError):
                    unterminated = not block and not chunk.endswith(b"\n")
                    records = _parse_lines(file, chunk, lineno, partial_tail=unterminated)
                yield records
            lineno += chunk.count(b"\n")
            if not block:
                return


class _PartialTail(list[Any]):
    """The records of a final chunk whose last line was a crash's partial write."""


def _parse_lines(
    file: Path, chunk: bytes, first_lineno: int, *, partial_tail: bool
) -> list[Any]:
    numbered = [
        (first_lineno + i, line) for i, line in enumerate(chunk.split(b"\n")) if line.strip()
    ]
    records: list[Any] = []
    for i, (lineno, line) in enumerate(numbered):
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):
            if partial_tail and i == len(numbered) - 1:
                return _PartialTail(records)  # a crash mid-write: ignored, and counted
            raise ResultsFormatError(
                f"{file}:{lineno}: not valid JSON (a corrupt record, not a partial tail)"
            ) from None
    return records


def _read_jsonl(file: Path, *, required: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Every record of a small JSONL file and the number of skipped partial lines."""
    records: list[dict[str, Any]] = []
    skipped = 0
    for chunk in _jsonl_chunks(file, required=required):
        skipped += isinstance(chunk, _PartialTail)
        records.extend(check_objects(file, chunk, len(records)))
    return records, skipped


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of new objects trigger the cycle collector again and again, and each full
    pass walks every column list built so far; none of them can form a cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_run(path: Path, *, lenient: bool = False) -> LoadedRun:
    """Read and check a run directory; a crash's trailing partial line is skipped and
    counted. Records no run can produce are an error, or with `lenient` left out and
    listed in `dropped`."""
    from bench.results import validate

    path = Path(path)
    manifest = read_manifest(path)
    status = manifest.get("status", "running")
    check_manifest_status(status, str(path / MANIFEST))
    file = path / INVOCATIONS
    columns = Columns(file)
    skipped = 0
    with _gc_paused():
        for chunk in _jsonl_chunks(file, required=False):
            skipped += isinstance(chunk, _PartialTail)
            columns.add(chunk)
        invocations = columns.frame()
        events, skipped_events = _read_jsonl(path / EVENTS)
    found = validate.find_problems(
        invocations, str(manifest.get("run_id", path.name)), columns.non_finite
    )
    empty = validate.empty_run_problem(manifest, len(invocations), file.exists())
    if empty:
        found.about_file.append(empty)
    invocations, dropped = validate.apply(invocations, found, file, lenient=lenient)
    return LoadedRun(
        path=path,
        manifest=manifest,
        invocations=invocations,
        events=events,
        status="partial" if status == "running" else status,
        skipped_lines=skipped + skipped_events,
        dropped=dropped,
    )


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every record of run directory `path` as written, and how many partial trailing
    lines a crash left (0 or 1). A corrupt line in the middle is an error naming it."""
    file = Path(path) / INVOCATIONS
    records: list[dict[str, Any]] = []
    skipped = 0
    for chunk in _jsonl_chunks(file, required=True):
        skipped += isinstance(chunk, _PartialTail)
        for written in check_objects(file, chunk, len(records)):
            record = with_added_keys(written)
            try:
                check_invocation(record)
            except ResultsFormatError as exc:
                where = f"{file}: record {len(records) + 1}"
                raise ResultsFormatError(f"{where}: {str(exc).split(': ', 1)[1]}") from None
            records.append(record)
    return records, skipped


def iter_runs(root: Path) -> Iterator[Path]:
    """Run directories under `root` (those with a manifest), oldest run id first."""
    root = Path(root)
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if (child / MANIFEST).is_file():
            yield child
