"""The results format (docs/results-format.md) as code: version, file names, the invocation
record and the manifest, their enums, and how timestamps and run ids are spelled.

Every module that builds, writes or reads a record or a manifest takes its keys and
allowed values from here; nothing else spells them out.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from bench.errors import ResultsFormatError
from bench.lambda_limits import MEMORY_MAX_MB, MEMORY_MIN_MB

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
INVOCATIONS = "invocations.jsonl"
EVENTS = "events.jsonl"
REPORT_LINES = "report-lines.log"

# -- enums ---------------------------------------------------------------------------------
# probe: a keep-alive probe burst; user and ping: the warm-up experiment's traffic and pings.
PHASES = ("cold", "warm", "production", "probe", "user", "ping")
STATUSES = ("success", "error", "timeout", "throttled")
# provisioned: the first invocation of an environment that provisioned concurrency
# initialised ahead (no Init Duration); restored: a SnapStart restore (Restore Duration).
START_TYPES = ("cold", "warm", "proactive", "provisioned", "restored", "unknown")
SNAPSTART = ("off", "on")
REPORT_SOURCES = ("tail", "cloudwatch")
EVENT_KINDS = ("throttle", "retry", "cell_failed", "warning", "unmatched", "malformed")
RUN_STATUSES = ("running", "complete", "partial", "aborted")
CELL_STATUSES = ("pending", "complete", "failed")
RECORD_ENUMS: dict[str, tuple[str, ...]] = {
    "phase": PHASES,
    "status": STATUSES,
    "start_type": START_TYPES,
}

# -- the invocation record -----------------------------------------------------------------
# The fields a REPORT line fills, in record order.
REPORT_FIELDS = (
    "duration_ms",
    "billed_duration_ms",
    "init_duration_ms",
    "restore_duration_ms",
    "max_memory_used_mb",
    "memory_size_mb",
)
CELL_FIELDS = ("runtime", "memory_mb", "architecture", "package_mb", "package_kind")
INVOCATION_KEYS: tuple[str, ...] = (
    "run", "cell", *CELL_FIELDS,
    "phase", "round", "seq", "request_id", "client_send_ns", "client_latency_ms", "status",
    "error_type", *REPORT_FIELDS, "sandbox_id",
    "sandbox_invocation", "init_to_invoke_gap_ms", "start_type", "report_sources",
    "launch_skew_ms", "queued_ms", "contention", "provisioned", "snapstart",
    "function", "event", "invoke_via", "error_message", "error_phase", "response_excerpt",
    "region", "driver_skew_ms", "idle_s", "probe_burst",
)  # fmt: skip
INVOCATION_KEY_SET = frozenset(INVOCATION_KEYS)
# Keys added after schema version 1 was first written: a record without them is read
# with null there (nothing was measured), any other missing key is an error.
ADDED_KEYS = (
    "queued_ms", "contention", "provisioned", "snapstart",
    "function", "event", "invoke_via", "error_message", "error_phase", "response_excerpt",
    "region", "driver_skew_ms", "idle_s", "probe_burst",
)  # fmt: skip
INVOKE_VIA = ("sdk", "url")
ERROR_PHASES = ("init", "invoke")
# How the loader types each column: integers never null, floats (NaN for null), and the
# few-valued text columns as categories; the rest stay Python objects.
INT_KEYS = ("memory_mb", "round", "seq", "client_send_ns")
FLOAT_KEYS = (
    "package_mb", "client_latency_ms", *REPORT_FIELDS,
    "sandbox_invocation", "init_to_invoke_gap_ms", "launch_skew_ms", "queued_ms",
    "provisioned", "driver_skew_ms", "idle_s", "probe_burst",
)  # fmt: skip
CATEGORY_KEYS = (
    "run", "cell", "runtime", "architecture", "package_kind", "phase", "status",
    "error_type", "start_type", "snapstart", "function", "invoke_via", "error_phase",
    "region",
)  # fmt: skip
# Figures no run can produce below zero (readers refuse them, docs/results-format.md).
NON_NEGATIVE_KEYS = (
    "client_latency_ms", *REPORT_FIELDS, "launch_skew_ms", "queued_ms", "provisioned",
    "driver_skew_ms",
)  # fmt: skip
# Lambda's memory range; a memory figure outside it was not measured on Lambda's terms.
LAMBDA_MEMORY_MB = (MEMORY_MIN_MB, MEMORY_MAX_MB)
MEMORY_KEYS = ("memory_mb", "memory_size_mb")


class InvocationRecord(TypedDict):
    """One line of invocations.jsonl; None where a value was not measured."""

    run: str
    cell: str
    runtime: str
    memory_mb: int
    architecture: str
    package_mb: float
    package_kind: str
    phase: str
    round: int
    seq: int
    request_id: str | None
    client_send_ns: int
    client_latency_ms: float
    status: str
    error_type: str | None
    duration_ms: float | None
    billed_duration_ms: float | None
    init_duration_ms: float | None
    restore_duration_ms: float | None
    max_memory_used_mb: float | None
    memory_size_mb: float | None
    sandbox_id: str | None
    sandbox_invocation: int | None
    init_to_invoke_gap_ms: float | None
    start_type: str
    report_sources: list[str]
    launch_skew_ms: float | None
    queued_ms: float | None
    contention: list[str] | None  # reason codes of bench.emulator.hostload; [] none
    provisioned: int | None  # the cell's provisioned concurrency (0: on demand)
    snapstart: str | None  # the cell's SnapStart: "off" or "on"
    function: str | None  # the user's function (functions:); None for a fixture
    event: str | None  # the event file sent as the payload; None: the bench event
    invoke_via: str | None  # INVOKE_VIA; None in records written before it existed
    error_message: str | None
    error_phase: str | None  # ERROR_PHASES; None when the invocation did not fail
    response_excerpt: str | None  # a user's function's answer, first 512 characters
    region: str | None  # where the function ran; null in runs older than the field
    # driver: lambda only: how far this invocation's driver started from the planned time
    driver_skew_ms: float | None
    idle_s: float | None  # keep-alive probes: the gap; null elsewhere
    probe_burst: int | None  # keep-alive probes: 1 warming, 2 after the gap


def with_added_keys(record: dict[str, Any]) -> dict[str, Any]:
    """A record written before ADDED_KEYS existed, with null there."""
    if all(key in record for key in ADDED_KEYS):
        return record
    return {**dict.fromkeys(ADDED_KEYS), **record}


def check_invocation(record: dict[str, Any] | InvocationRecord) -> None:
    """Raise ResultsFormatError unless `record` has exactly INVOCATION_KEYS and valid enums."""
    keys = record.keys()
    if keys != INVOCATION_KEY_SET:
        missing = sorted(INVOCATION_KEY_SET - keys)
        extra = sorted(keys - INVOCATION_KEY_SET)
        raise ResultsFormatError(
            f"invocation record: missing keys {missing}, unknown keys {extra} "
            "(see docs/results-format.md)"
        )
    for key, allowed in RECORD_ENUMS.items():
        value = record[key]  # type: ignore[literal-required]
        if value not in allowed:
            raise ResultsFormatError(
                f"invocation record: {key} is {value!r}; allowed: {', '.join(allowed)}"
            )


# -- the manifest --------------------------------------------------------------------------


class ArtifactEntry(TypedDict):
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    built_for: str | None
    # What pip/npm installed, per distribution: {"version": ..., "wheel": tags} (python).
    requirements_resolved: NotRequired[dict[str, dict[str, str]] | None]


class CellEntry(TypedDict, total=False):
    runtime: str
    memory_mb: int
    architecture: str
    package_mb: float
    package_kind: str
    region: str
    function_name: str
    artifact: ArtifactEntry
    status: str  # CELL_STATUSES
    error: str | None
    quality: dict[str, Any]  # bench.quality.verdict
    function: str | None  # the user's function (functions:); None for a fixture
    errors: dict[str, Any]  # bench.recording.error_counts


class Manifest(TypedDict, total=False):
    """manifest.json; readers need only run_id, started, target.kind and matrix_name."""

    schema_version: int
    run_id: str
    tool: dict[str, str]
    matrix: dict[str, Any]
    matrix_name: str
    target: dict[str, Any]
    started: str
    finished: str | None
    status: str  # RUN_STATUSES
    cells: dict[str, CellEntry]
    completeness: dict[str, Any] | None
    start_types: dict[str, int] | None
    cost: dict[str, Any]
    production: dict[str, Any]  # `bench analyze` runs only (docs/results-format.md)
    # How the bursts got their concurrency (bench.concurrency.ConcurrencyPlan).
    concurrency: dict[str, Any]
    # What each `from:` function's original was (bench.clone), by function name.
    clones: dict[str, dict[str, Any]]


def new_manifest(
    *,
    run_id: str,
    tool_version: str,
    matrix: dict[str, Any],
    target: dict[str, Any],
    started: str,
    cost: dict[str, Any],
) -> Manifest:
    """The manifest of a run that has just started: every key, nothing measured yet."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "tool": {"name": "coldbench", "version": tool_version},
        "matrix": matrix,
        "matrix_name": str(matrix.get("name", "")),
        "target": target,
        "started": started,
        "finished": None,
        "status": "running",
        "cells": {},
        "completeness": None,
        "start_types": None,
        "cost": cost,
    }


def check_manifest_status(status: Any, where: str) -> None:
    if status not in RUN_STATUSES:
        raise ResultsFormatError(f"{where}: status {status!r}; allowed: {', '.join(RUN_STATUSES)}")


# -- time and names ------------------------------------------------------------------------
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # manifest started/finished, event ts
RUN_ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def utc_timestamp(when: datetime | None = None) -> str:
    """`2026-11-27T14:02:12.123456Z`: how the results format spells an instant."""
    when = when or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The instant `utc_timestamp` wrote (also accepts other ISO 8601 spellings)."""
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def new_run_id(name: str, now: datetime | None = None, rand: str | None = None) -> str:
    """`<UTC %Y%m%dT%H%M%SZ>-<name>-<6 lowercase hex>`, e.g. 20261127T140212Z-demo-3fa9c1."""
    now = now or datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    suffix = rand if rand is not None else secrets.token_hex(3)
    return f"{now.strftime(RUN_ID_TIME_FORMAT)}-{name}-{suffix}"
