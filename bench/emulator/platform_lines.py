"""Lambda's platform log lines (INIT_START, START, END, REPORT, INIT_REPORT), text or JSON.

Pure formatters: they return the message of one log event; the sandbox writes them. The
text layout follows real logs byte for byte (tabs, two decimals, the trailing tab after
the last REPORT field, the newline that ends every text line as CloudWatch stores it),
because parsers in the wild split on exactly that. JSON records carry no newline.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """The figures of one REPORT line; None means the field is absent, never zero."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None
    status: str = "success"  # success | error | timeout (JSON: also failure)
    error_type: str | None = None


def log_stream_name(version: str = "$LATEST", when: float | None = None) -> str:
    """`YYYY/MM/DD/[$LATEST]<32 hex>`, dated in UTC like Lambda's own streams."""
    day = time.strftime("%Y/%m/%d", time.gmtime(when))
    return f"{day}/[{version}]{secrets.token_hex(16)}"


def iso_ms(epoch_ms: int) -> str:
    """`2026-03-02T10:11:12.345Z`: the timestamp format of JSON records and timeout lines."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _record(kind: str, epoch_ms: int, record: dict[str, object]) -> str:
    return json.dumps(
        {"time": iso_ms(epoch_ms), "type": kind, "record": record}, separators=(",", ":")
    )


def init_start(
    runtime_version: str,
    runtime_version_arn: str,
    *,
    json_format: bool,
    epoch_ms: int,
    function_name: str,
    function_version: str,
    instance_id: str,
    memory_mb: int,
    init_type: str = "on-demand",
) -> str:
    if not json_format:
        return (
            f"INIT_START Runtime Version: {runtime_version}\t"
            f"Runtime Version ARN: {runtime_version_arn}\n"
        )
    return _record(
        "platform.initStart",
        epoch_ms,
        {
            "initializationType": init_type,
            "phase": "init",
            "runtimeVersion": runtime_version,
            "runtimeVersionArn": runtime_version_arn,
            "functionName": function_name,
            "functionVersion": function_version,
            "instanceId": instance_id,
            # Real logs carry bytes here although the documentation's example shows MB.
            "instanceMaxMemory": memory_mb * 1024 * 1024,
        },
    )


def init_report(
    duration_ms: float,
    status: str,
    error_type: str | None,
    *,
    json_format: bool,
    epoch_ms: int,
    phase: str = "init",
) -> str:
    if not json_format:
        line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
        if error_type:
            line += f"\tError Type: {error_type}"
        return line + "\n"
    record: dict[str, object] = {
        "initializationType": "on-demand",
        "phase": phase,
        "status": status,
        "metrics": {"durationMs": round(duration_ms, 3)},
    }
    if error_type:
        record["errorType"] = error_type
    return _record("platform.initReport", epoch_ms, record)


def start(request_id: str, version: str, *, json_format: bool, epoch_ms: int) -> str:
    if not json_format:
        return f"START RequestId: {request_id} Version: {version}\n"
    return _record("platform.start", epoch_ms, {"requestId": request_id, "version": version})


def end(request_id: str, status: str, *, json_format: bool, epoch_ms: int) -> str:
    if not json_format:
        return f"END RequestId: {request_id}\n"
    return _record("platform.runtimeDone", epoch_ms, {"requestId": request_id, "status": status})


def timed_out(request_id: str, timeout_s: float, epoch_ms: int) -> str:
    """The runtime-style message Lambda logs (and returns) when a function times out."""
    return f"{iso_ms(epoch_ms)} {request_id} Task timed out after {timeout_s:.2f} seconds"


def report(rep: Report, *, json_format: bool, epoch_ms: int) -> str:
    if json_format:
        return _json_report(rep, epoch_ms)
    line = (
        f"REPORT RequestId: {rep.request_id}\tDuration: {rep.duration_ms:.2f} ms\t"
        f"Billed Duration: {rep.billed_ms} ms\tMemory Size: {rep.memory_mb} MB\t"
        f"Max Memory Used: {rep.max_memory_used_mb} MB\t"
    )
    if rep.init_duration_ms is not None:
        line += f"Init Duration: {rep.init_duration_ms:.2f} ms\t"
    if rep.status != "success":
        line += f"Status: {rep.status}\t"
        if rep.error_type:
            line += f"Error Type: {rep.error_type}\t"
    return line + "\n"


def _json_report(rep: Report, epoch_ms: int) -> str:
    metrics: dict[str, object] = {
        "durationMs": round(rep.duration_ms, 3),
        "billedDurationMs": rep.billed_ms,
        "memorySizeMB": rep.memory_mb,
        "maxMemoryUsedMB": rep.max_memory_used_mb,
    }
    # Optional keys are absent (not null) on warm starts, exactly as Lambda writes them.
    if rep.init_duration_ms is not None:
        metrics["initDurationMs"] = round(rep.init_duration_ms, 3)
    record: dict[str, object] = {
        "requestId": rep.request_id,
        "metrics": metrics,
        "status": rep.status,
    }
    if rep.error_type:
        record["errorType"] = rep.error_type
    return _record("platform.report", epoch_ms, record)
