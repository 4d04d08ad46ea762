"""Platform lines of a log group over a window, in time order: FilterLogEvents or Logs
Insights, the same events either way.

FilterLogEvents goes through the run's collector (bench.cloudwatch.ReportCollector), paced
under the 5 requests/s quota. Logs Insights answers at most MAX_INSIGHTS_ROWS rows a
query, so a window whose answer was cut short (more matched than returned) is split into
shorter ones until none is; a single second that still holds more is read with
FilterLogEvents. Nothing is held but the page at hand.
"""

from __future__ import annotations

import calendar
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bench.cloudwatch import FILTER_LOG_EVENTS_PER_S, CollectResult, ReportCollector
from bench.errors import TargetError
from bench.pacing import RateLimiter, is_throttle, retry_call

# Lines a production analysis needs: REPORTs, the INIT_START that opens each environment,
# and the runtime's timeout message; in both log formats.
NEEDLES = ("REPORT RequestId", "platform.report", "INIT_START", "platform.initStart",
           "Task timed out")  # fmt: skip
FILTER_PATTERN = " ".join(f'?"{needle}"' for needle in NEEDLES)
# Logs Insights returns at most 10,000 rows a query (a constant the tests lower).
MAX_INSIGHTS_ROWS = 10_000
# StartQuery and GetQueryResults each allow 5 requests/s per account and region.
INSIGHTS_PER_S = 5.0
INSIGHTS_POLL_S = 0.5
INSIGHTS_TIMEOUT_S = 900.0  # a query runs for at most 60 minutes on AWS; we wait 15
# A window cut short is split so that each part should hold this share of the limit.
SPLIT_FILL = 0.8


class LogEvent(NamedTuple):
    timestamp_ms: int
    stream: str
    message: str


@dataclass
class ReadStats:
    reader: str
    calls: int = 0
    insights_throttles: int = 0
    queries: int = 0
    splits: int = 0
    fallbacks: int = 0  # seconds read with FilterLogEvents because Insights could not split
    counts: CollectResult = field(default_factory=CollectResult)  # FilterLogEvents

    @property
    def throttles(self) -> int:
        return self.insights_throttles + self.counts.throttles


def insights_query(limit: int) -> str:
    terms = " or ".join(f'@message like "{needle}"' for needle in NEEDLES)
    return (f"fields @timestamp, @message, @logStream | filter {terms} "
            f"| sort @timestamp asc | limit {limit}")  # fmt: skip


def read_filtered(
    logs: Any, group: str, start_ms: int, end_ms: int, *, stats: ReadStats, limiter: RateLimiter
) -> Iterator[LogEvent]:
    """FilterLogEvents (start and end inclusive), through the run's paced collector."""
    collector = ReportCollector(logs, limiter=limiter, filter_pattern=FILTER_PATTERN)
    for events in collector.pages(group, start_ms, end_ms, stats.counts):
        stats.calls += 1
        for event in events:
            message = event.get("message")
            if isinstance(message, str):
                yield LogEvent(int(event["timestamp"]), str(event.get("logStreamName", "")),
                               message)  # fmt: skip


class _Seconds:
    """`YYYY-MM-DD HH:MM:SS.mmm` (Logs Insights' @timestamp, UTC) to epoch ms, caching
    the last second: rows come in time order."""

    def __init__(self) -> None:
        self._key = ""
        self._base = 0

    def __call__(self, text: str) -> int:
        key, _, millis = text.partition(".")
        if key != self._key:
            parsed = time.strptime(key, "%Y-%m-%d %H:%M:%S")
            self._key, self._base = key, calendar.timegm(parsed) * 1000
        return self._base + int(millis or 0)


@dataclass
class InsightsReader:
    logs: Any
    stats: ReadStats
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(INSIGHTS_PER_S))
    filter_limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(FILTER_LOG_EVENTS_PER_S)
    )
    max_rows: int | None = None  # None: MAX_INSIGHTS_ROWS as it is when read
    sleeper: Callable[[float], None] = time.sleep

    def read(self, group: str, start_ms: int, end_ms: int) -> Iterator[LogEvent]:
        """Every needed line of `group` with start_ms <= timestamp <= end_ms, in time order."""
        limit = self.max_rows or MAX_INSIGHTS_ROWS
        to_ms = _Seconds()
        pending = [(start_ms // 1000, end_ms // 1000)]
        while pending:
            first, last = pending.pop(0)
            rows, matched = self._query(group, first, last, limit)
            if matched > len(rows):
                if first == last:  # one second holds more than a query may return
                    self.stats.fallbacks += 1
                    yield from read_filtered(
                        self.logs, group, max(start_ms, first * 1000),
                        min(end_ms, last * 1000 + 999), stats=self.stats,
                        limiter=self.filter_limiter,
                    )  # fmt: skip
                    continue
                parts = min(last - first + 1, math.ceil(matched / (limit * SPLIT_FILL)))
                self.stats.splits += 1
                pending[:0] = _split(first, last, parts)
                continue
            for row in rows:
                values = {f["field"]: f["value"] for f in row}
                stamp = to_ms(values.get("@timestamp", ""))
                if start_ms <= stamp <= end_ms:
                    yield LogEvent(stamp, values.get("@logStream", ""), values.get("@message", ""))

    def _call(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            self.limiter.acquire()
            self.stats.calls += 1
            return fn()

        def count(exc: Exception, attempt: int, delay: float) -> None:
            self.stats.insights_throttles += 1

        return retry_call(once, retry_on=is_throttle, base_s=0.5, max_s=10.0, on_retry=count,
                          sleeper=self.sleeper)  # fmt: skip

    def _query(
        self, group: str, first_s: int, last_s: int, limit: int
    ) -> tuple[list[list[dict[str, str]]], int]:
        self.stats.queries += 1
        query_id = self._call(lambda: self.logs.start_query(
            logGroupName=group, startTime=first_s, endTime=last_s,
            queryString=insights_query(limit), limit=limit,
        ))["queryId"]  # fmt: skip
        deadline = time.monotonic() + INSIGHTS_TIMEOUT_S
        while True:
            page = self._call(lambda: self.logs.get_query_results(queryId=query_id))
            status = page.get("status")
            if status == "Complete":
                matched = page.get("statistics", {}).get("recordsMatched", 0)
                return page.get("results", []), int(matched)
            if status not in ("Scheduled", "Running", "Unknown"):
                raise TargetError(f"Logs Insights query on {group} ended {status}")
            if time.monotonic() > deadline:
                self._call(lambda: self.logs.stop_query(queryId=query_id))
                raise TargetError(f"Logs Insights query on {group} still running after "
                                  f"{INSIGHTS_TIMEOUT_S:.0f} s; stopped it")  # fmt: skip
            self.sleeper(INSIGHTS_POLL_S)


def _split(first: int, last: int, parts: int) -> list[tuple[int, int]]:
    """[first, last] (whole seconds) in `parts` consecutive pieces that do not overlap."""
    size = (last - first + 1) / parts
    bounds = [first + round(i * size) for i in range(parts)] + [last + 1]
    return [(a, b - 1) for a, b in itertools.pairwise(bounds) if b > a]
