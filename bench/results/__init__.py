"""The results directory (docs/results-format.md): the schema, its one writer and its one
reader. Import from here; the submodules are the schema (`schema`), the writer
(`writer`), the reader (`reader`), the column builder (`columns`) and what readers
refuse (`validate`)."""

from __future__ import annotations

from bench.results.columns import invocations_frame
from bench.results.reader import LoadedRun, iter_runs, load_run, read_manifest, read_records
from bench.results.schema import (
    CELL_FIELDS,
    CELL_STATUSES,
    EVENT_KINDS,
    EVENTS,
    INVOCATION_KEYS,
    INVOCATIONS,
    MANIFEST,
    PHASES,
    RECORD_ENUMS,
    REPORT_FIELDS,
    REPORT_LINES,
    REPORT_SOURCES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    START_TYPES,
    STATUSES,
    InvocationRecord,
    Manifest,
    check_invocation,
    new_manifest,
    new_run_id,
    parse_timestamp,
    utc_timestamp,
)
from bench.results.writer import RunWriter

__all__ = [
    "CELL_FIELDS", "CELL_STATUSES", "EVENTS", "EVENT_KINDS", "INVOCATIONS", "INVOCATION_KEYS",
    "MANIFEST", "PHASES", "RECORD_ENUMS", "REPORT_FIELDS", "REPORT_LINES", "REPORT_SOURCES",
    "RUN_STATUSES", "SCHEMA_VERSION", "START_TYPES", "STATUSES", "InvocationRecord",
    "LoadedRun", "Manifest", "RunWriter", "check_invocation", "invocations_frame",
    "iter_runs", "load_run", "new_manifest", "new_run_id", "parse_timestamp",
    "read_manifest", "read_records", "utc_timestamp",
]  # fmt: skip
