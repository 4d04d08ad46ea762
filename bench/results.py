"""The results directory (docs/results-format.md): writer, resume, and loader.

Records are appended and flushed one at a time so a crash (even kill -9) leaves a
readable partial run; the manifest is replaced atomically so it is never half-written.
"""

from __future__ import annotations

import gc
import json
import operator
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from bench.errors import InputError, ResultsFormatError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
INVOCATIONS = "invocations.jsonl"
EVENTS = "events.jsonl"
REPORT_LINES = "report-lines.log"

INVOCATION_KEYS: tuple[str, ...] = (
    "run", "cell", "runtime", "memory_mb", "architecture", "package_mb", "package_kind",
    "phase", "round", "seq", "request_id", "client_send_ns", "client_latency_ms", "status",
    "error_type", "duration_ms", "billed_duration_ms", "init_duration_ms",
    "restore_duration_ms", "max_memory_used_mb", "memory_size_mb", "sandbox_id",
    "sandbox_invocation", "init_to_invoke_gap_ms", "start_type", "report_sources",
    "launch_skew_ms", "queued_ms",
)
# Keys added after schema version 1 was first written: a record without them is read
# with null there (nothing was measured), any other missing key is an error.
ADDED_KEYS = ("queued_ms",)
_KEY_SET = frozenset(INVOCATION_KEYS)
_ALL_KEYS = operator.itemgetter(*INVOCATION_KEYS)
# Columns that are numbers; the others are categories (_CATEGORY_KEYS) or Python objects.
_INT_KEYS = ("memory_mb", "round", "seq", "client_send_ns")  # always present
_FLOAT_KEYS = (
    "package_mb", "client_latency_ms", "duration_ms", "billed_duration_ms",
    "init_duration_ms", "restore_duration_ms", "max_memory_used_mb", "memory_size_mb",
    "sandbox_invocation", "init_to_invoke_gap_ms", "launch_skew_ms", "queued_ms",
)
_NUMERIC_TYPES = frozenset({int, float, type(None)})  # bool is its own type: excluded
_ENUMS = {
    "phase": ("cold", "warm"),
    "status": ("success", "error", "timeout", "throttled"),
    "start_type": ("cold", "warm", "proactive", "unknown"),
}
EVENT_KINDS = ("throttle", "retry", "cell_failed", "warning", "unmatched")
RUN_STATUSES = ("running", "complete", "partial", "aborted")


def new_run_id(name: str, now: datetime | None = None, rand: str | None = None) -> str:
    """`<UTC %Y%m%dT%H%M%SZ>-<name>-<6 lowercase hex>`, e.g. 20261127T140212Z-demo-3fa9c1."""
    now = now or datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    suffix = rand if rand is not None else secrets.token_hex(3)
    return f"{now:%Y%m%dT%H%M%SZ}-{name}-{suffix}"


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _drop_partial_tail(path: Path) -> int:
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


def check_invocation(record: dict[str, Any]) -> None:
    """Raise ResultsFormatError unless `record` has exactly INVOCATION_KEYS and valid enums."""
    keys = record.keys()
    if keys != _KEY_SET:
        missing = sorted(_KEY_SET - keys)
        extra = sorted(keys - _KEY_SET)
        raise ResultsFormatError(
            f"invocation record: missing keys {missing}, unknown keys {extra} "
            "(see docs/results-format.md)"
        )
    for key, allowed in _ENUMS.items():
        if record[key] not in allowed:
            raise ResultsFormatError(
                f"invocation record: {key} is {record[key]!r}; allowed: {', '.join(allowed)}"
            )


def _dump(record: dict[str, Any], what: str) -> str:
    try:
        return json.dumps(record, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ResultsFormatError(f"{what}: not JSON-serialisable ({exc}); use null") from None


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
        path = Path(root) / run_id
        manifest = _read_manifest(path)
        status = manifest.get("status")
        if status == "complete":
            raise InputError(f"{path / MANIFEST}: run {run_id} is complete; nothing to resume")
        for name in (INVOCATIONS, EVENTS, REPORT_LINES):
            _drop_partial_tail(path / name)
        return cls(path, run_id)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        version = manifest.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ResultsFormatError(
                f"manifest: schema_version {version!r}; this writer writes {SCHEMA_VERSION}"
            )
        if manifest.get("run_id", self.run_id) != self.run_id:
            raise ResultsFormatError(
                f"manifest: run_id {manifest.get('run_id')!r} is not this run's {self.run_id}"
            )
        status = manifest.get("status", "running")
        if status not in RUN_STATUSES:
            raise ResultsFormatError(
                f"manifest: status {status!r}; allowed: {', '.join(RUN_STATUSES)}"
            )
        doc = {"schema_version": SCHEMA_VERSION, "run_id": self.run_id, **manifest}
        try:
            text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ResultsFormatError(f"manifest: not JSON-serialisable ({exc})") from None
        _atomic_write(self.path / MANIFEST, text)

    def append_invocation(self, record: dict[str, Any]) -> None:
        check_invocation(record)
        ordered = {key: record[key] for key in INVOCATION_KEYS}  # same key order on every line
        self._invocations.write(_dump(ordered, "invocation record") + "\n")
        self._invocations.flush()

    def append_event(self, kind: str, detail: str, cell: str | None = None) -> None:
        if kind not in EVENT_KINDS:
            raise ResultsFormatError(f"event: kind {kind!r}; allowed: {', '.join(EVENT_KINDS)}")
        doc = {"ts": _utc_now(), "kind": kind, "cell": cell, "detail": detail}
        self._events.write(_dump(doc, "event") + "\n")
        self._events.flush()

    def append_report_line(self, source: str, request_id: str | None, line: str) -> None:
        # One audit line per platform line: the line is the last field, so its tabs can
        # stay; newlines (the X-Ray trailer) and backslashes are escaped.
        flat = line.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        self._report_lines.write(f"{source}\t{request_id or '-'}\t{flat}\n")
        self._report_lines.flush()

    def rewrite_invocations(self, records: Iterable[dict[str, Any]]) -> int:
        """Replace invocations.jsonl atomically (after CloudWatch fields are merged in)."""
        lines = []
        for record in records:
            check_invocation(record)
            ordered = {key: record[key] for key in INVOCATION_KEYS}
            lines.append(_dump(ordered, "invocation record") + "\n")
        self._invocations.close()
        _atomic_write(self.path / INVOCATIONS, "".join(lines))
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


# -- loading ------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    path: Path
    manifest: dict[str, Any]
    invocations: pd.DataFrame
    events: list[dict[str, Any]]
    status: str
    skipped_lines: int

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id", self.path.name))


def _read_manifest(path: Path) -> dict[str, Any]:
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
        records.extend(_objects(file, chunk, len(records)))
    return records, skipped


# The checks below run over every record of runs with a million of them: the fast paths
# use C-level map() and fall back to a Python loop only to name the bad record.


def _objects(file: Path, chunk: list[Any], before: int) -> list[dict[str, Any]]:
    if not chunk or set(map(type, chunk)) == {dict}:
        return chunk
    for i, record in enumerate(chunk):
        if not isinstance(record, dict):
            raise ResultsFormatError(f"{file}: record {before + i + 1} is not a JSON object")
    return chunk


def _check_keys(file: Path, chunk: list[dict[str, Any]], before: int) -> None:
    """Name the first record whose keys are not exactly INVOCATION_KEYS."""
    for i, record in enumerate(chunk):
        if record.keys() != _KEY_SET:
            missing = sorted(_KEY_SET - record.keys())
            extra = sorted(record.keys() - _KEY_SET)
            raise ResultsFormatError(
                f"{file}: record {before + i + 1}: missing keys {missing}, unknown keys {extra}"
            )


def _with_added_keys(record: dict[str, Any]) -> dict[str, Any]:
    """A record written before ADDED_KEYS existed, with null there."""
    if all(key in record for key in ADDED_KEYS):
        return record
    return {**dict.fromkeys(ADDED_KEYS), **record}


def _load_invocations(file: Path) -> tuple[pd.DataFrame, int]:
    columns = _Columns(file)
    skipped = 0
    for chunk in _jsonl_chunks(file, required=False):
        skipped += isinstance(chunk, _PartialTail)
        columns.add(chunk)
    return columns.frame(), skipped


def invocations_frame(
    records: Iterable[dict[str, Any]], source: str = "invocations"
) -> pd.DataFrame:
    """The DataFrame `load_run` gives for these records (for writers of synthetic runs)."""
    columns = _Columns(Path(source))
    columns.add(list(records))
    return columns.frame()


_CATEGORY_KEYS = (  # few distinct values: one small integer code per record
    "run", "cell", "runtime", "architecture", "package_kind", "phase", "status",
    "error_type", "start_type",
)  # fmt: skip


class _Columns:
    """Typed columns built chunk by chunk: a million records never exist as dicts or as
    Python lists at once, only as numpy arrays and category codes."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.source = str(file)
        self.count = 0
        self.arrays: dict[str, list[Any]] = {key: [] for key in INVOCATION_KEYS}
        # An int column stays int64 only while every value in every chunk is an int.
        self.exact_int = dict.fromkeys(_INT_KEYS, True)
        self.overflow = dict.fromkeys(_INT_KEYS, False)
        self.codes: dict[str, dict[Any, int]] = {key: {None: -1} for key in _CATEGORY_KEYS}
        # Equal report_sources lists share one object: a few distinct ones per run.
        self.sources: dict[tuple[Any, ...], list[Any]] = {}

    def add(self, chunk: list[dict[str, Any]]) -> None:
        import numpy as np

        _objects(self.file, chunk, self.count)
        try:
            # Every key present (itemgetter raises otherwise) and no others: exactly the set.
            rows = list(map(_ALL_KEYS, chunk))
            if set(map(len, chunk)) - {len(_KEY_SET)}:
                raise KeyError
        except KeyError:
            chunk = [_with_added_keys(record) for record in chunk]
            _check_keys(self.file, chunk, self.count)  # raises, naming the record
            rows = list(map(_ALL_KEYS, chunk))
        self.count += len(chunk)
        if not chunk:
            return
        for key, values in zip(INVOCATION_KEYS, zip(*rows, strict=True), strict=True):
            if key in _INT_KEYS or key in _FLOAT_KEYS:
                self.arrays[key].append(self._numbers(key, values))
            elif key in _CATEGORY_KEYS:
                self.arrays[key].append(self._codes(key, values))
            else:
                kept = self._shared_lists(values) if key == "report_sources" else values
                self.arrays[key].append(np.fromiter(kept, dtype=object, count=len(kept)))

    def _numbers(self, key: str, values: Sequence[Any]) -> Any:
        import numpy as np

        types = set(map(type, values))
        if not types <= _NUMERIC_TYPES:
            raise ResultsFormatError(
                f"{self.source}: {key} holds a non-numeric value "
                f"({', '.join(sorted(t.__name__ for t in types - _NUMERIC_TYPES))})"
            )
        try:
            if key in _INT_KEYS and types <= {int}:
                try:
                    return np.array(values, dtype=np.int64)
                except OverflowError:
                    self.overflow[key] = True  # an error only if the column stays int
            elif key in _INT_KEYS:
                self.exact_int[key] = False
            # numpy turns None into NaN by itself for float64.
            return np.array(values, dtype=np.float64)
        except OverflowError:
            raise ResultsFormatError(f"{self.source}: {key} holds a number out of range") \
                from None

    def _codes(self, key: str, values: Sequence[Any]) -> Any:
        import numpy as np

        codes = self.codes[key]
        try:
            new = set(values) - codes.keys()
        except TypeError:  # a list or an object: unhashable
            raise ResultsFormatError(f"{self.source}: {key} holds a non-text value") from None
        for value in new:
            if not isinstance(value, str):
                raise ResultsFormatError(
                    f"{self.source}: {key} holds a non-text value ({type(value).__name__})"
                )
            codes[value] = len(codes) - 1  # None holds -1
        return np.fromiter(map(codes.__getitem__, values), dtype=np.int32, count=len(values))

    def _shared_lists(self, values: Sequence[Any]) -> list[Any]:
        try:
            return list(map(self.sources.setdefault, map(tuple, values), values))
        except TypeError:  # not all lists of strings: one by one
            return list(map(self._shared, values))

    def _shared(self, value: Any) -> Any:
        if type(value) is not list:
            return value
        try:
            return self.sources.setdefault(tuple(value), value)
        except TypeError:  # unhashable members: kept as they are
            return value

    def frame(self) -> pd.DataFrame:
        """Numbers as int64 (never null) or float64 (NaN for null); the low-cardinality
        strings as Categorical with sorted categories (NaN for null, groupby order as for
        plain strings); request_id, sandbox_id and report_sources as objects, None for
        null (equal report_sources lists are one shared object: copy before changing one).
        Call once: the chunks are released as the columns are joined."""
        import numpy as np
        import pandas as pd

        columns: dict[str, Any] = {}
        for key in INVOCATION_KEYS:
            parts = self.arrays[key]
            if key in _CATEGORY_KEYS:
                columns[key] = self._categorical(key, parts)
            elif key in _INT_KEYS and self.exact_int[key]:
                if self.overflow[key]:
                    raise ResultsFormatError(f"{self.source}: {key} holds a number out of range")
                columns[key] = np.concatenate(parts) if parts else np.empty(0, np.int64)
            elif key in _INT_KEYS or key in _FLOAT_KEYS:
                columns[key] = np.concatenate(parts, dtype=np.float64) if parts \
                    else np.empty(0, np.float64)
            else:
                # An explicit object Series: pandas would otherwise infer its string dtype
                # and turn None into NaN.
                values = np.concatenate(parts) if parts else np.empty(0, object)
                columns[key] = pd.Series(values, dtype=object, copy=False)
            parts.clear()
        # The arrays are fresh and ours: no need for pandas to copy them again.
        return pd.DataFrame(columns, columns=list(INVOCATION_KEYS), copy=False)

    def _categorical(self, key: str, parts: list[Any]) -> Any:
        import numpy as np
        import pandas as pd

        codes = self.codes[key]
        del codes[None]
        categories = sorted(codes)
        position = {value: i for i, value in enumerate(categories)}
        # Code in order of first sight -> position among the sorted categories; the last
        # entry keeps -1 (null) as -1.
        remap = np.full(len(categories) + 1, -1, dtype=np.int32)
        for value, code in codes.items():
            remap[code] = position[value]
        joined = np.concatenate(parts) if parts else np.empty(0, np.int32)
        return pd.Categorical.from_codes(remap[joined], categories=pd.Index(categories))


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


def load_run(path: Path) -> LoadedRun:
    """Read a run directory; a crash's trailing partial line is skipped and counted."""
    path = Path(path)
    manifest = _read_manifest(path)
    with _gc_paused():
        invocations, skipped = _load_invocations(path / INVOCATIONS)
        events, skipped_events = _read_jsonl(path / EVENTS)
    status = manifest.get("status", "running")
    if status not in RUN_STATUSES:
        raise ResultsFormatError(
            f"{path / MANIFEST}: status {status!r}; allowed: {', '.join(RUN_STATUSES)}"
        )
    return LoadedRun(
        path=path,
        manifest=manifest,
        invocations=invocations,
        events=events,
        status="partial" if status == "running" else status,
        skipped_lines=skipped + skipped_events,
    )


def iter_runs(root: Path) -> Iterator[Path]:
    """Run directories under `root` (those with a manifest), oldest run id first."""
    root = Path(root)
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if (child / MANIFEST).is_file():
            yield child
