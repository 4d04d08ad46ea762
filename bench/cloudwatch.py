"""REPORT lines collected from CloudWatch Logs: FilterLogEvents paged over a run's log
groups, paced to the account's shared 5 calls a second, retried when throttled, each
event parsed (bench.logs) and matched to the request ids still missing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.logs import PlatformRecord, parse_line
from bench.pacing import RateLimiter, is_throttle, retry_call

REPORT_FILTER = '"REPORT RequestId"'
# CloudWatch Logs allows 5 FilterLogEvents a second per account and region, shared.
FILTER_LOG_EVENTS_PER_S = 5.0


@dataclass
class CollectResult:
    # request id -> (parsed REPORT, the raw event message, the log stream it came from)
    found: dict[str, tuple[PlatformRecord, str, str]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    pages: int = 0
    throttles: int = 0
    polls: int = 0


class ReportCollector:
    """Reads REPORT lines back out of CloudWatch Logs and joins them to request ids.

    Every FilterLogEvents call goes through the one limiter the run shares, because the
    5 requests/s quota is per account and region, not per caller. REPORT lines arrive in
    CloudWatch minutes late at worst, so the collector polls until every expected request
    id is matched or the timeout passes; what is still missing is returned, not hidden.
    """

    def __init__(
        self,
        logs_client: Any,
        *,
        limiter: RateLimiter,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
        filter_pattern: str = REPORT_FILTER,
        on_throttle: Callable[[Exception, int, float], None] | None = None,
    ) -> None:
        self._logs = logs_client
        self._limiter = limiter
        self._clock = clock
        self._sleeper = sleeper
        # JSON-format log groups need '{ $.type = "platform.report" }' instead.
        self.filter_pattern = filter_pattern
        self._on_throttle = on_throttle

    def collect(  # noqa: PLR0917 - the driver's agreed call shape
        self,
        log_groups: dict[str, set[str]],
        start_ms: int,
        end_ms: int | None,
        timeout_s: float,
        poll_interval_s: float = 5.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> CollectResult:
        expected = {group: set(ids) for group, ids in log_groups.items()}
        total = sum(len(ids) for ids in expected.values())
        result = CollectResult()
        deadline = self._clock() + timeout_s
        while True:
            result.polls += 1
            for group, ids in expected.items():
                pending = ids - result.found.keys()
                if pending:
                    self._scan_group(group, pending, start_ms, end_ms, result)
                    if on_progress is not None:
                        on_progress(len(result.found), total)
            outstanding = any(ids - result.found.keys() for ids in expected.values())
            remaining = deadline - self._clock()
            if not outstanding or remaining <= 0:
                break
            self._sleeper(min(poll_interval_s, remaining))
        result.missing = {rid for ids in expected.values() for rid in ids} - result.found.keys()
        return result

    def _scan_group(
        self,
        group: str,
        pending: set[str],
        start_ms: int,
        end_ms: int | None,
        result: CollectResult,
    ) -> None:
        for events in self.pages(group, start_ms, end_ms, result):
            _match_events(events, pending, result)
            if not pending:
                return

    def pages(
        self, group: str, start_ms: int, end_ms: int | None, result: CollectResult
    ) -> Iterator[list[dict[str, Any]]]:
        """The events of `group` that match the filter pattern, one page at a time, each
        call paced by the shared limiter and retried on throttling (counted in `result`)."""
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "startTime": start_ms,
            "filterPattern": self.filter_pattern,
        }
        if end_ms is not None:
            kwargs["endTime"] = end_ms
        token: str | None = None
        while True:
            page_kwargs = dict(kwargs, nextToken=token) if token else kwargs
            page = self._call(page_kwargs, result)
            result.pages += 1
            yield page.get("events", [])
            next_token = page.get("nextToken")
            # An unchanged token means the end of the stream as it stands now.
            if not next_token or next_token == token:
                return
            token = next_token

    def _call(self, kwargs: dict[str, Any], result: CollectResult) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            self._limiter.acquire()
            page: dict[str, Any] = self._logs.filter_log_events(**kwargs)
            return page

        def count(exc: Exception, attempt: int, delay: float) -> None:
            result.throttles += 1
            if self._on_throttle is not None:
                self._on_throttle(exc, attempt, delay)

        return retry_call(
            once, retry_on=is_throttle, base_s=0.5, max_s=10.0, on_retry=count,
            sleeper=self._sleeper,
        )


def _match_events(
    events: Iterable[dict[str, Any]], pending: set[str], result: CollectResult
) -> None:
    for event in events:
        message = event.get("message")
        if not isinstance(message, str):
            continue
        record = parse_line(message)
        if record is None or record.kind != "report" or record.request_id not in pending:
            continue
        rid = record.request_id
        assert rid is not None  # narrowed by the membership test above
        pending.discard(rid)
        result.found[rid] = (record, message, str(event.get("logStreamName", "")))
