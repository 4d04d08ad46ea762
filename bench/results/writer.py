"""The one writer of a run directory.

Records are appended and flushed one at a time so a crash (even kill -9) leaves a
readable partial run; the manifest is replaced atomically so it is never half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from bench.errors import InputError, ResultsFormatError
from bench.results.schema import (
    EVENT_KINDS,
    EVENTS,
    INVOCATION_KEYS,
    INVOCATIONS,
    MANIFEST,
    REPORT_LINES,
    SCHEMA_VERSION,
    InvocationRecord,
    check_invocation,
    check_manifest_status,
    utc_timestamp,
)


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a results file is read by the group as any other
        # file this user writes (a teammate on a shared runner, a CI artifact step).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def drop_partial_tail(path: Path) -> int:
    """Cut a trailing line without its newline (a crash mid-write); return bytes cut.

    Appending after such a fragment would glue the next record onto it and turn a
    harmless partial tail into a corrupt line in the middle of the file.
    """
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        pos = size
        while pos > 0:
            step = min(65536, pos)
            handle.seek(pos - step)
            chunk = handle.read(step)
            newline = chunk.rfind(b"\n")
            if newline != -1:
                keep = pos - step + newline + 1
                break
            pos -= step
        else:
            keep = 0
        handle.truncate(keep)
        return size - keep


def _dump(record: dict[str, Any], what: str) -> str:
    try:
        return json.dumps(record, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ResultsFormatError(f"{what}: not JSON-serialisable ({exc}); use null") from None


def _invocation_line(record: dict[str, Any] | InvocationRecord) -> str:
    check_invocation(record)
    ordered = {key: record[key] for key in INVOCATION_KEYS}  # type: ignore[literal-required]
    return _dump(ordered, "invocation record") + "\n"  # same key order on every line


def _audit_line(source: str, request_id: str | None, line: str) -> str:
    # One audit line per platform line: the line is the last field, so its tabs can
    # stay; newlines (the X-Ray trailer) and backslashes are escaped.
    flat = line.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return f"{source}\t{request_id or '-'}\t{flat}\n"


class RunWriter:
    """Writes one run directory. Use `create` for a new run, `open_existing` to resume."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._invocations: IO[str] = (path / INVOCATIONS).open("a", encoding="utf-8")
        self._events: IO[str] = (path / EVENTS).open("a", encoding="utf-8")
        self._report_lines: IO[str] = (path / REPORT_LINES).open("a", encoding="utf-8")

    @classmethod
    def create(cls, root: Path, run_id: str) -> RunWriter:
        path = Path(root) / run_id
        if path.exists():
            raise InputError(f"{path}: already exists; a run directory is never overwritten")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise InputError(f"{path}: already exists; a run directory is never overwritten") \
                from None
        return cls(path, run_id)

    @classmethod
    def open_existing(cls, root: Path, run_id: str) -> RunWriter:
        """Reopen a partial run for --resume; a complete run is refused."""
        from bench.results.reader import read_manifest

        path = Path(root) / run_id
        manifest = read_manifest(path)
        if manifest.get("status") == "complete":
            raise InputError(f"{path / MANIFEST}: run {run_id} is complete; nothing to resume")
        for name in (INVOCATIONS, EVENTS, REPORT_LINES):
            drop_partial_tail(path / name)
        return cls(path, run_id)

    def write_manifest(self, manifest: dict[str, Any] | Any) -> None:
        version = manifest.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ResultsFormatError(
                f"manifest: schema_version {version!r}; this writer writes {SCHEMA_VERSION}"
            )
        if manifest.get("run_id", self.run_id) != self.run_id:
            raise ResultsFormatError(
                f"manifest: run_id {manifest.get('run_id')!r} is not this run's {self.run_id}"
            )
        check_manifest_status(manifest.get("status", "running"), "manifest")
        doc = {"schema_version": SCHEMA_VERSION, "run_id": self.run_id, **manifest}
        try:
            text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ResultsFormatError(f"manifest: not JSON-serialisable ({exc})") from None
        atomic_write(self.path / MANIFEST, text)

    def append_invocation(self, record: dict[str, Any] | InvocationRecord) -> None:
        self._invocations.write(_invocation_line(record))
        self._invocations.flush()

    def append_invocations(self, records: Iterable[dict[str, Any] | InvocationRecord]) -> None:
        """Many records, flushed once (for writers of whole runs at a time)."""
        self._invocations.writelines(map(_invocation_line, records))
        self._invocations.flush()

    def append_event(
        self, kind: str, detail: str, cell: str | None = None, ts: str | None = None
    ) -> None:
        if kind not in EVENT_KINDS:
            raise ResultsFormatError(f"event: kind {kind!r}; allowed: {', '.join(EVENT_KINDS)}")
        doc = {"ts": ts or utc_timestamp(), "kind": kind, "cell": cell, "detail": detail}
        self._events.write(_dump(doc, "event") + "\n")
        self._events.flush()

    def append_report_line(self, source: str, request_id: str | None, line: str) -> None:
        self._report_lines.write(_audit_line(source, request_id, line))
        self._report_lines.flush()

    def append_report_lines(self, lines: Iterable[tuple[str, str | None, str]]) -> None:
        """Many (source, request id, line) audit lines, flushed once."""
        self._report_lines.writelines(_audit_line(*item) for item in lines)
        self._report_lines.flush()

    def rewrite_invocations(self, records: Iterable[dict[str, Any] | InvocationRecord]) -> int:
        """Replace invocations.jsonl atomically (after CloudWatch fields are merged in)."""
        lines = [_invocation_line(record) for record in records]
        self._invocations.close()
        atomic_write(self.path / INVOCATIONS, "".join(lines))
        self._invocations = (self.path / INVOCATIONS).open("a", encoding="utf-8")
        return len(lines)

    def close(self) -> None:
        for handle in (self._invocations, self._events, self._report_lines):
            handle.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
