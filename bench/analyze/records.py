"""Production log lines to invocation records (phase `production`), with the run's
parser (bench.logs.parse_line) and classification (bench.classify.classify).

Each log stream is one execution environment. Its INIT_START opens it; its REPORT lines
are its invocations in order, so `sandbox_invocation` is a REPORT's place in its stream
and `init_to_invoke_gap_ms` the time from the end of INIT to the start of the first
invocation. Lines are read from a little before the window (LOOKBACK_MS), so the
environments of cold starts inside the window are seen from their INIT_START; an
environment that began earlier than that has unknown places (its starts are `unknown`).

A line that the filter let through and that claims to be a REPORT but cannot be read
(cut short, a field missing or not a number) is malformed: counted and kept for audit,
never a record and never a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.analyze.read import LogEvent
from bench.analyze.select import Function
from bench.classify import classify
from bench.lambda_limits import INIT_LIMIT_S, MEMORY_MAX_MB, MEMORY_MIN_MB, TIMEOUT_MAX_S
from bench.logs import PlatformRecord, parse_line
from bench.results.schema import INVOCATION_KEYS

# The longest an INIT_START can precede its REPORT: Lambda's init limit plus the longest
# timeout.
LOOKBACK_MS = int((INIT_LIMIT_S + TIMEOUT_MAX_S) * 1000)
_REQUIRED = ("request_id", "duration_ms", "billed_duration_ms", "memory_size_mb",
             "max_memory_used_mb")  # fmt: skip
_STATUSES = {None: "success", "success": "success", "timeout": "timeout", "error": "error",
             "failure": "error"}  # fmt: skip


@dataclass
class _Environment:
    init_start_ms: int | None = None  # None: began before the lines we read
    served: int = 0
    timed_out: set[str] = field(default_factory=set)  # request ids the runtime said timed out


@dataclass
class LineCounts:
    read: int = 0  # lines the reader returned
    reports: int = 0  # REPORT lines inside the window (= records)
    before_window: int = 0  # REPORT lines in the lookback, used only to place later ones
    init_starts: int = 0  # INIT_START lines inside the window: environments created
    malformed: int = 0
    other: int = 0  # function output that merely mentions a platform word

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _malformed_reason(record: PlatformRecord | None, message: str) -> str | None:
    """Why a line that looks like a REPORT is not one we can use; None when it is fine
    or not a REPORT at all."""
    if record is None:
        text = message.lstrip()
        if text.startswith("REPORT") or (text.startswith("{") and "platform.report" in text):
            return "not readable as a REPORT line"
        return None
    if record.kind != "report":
        return None
    missing = [name for name in _REQUIRED if getattr(record, name) is None]
    if missing:
        return f"no readable {', '.join(missing)}"
    size = record.memory_size_mb
    if size is not None and not MEMORY_MIN_MB <= size <= MEMORY_MAX_MB:
        return f"Memory Size {size} MB is outside Lambda's {MEMORY_MIN_MB}..{MEMORY_MAX_MB} MB"
    return None


@dataclass
class Malformed:
    timestamp_ms: int
    stream: str
    message: str
    reason: str


class ProductionRecorder:
    """Turns one function's lines, in time order, into records and malformed lines."""

    def __init__(
        self,
        *,
        run_id: str,
        function: Function,
        window_start_ms: int,
        proactive_threshold_ms: float,
    ) -> None:
        self.run_id = run_id
        self.function = function
        self.window_start_ms = window_start_ms
        self.threshold = proactive_threshold_ms
        self.counts = LineCounts()
        self._envs: dict[str, _Environment] = {}
        self._seq = 0

    def feed(
        self, events: Iterator[LogEvent]
    ) -> Iterator[tuple[dict[str, Any], str] | Malformed]:
        """(record, its raw line) per REPORT in the window, and each malformed line."""
        for event in events:
            self.counts.read += 1
            record = parse_line(event.message)
            reason = _malformed_reason(record, event.message)
            if reason is not None:
                if event.timestamp_ms >= self.window_start_ms:
                    self.counts.malformed += 1
                    yield Malformed(event.timestamp_ms, event.stream, event.message, reason)
                continue
            if record is None:
                self.counts.other += 1
            elif record.kind == "init_start":
                self._envs[event.stream] = _Environment(init_start_ms=event.timestamp_ms)
                self.counts.init_starts += event.timestamp_ms >= self.window_start_ms
            elif record.kind == "timeout" and record.request_id:
                self._envs.setdefault(event.stream, _Environment()).timed_out.add(
                    record.request_id
                )
            elif record.kind == "report":
                built = self._report(event, record)
                if built is not None:
                    yield built, event.message
            else:
                self.counts.other += 1

    def _report(self, event: LogEvent, report: PlatformRecord) -> dict[str, Any] | None:
        env = self._envs.setdefault(event.stream, _Environment())
        env.served += 1
        if event.timestamp_ms < self.window_start_ms:
            self.counts.before_window += 1
            return None
        self.counts.reports += 1
        self._seq += 1
        known = env.init_start_ms is not None
        gap = None
        if known and env.served == 1 and report.duration_ms is not None:
            assert env.init_start_ms is not None
            invoke_start = event.timestamp_ms - report.duration_ms
            gap = round(invoke_start - env.init_start_ms - (report.init_duration_ms or 0.0), 3)
        status = _STATUSES.get(report.status, "error")
        if report.request_id in env.timed_out:
            env.timed_out.discard(report.request_id)
            status = "timeout"
        fn = self.function
        # Every key of the format, null where production does not say (launch skew,
        # queueing, contention: nothing a log line tells).
        record: dict[str, Any] = dict.fromkeys(INVOCATION_KEYS)
        record |= {
            "run": self.run_id,
            "cell": fn.name,
            "runtime": fn.runtime,
            "memory_mb": fn.memory_mb,
            "architecture": fn.architecture,
            "package_mb": 0.0,
            "package_kind": "none",
            "phase": "production",
            "round": 0,
            "seq": self._seq,
            "request_id": report.request_id,
            "client_send_ns": (event.timestamp_ms - self.window_start_ms) * 1_000_000,
            "client_latency_ms": None,
            "status": status,
            "error_type": report.error_type,
            "duration_ms": report.duration_ms,
            "billed_duration_ms": report.billed_duration_ms,
            "init_duration_ms": report.init_duration_ms,
            "restore_duration_ms": report.restore_duration_ms,
            "max_memory_used_mb": report.max_memory_used_mb,
            "memory_size_mb": report.memory_size_mb,
            "sandbox_id": event.stream,
            "sandbox_invocation": env.served if known else None,
            "init_to_invoke_gap_ms": gap,
            "start_type": "unknown",
            "report_sources": ["cloudwatch"],
        }
        record["start_type"] = classify(record, self.threshold)
        return record
