"""Invocation records: built from what the client saw, completed from REPORT lines,
classified as cold, warm, proactive or unknown (docs/results-format.md).

Nothing here guesses: a value no signal gave stays None, and a start that the signals
do not agree on is `unknown`, counted in the manifest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, cast

from bench.burst import InvokeOutcome
from bench.logs import PlatformRecord, report_in_tail
from bench.matrix import Cell
from bench.results.schema import REPORT_FIELDS, REPORT_SOURCES, START_TYPES, InvocationRecord


def bench_event(run_id: str, cell_id: str, round_: int, seq: int) -> bytes:
    import json

    return json.dumps(
        {"bench": {"run": run_id, "cell": cell_id, "round": round_, "seq": seq}}
    ).encode()


def tail_report(outcome: InvokeOutcome) -> tuple[PlatformRecord, str] | None:
    """The REPORT line of this invocation in its log tail, parsed, with its raw text."""
    return report_in_tail(outcome.tail_lines, outcome.request_id)


# Errors Lambda gives when the function's code could not be loaded: init errors.
INIT_ERROR_TYPES = frozenset({
    "Runtime.ImportModuleError", "Runtime.UserCodeSyntaxError", "Runtime.HandlerNotFound",
    "Runtime.MalformedHandlerName", "Runtime.InitError",
})  # fmt: skip
RESPONSE_EXCERPT_CHARS = 512
ERROR_MESSAGE_CHARS = 1000


def error_phase(outcome: InvokeOutcome) -> str | None:
    """`init` when the function failed before its handler ran (its module did not load,
    its init crashed or timed out), `invoke` when it failed after; None when it did not
    fail, or the Lambda API answered with its own error instead of running it (throttled,
    not found, refused...)."""
    if outcome.status in ("success", "throttled") or outcome.refused:
        return None
    if outcome.error_type in INIT_ERROR_TYPES:
        return "init"
    if "INIT phase" in (outcome.error_message or ""):
        return "init"
    for line in outcome.tail_lines:
        text = line.replace(" ", "")
        if line.startswith("INIT_REPORT") and "Status:" in line:
            return "init"
        if '"platform.initReport"' in text and '"status":"success"' not in text:
            return "init"
    return "invoke"


def make_record(
    *,
    run_id: str,
    cell: Cell,
    phase: str,
    round_: int,
    seq: int,
    outcome: InvokeOutcome,
    event: str | None = None,
    invoke_via: str = "sdk",
    region: str | None = None,
) -> dict[str, Any]:
    """One invocations.jsonl record with every key; REPORT fields from the Tail if any.

    A user's function's answer is not the fixture's: nothing is read from it but an
    excerpt, kept to show what the handler did with its event."""
    own = cell.function is not None
    response = {} if own else (outcome.response or {})
    excerpt = None
    if own and outcome.body:
        excerpt = outcome.body[: RESPONSE_EXCERPT_CHARS * 4].decode("utf-8", "replace")
        excerpt = excerpt[:RESPONSE_EXCERPT_CHARS]
    message = outcome.error_message[:ERROR_MESSAGE_CHARS] if outcome.error_message else None
    init_end, invoke_start = response.get("init_end_ms"), response.get("invoke_start_ms")
    gap = (
        float(invoke_start) - float(init_end)
        if isinstance(init_end, int | float) and isinstance(invoke_start, int | float)
        else None
    )
    typed: InvocationRecord = {
        "run": run_id,
        "cell": cell.id,
        "runtime": cell.runtime,
        "memory_mb": cell.memory_mb,
        "architecture": cell.architecture,
        "package_mb": cell.package_mb,
        "package_kind": cell.package_kind,
        "phase": phase,
        "round": round_,
        "seq": seq,
        "request_id": outcome.request_id,
        "client_send_ns": outcome.client_send_ns,
        "client_latency_ms": round(outcome.client_latency_ms, 3),
        "status": outcome.status,
        "error_type": outcome.error_type,
        "duration_ms": None,
        "billed_duration_ms": None,
        "init_duration_ms": None,
        "restore_duration_ms": None,
        "max_memory_used_mb": None,
        "memory_size_mb": None,
        "sandbox_id": response.get("sandbox_id"),
        "sandbox_invocation": response.get("invocation"),
        "init_to_invoke_gap_ms": gap,
        "start_type": "unknown",
        "report_sources": [],
        "launch_skew_ms": outcome.launch_skew_ms,
        "queued_ms": outcome.queued_ms,
        "contention": outcome.contention,
        "provisioned": cell.provisioned,
        "snapstart": cell.snapstart,
        "function": cell.function,
        "event": event,
        "invoke_via": invoke_via,
        "error_message": message if outcome.status != "success" else None,
        "error_phase": error_phase(outcome),
        "response_excerpt": excerpt,
        "region": region,
        "driver_skew_ms": outcome.driver_skew_ms,
        "idle_s": None,
        "probe_burst": None,
    }
    record = cast(dict[str, Any], typed)
    found = tail_report(outcome)
    if found is not None:
        apply_report(record, found[0], "tail")
    return record


def apply_report(record: dict[str, Any], report: PlatformRecord, source: str) -> list[str]:
    """Fill the REPORT fields (a later source overwrites: CloudWatch is preferred);
    return the names of fields whose earlier value disagreed."""
    disagreements = []
    for name in REPORT_FIELDS:
        value = getattr(report, name)
        if record["report_sources"] and record[name] != value:
            disagreements.append(name)
        record[name] = value
    # The platform knows about timeouts and crashes the client only saw as a failed call.
    if report.status == "timeout":
        record["status"] = "timeout"
    elif report.status in ("error", "failure") and record["status"] == "success":
        record["status"] = "error"
    if report.error_type and not record["error_type"]:
        record["error_type"] = report.error_type
    if source not in record["report_sources"]:
        record["report_sources"].append(source)
    return disagreements


def classify(record: dict[str, Any], proactive_threshold_ms: float) -> str:
    init = record.get("init_duration_ms")
    if record.get("function") is not None:
        # A user's function does not report its sandbox: the platform's REPORT line is the
        # one signal, an Init Duration for a cold start and none for a warm one.
        if not record["report_sources"]:
            return "unknown"
        return "cold" if init is not None else "warm"
    nth = record.get("sandbox_invocation")
    gap = record.get("init_to_invoke_gap_ms")
    if nth == 1 and init is None and record.get("restore_duration_ms") is not None:
        return "restored"  # init ran when the snapshot was taken, long before
    if nth == 1 and init is None and (record.get("provisioned") or 0) > 0:
        return "provisioned"  # initialised ahead by provisioned concurrency
    if nth == 1 and gap is not None:
        if gap >= proactive_threshold_ms:
            return "proactive"
        if init is not None:
            return "cold"
    if isinstance(nth, int) and nth > 1 and init is None:
        return "warm"
    return "unknown"


def classify_all(records: list[dict[str, Any]], proactive_threshold_ms: float) -> dict[str, int]:
    counts = Counter({kind: 0 for kind in START_TYPES})
    for record in records:
        record["start_type"] = classify(record, proactive_threshold_ms)
        counts[record["start_type"]] += 1
    return {kind: counts[kind] for kind in START_TYPES}


def expects_report(record: dict[str, Any]) -> bool:
    """Only invocations that a sandbox ran leave a REPORT line: not those the API refused
    (throttled, or a failure whose `error_phase` is null: the API's own error answer)."""
    if record["request_id"] is None or record["status"] == "throttled":
        return False
    refused = record["status"] != "success" and "error_phase" in record
    return not (refused and record["error_phase"] is None)


def reports_wanted(
    records: list[dict[str, Any]], group_of: Callable[[dict[str, Any]], str | None]
) -> tuple[dict[str, set[str]], dict[str, dict[str, Any]]]:
    """Request ids still without a CloudWatch REPORT, by log group (None: no group to
    search), and the records they belong to."""
    groups: dict[str, set[str]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        if not expects_report(record) or "cloudwatch" in record["report_sources"]:
            continue
        group = group_of(record)
        if group is not None:
            groups.setdefault(group, set()).add(record["request_id"])
            by_id[record["request_id"]] = record
    return groups, by_id


def merge_cloudwatch(
    by_id: dict[str, dict[str, Any]], found: dict[str, tuple[PlatformRecord, str, str]]
) -> Iterator[tuple[dict[str, Any], str, list[str]]]:
    """Apply each CloudWatch REPORT to its record; yield (record, raw line, fields on
    which the Tail said something else)."""
    for request_id, (report, raw, _stream) in sorted(found.items()):
        record = by_id.get(request_id)
        if record is not None:
            yield record, raw, apply_report(record, report, "cloudwatch")


def completeness(records: list[dict[str, Any]], disagreements: int) -> dict[str, Any]:
    expected = [r for r in records if expects_report(r)]
    section: dict[str, Any] = {
        source: {
            "expected": len(expected),
            "matched": sum(source in r["report_sources"] for r in expected),
        }
        for source in REPORT_SOURCES
    }
    section["disagreements"] = disagreements
    return section
