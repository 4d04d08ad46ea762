"""Lambda platform log lines (text and JSON format) and log tails; their collection from
CloudWatch is bench.cloudwatch.

The parser is total: any string gives a PlatformRecord or None, never an exception, and
a field that is missing or malformed is None rather than a guess. Real logs have stray
spaces instead of tabs, optional trailing fields, an X-Ray trailer on a second line, and
JSON records whose optional keys are simply absent on warm starts.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

Kind = Literal[
    "report", "start", "end", "init_start", "init_report", "timeout", "restore_start",
    "restore_report",
]


@dataclass(frozen=True)
class PlatformRecord:
    kind: Kind
    request_id: str | None = None
    duration_ms: float | None = None
    billed_duration_ms: int | None = None
    memory_size_mb: int | None = None
    max_memory_used_mb: int | None = None
    init_duration_ms: float | None = None
    restore_duration_ms: float | None = None
    billed_restore_duration_ms: int | None = None
    status: str | None = None
    error_type: str | None = None
    xray_trace_id: str | None = None
    runtime_version: str | None = None
    phase: str | None = None
    version: str | None = None


# Labels of `Label: value` pairs, longest first so "Billed Duration" wins over "Duration".
_LABELS = (
    "Billed Restore Duration", "Restore Duration", "Billed Duration", "Init Duration",
    "Max Memory Used", "Memory Size", "Duration", "Status", "Error Type", "Phase",
    "RequestId", "Version", "Runtime Version ARN", "Runtime Version", "TraceId", "SegmentId",
    "Sampled",
)
_LABEL_RE = re.compile(
    r"(?<!\S)(" + "|".join(re.escape(label) for label in _LABELS) + r"):(?=\s|$)"
)
_NUMBER_RE = re.compile(r"(\d+(?:\.\d+)?)(?:\s*(ms|MB))?", re.ASCII)
_INT_RE = re.compile(r"(\d+)(?:\s*(ms|MB))?", re.ASCII)
_PREFIX_RE = re.compile(
    r"(REPORT|START|END|INIT_START|INIT_REPORT|RESTORE_START|RESTORE_REPORT)\s", re.ASCII
)
_KINDS: dict[str, Kind] = {
    "REPORT": "report",
    "START": "start",
    "END": "end",
    "INIT_START": "init_start",
    "INIT_REPORT": "init_report",
    "RESTORE_START": "restore_start",
    "RESTORE_REPORT": "restore_report",
}
# Old format: "<timestamp> <request id> Task timed out after 18.02 seconds";
# newer: "RequestId: <request id> Error: Task timed out after 30.00 seconds".
_TIMEOUT_RE = re.compile(
    r"^(?:RequestId:\s*(?P<rid1>\S+)\s+Error:|(?:\S+\s+)?(?P<rid2>[0-9A-Fa-f-]{36}))"
    r"\s+Task timed out after\s+(?P<secs>\d+(?:\.\d+)?)\s+seconds\s*$",
    re.ASCII,
)
_MAX_TEXT = 64 * 1024  # a platform line is short; longer messages are function output


def _fields(text: str) -> dict[str, str]:
    """`Label: value` pairs; a value runs up to the next known label."""
    found: dict[str, str] = {}
    matches = list(_LABEL_RE.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        found.setdefault(match.group(1), text[match.end() : end].strip())
    return found


def _float(value: str | None, unit: str) -> float | None:
    if value is None:
        return None
    match = _NUMBER_RE.fullmatch(value)
    if match is None or (match.group(2) is not None and match.group(2) != unit):
        return None
    return float(match.group(1))


def _int(value: str | None, unit: str) -> int | None:
    if value is None:
        return None
    match = _INT_RE.fullmatch(value)
    if match is None or (match.group(2) is not None and match.group(2) != unit):
        return None
    return int(match.group(1))


def _word(value: str | None) -> str | None:
    """The first whitespace-separated token of a value, or None when empty."""
    if not value:
        return None
    return value.split()[0]


def _parse_text(message: str) -> PlatformRecord | None:
    text = message.strip()
    prefix = _PREFIX_RE.match(text)
    if prefix is None:
        return _parse_timeout(text)
    kind = _KINDS[prefix.group(1)]
    # A REPORT event may carry the X-Ray trailer on its own second line.
    first, _, rest = text.partition("\n")
    f = _fields(first)
    trace = next(
        (_fields(line).get("TraceId") for line in rest.splitlines()
         if line.startswith("XRAY TraceId:")),
        None,
    )
    if kind in ("report", "start", "end") and "RequestId" not in f:
        return None  # "REPORT something" written by a function, not the platform
    return PlatformRecord(
        kind=kind,
        request_id=_word(f.get("RequestId")),
        duration_ms=_float(f.get("Duration"), "ms"),
        billed_duration_ms=_int(f.get("Billed Duration"), "ms"),
        memory_size_mb=_int(f.get("Memory Size"), "MB"),
        max_memory_used_mb=_int(f.get("Max Memory Used"), "MB"),
        init_duration_ms=_float(f.get("Init Duration"), "ms"),
        restore_duration_ms=_float(f.get("Restore Duration"), "ms"),
        billed_restore_duration_ms=_int(f.get("Billed Restore Duration"), "ms"),
        status=_word(f.get("Status")),
        error_type=_word(f.get("Error Type")),
        xray_trace_id=_word(trace),
        runtime_version=_word(f.get("Runtime Version")),
        phase=_word(f.get("Phase")),
        version=_word(f.get("Version")),
    )


def _parse_timeout(text: str) -> PlatformRecord | None:
    match = _TIMEOUT_RE.match(text)
    if match is None:
        return None
    return PlatformRecord(
        kind="timeout",
        request_id=match.group("rid1") or match.group("rid2"),
        duration_ms=round(float(match.group("secs")) * 1000.0, 3),
        status="timeout",
    )


def _j_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _j_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _j_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _j_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_JSON_KINDS: dict[str, Kind] = {
    "platform.report": "report",
    "platform.start": "start",
    "platform.runtimeDone": "end",
    "platform.initStart": "init_start",
    "platform.initReport": "init_report",
    "platform.restoreStart": "restore_start",
    "platform.restoreReport": "restore_report",
}


def _parse_json(message: str) -> PlatformRecord | None:
    try:
        doc = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    kind_name = doc.get("type")
    kind = _JSON_KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        return None  # function output in JSON format, or a type we do not use
    record = _j_dict(doc.get("record"))
    metrics = _j_dict(record.get("metrics"))
    tracing = _j_dict(record.get("tracing"))
    # In INIT_REPORT and RESTORE_REPORT records, durationMs is the phase's own duration.
    phase_ms = _j_float(metrics.get("durationMs"))
    return PlatformRecord(
        kind=kind,
        request_id=_j_str(record.get("requestId")),
        duration_ms=phase_ms if kind not in ("init_report", "restore_report") else None,
        billed_duration_ms=_j_int(metrics.get("billedDurationMs")),
        memory_size_mb=_j_int(metrics.get("memorySizeMB")),
        max_memory_used_mb=_j_int(metrics.get("maxMemoryUsedMB")),
        init_duration_ms=(
            phase_ms if kind == "init_report" else _j_float(metrics.get("initDurationMs"))
        ),
        restore_duration_ms=(
            phase_ms if kind == "restore_report" else _j_float(metrics.get("restoreDurationMs"))
        ),
        billed_restore_duration_ms=_j_int(metrics.get("billedRestoreDurationMs")),
        status=_j_str(record.get("status")),
        error_type=_j_str(record.get("errorType")),
        xray_trace_id=_j_str(tracing.get("value")),
        runtime_version=_j_str(record.get("runtimeVersion")),
        phase=_j_str(record.get("phase")),
        version=_j_str(record.get("version")),
    )


def parse_line(message: str) -> PlatformRecord | None:
    """Parse one CloudWatch event message (or Tail line); None for anything not platform."""
    if not isinstance(message, str) or len(message) > _MAX_TEXT:
        return None
    stripped = message.lstrip()
    if stripped.startswith("{"):
        return _parse_json(stripped)
    return _parse_text(message)


def tail_lines(b64: str | None) -> list[str]:
    """The non-blank lines of an Invoke `X-Amz-Log-Result` header (base64 of the last
    4 KB of the function's log); nothing for a missing or malformed header."""
    if not b64:
        return []
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return []
    return [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]


def parse_tail(lines: Iterable[str]) -> list[tuple[PlatformRecord, str]]:
    """Platform records among log tail lines, each with its raw line.

    The 4 KB may start in the middle of a line; such a fragment does not begin with a
    platform prefix and is ignored. An `XRAY TraceId:` line belongs to the REPORT above it.
    """
    records: list[tuple[PlatformRecord, str]] = []
    for line in lines:
        if line.startswith("XRAY TraceId:") and records and records[-1][0].kind == "report":
            trace = _word(_fields(line).get("TraceId"))
            records[-1] = (replace(records[-1][0], xray_trace_id=trace), records[-1][1])
            continue
        record = parse_line(line)
        if record is not None:
            records.append((record, line))
    return records


def decode_tail(b64: str | None) -> list[PlatformRecord]:
    """Platform records in an Invoke `X-Amz-Log-Result` header."""
    return [record for record, _ in parse_tail(tail_lines(b64))]


def report_in_tail(
    lines: Iterable[str], request_id: str | None
) -> tuple[PlatformRecord, str] | None:
    """The last REPORT of `request_id` (or of no stated request) in a log tail, with its
    raw line."""
    for record, line in reversed(parse_tail(lines)):
        if record.kind == "report" and (not request_id or record.request_id in (None, request_id)):
            return record, line
    return None
