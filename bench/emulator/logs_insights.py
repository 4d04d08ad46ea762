"""CloudWatch Logs Insights for the local target: StartQuery, GetQueryResults, StopQuery.

Only the part of the query language a reader of REPORT lines needs, answered exactly;
anything else is a MalformedQueryException naming what is not supported, never a wrong
answer. A query is commands joined by `|`, each at most once:

- `fields F, ...` where F is `@timestamp`, `@message`, `@logStream`, `@log` or
  `@ingestionTime` (the rows carry these and `@ptr`);
- `filter @message like "text"` or `like /regex/`, several joined by `or`;
- `sort @timestamp asc` or `desc`;
- `limit N` (1..10,000).

As on AWS: startTime and endTime are epoch seconds and both ends are included (the end
second up to its last millisecond); a query returns at most MAX_RESULT_ROWS rows, and
`statistics.recordsMatched` counts every match, so a reader can tell a truncated answer
(more matched than returned) and split its window. A query runs in the background: it is
`Running` until its rows are ready, then `Complete`; at most MAX_CONCURRENT_QUERIES run
at once (LimitExceededException beyond).
"""

from __future__ import annotations

import base64
import heapq
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.emulator.errors import AwsError, logs_error, logs_invalid
from bench.emulator.logstore import Event, LogStore

MAX_RESULT_ROWS = 10_000
MAX_CONCURRENT_QUERIES = 30
KEPT_QUERIES = 200  # finished queries whose results stay readable
FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")
_LIKE = re.compile(r'\s*@message\s+like\s+(?:"((?:[^"\\]|\\.)*)"|/((?:[^/\\]|\\.)*)/)\s*')
_SORT = re.compile(r"@timestamp(?:\s+(asc|desc))?")


def malformed(message: str) -> AwsError:
    return logs_error("MalformedQueryException", message)


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    matches: Callable[[str], bool]
    descending: bool
    limit: int


def _contains(needle: str) -> Callable[[str], bool]:
    return lambda message: needle in message


def _searches(regex: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda message: regex.search(message) is not None


def _like_terms(text: str) -> Callable[[str], bool]:
    terms: list[Callable[[str], bool]] = []
    for part in re.split(r"\s+or\s+", text.strip()):
        match = _LIKE.fullmatch(part)
        if match is None:
            raise malformed(
                f"unsupported filter {part.strip()!r}: the local Logs Insights filters only "
                '@message like "text" or @message like /regex/, joined by or'
            )
        literal, pattern = match.groups()
        if literal is not None:
            terms.append(_contains(literal.replace('\\"', '"')))
        else:
            try:
                regex = re.compile(pattern.replace("\\/", "/"))
            except re.error as exc:
                raise malformed(f"invalid regular expression /{pattern}/: {exc}") from None
            terms.append(_searches(regex))
    return lambda message: any(term(message) for term in terms)


def parse_query(text: str, limit: int | None = None) -> Query:
    """The query, or MalformedQueryException naming the first thing not supported."""
    seen: dict[str, str] = {}
    for command in (c.strip() for c in text.split("|")):
        if not command:
            raise malformed("empty command between '|'")
        name, _, rest = command.partition(" ")
        if name not in ("fields", "filter", "sort", "limit"):
            raise malformed(
                f"unsupported command {name!r}: the local Logs Insights answers fields, "
                "filter, sort and limit"
            )
        if name in seen:
            raise malformed(f"command {name!r} given twice")
        seen[name] = rest.strip()
    fields: tuple[str, ...] = FIELDS[:2]
    if "fields" in seen:
        fields = tuple(f.strip() for f in seen["fields"].split(","))
        unknown = [f for f in fields if f not in FIELDS]
        if unknown or not fields:
            raise malformed(f"unsupported fields {unknown}: the local Logs Insights has {FIELDS}")
    matches = _like_terms(seen["filter"]) if "filter" in seen else (lambda _m: True)
    descending = True  # Logs Insights' default order: newest first
    if "sort" in seen:
        sort = _SORT.fullmatch(seen["sort"])
        if sort is None:
            raise malformed(f"unsupported sort {seen['sort']!r}: only @timestamp asc|desc")
        descending = sort.group(1) != "asc"
    rows = limit if limit is not None else MAX_RESULT_ROWS
    if "limit" in seen:
        if not seen["limit"].isdigit() or not 1 <= int(seen["limit"]) <= MAX_RESULT_ROWS:
            raise malformed(f"limit must be a number from 1 to {MAX_RESULT_ROWS}")
        rows = min(rows, int(seen["limit"]))
    return Query(fields, matches, descending, min(rows, MAX_RESULT_ROWS))


def _keyed(
    group: str, stream: str, events: list[Event]
) -> Iterator[tuple[int, int, str, str, Event]]:
    return ((e.timestamp, e.seq, group, stream, e) for e in events)


def _timestamp(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"


@dataclass
class _Run:
    status: str = "Running"
    rows: list[list[dict[str, str]]] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)


class InsightsApi:
    """The three operations, over the same LogStore the Logs API reads."""

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartQuery": self.start_query,
            "GetQueryResults": self.get_query_results,
            "StopQuery": self.stop_query,
        }

    def _groups(self, data: dict[str, Any]) -> list[str]:
        given = [k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if data.get(k)]
        if len(given) != 1:
            raise logs_invalid(
                "Exactly one of logGroupName, logGroupNames or logGroupIdentifiers is required "
                "(the local Logs Insights has no SOURCE command)."
            )
        value = data[given[0]]
        names = [value] if isinstance(value, str) else list(value)
        if not 1 <= len(names) <= 50 or not all(isinstance(n, str) and n for n in names):
            raise logs_invalid(f"{given[0]} must name 1 to 50 log groups.")
        # An identifier may be an ARN: keep only the name.
        return [
            n.split(":log-group:", 1)[1].removesuffix(":*") if ":log-group:" in n else n
            for n in names
        ]

    def start_query(self, data: dict[str, Any]) -> dict[str, Any]:
        language = data.get("queryLanguage", "CWLI")
        if language != "CWLI":
            raise logs_invalid(f"queryLanguage {language!r}: the local Logs Insights speaks CWLI.")
        start, end = data.get("startTime"), data.get("endTime")
        if not isinstance(start, int) or not isinstance(end, int) or start < 0 or end < 0:
            raise logs_invalid("startTime and endTime are required epoch seconds.")
        if end < start:
            raise logs_invalid("endTime must not be before startTime.")
        text = data.get("queryString")
        if not isinstance(text, str) or len(text) > 10_000:
            raise logs_invalid("queryString is required (at most 10000 characters).")
        limit = data.get("limit")
        if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 100_000):
            raise logs_invalid(f"limit must be between 1 and 100000, got {limit!r}.")
        query = parse_query(text, limit)
        groups = self._groups(data)
        for group in groups:
            self.store.group_tags(group)  # ResourceNotFoundException for a missing group
        with self._lock:
            running = sum(r.status == "Running" for r in self._runs.values())
            if running >= MAX_CONCURRENT_QUERIES:
                raise logs_error(
                    "LimitExceededException",
                    f"Account maximum query concurrency limit of [{MAX_CONCURRENT_QUERIES}] "
                    "reached.",
                )
            query_id = str(uuid.uuid4())
            run = self._runs[query_id] = _Run()
            while len(self._runs) > KEPT_QUERIES:
                oldest = next(iter(self._runs))
                if self._runs[oldest].status == "Running":
                    break
                del self._runs[oldest]
        threading.Thread(
            target=self._execute, args=(run, query, groups, start * 1000, end * 1000 + 999),
            name=f"insights-{query_id[:8]}", daemon=True,
        ).start()  # fmt: skip
        return {"queryId": query_id}

    def _execute(
        self, run: _Run, query: Query, groups: list[str], start_ms: int, end_ms: int
    ) -> None:
        try:
            rows, stats = self._answer(run, query, groups, start_ms, end_ms)
        except Exception:  # a query that breaks fails as on AWS; the endpoint carries on
            rows, stats, status = [], {}, "Failed"
        else:
            status = "Cancelled" if run.cancelled.is_set() else "Complete"
        with self._lock:
            run.rows, run.statistics, run.status = rows, stats, status

    def _answer(
        self, run: _Run, query: Query, groups: list[str], start_ms: int, end_ms: int
    ) -> tuple[list[list[dict[str, str]]], dict[str, float]]:
        sources = [
            _keyed(group, stream, events)
            for group in groups
            for stream, events in self.store.window(group, start_ms, end_ms)
        ]
        # Only the rows returned are kept: a window of a million lines is counted, not held.
        kept: deque[tuple[str, str, Event]] = deque(
            maxlen=query.limit if query.descending else None
        )
        scanned = scanned_bytes = matched = 0
        for _ts, _seq, group, stream, event in heapq.merge(*sources):
            if run.cancelled.is_set():
                break
            scanned += 1
            scanned_bytes += len(event.message)
            if query.matches(event.message):
                matched += 1
                if query.descending or len(kept) < query.limit:
                    kept.append((group, stream, event))
        found = list(reversed(kept)) if query.descending else list(kept)
        rows = [self._row(query, group, stream, e) for group, stream, e in found]
        stats = {
            "recordsMatched": float(matched),
            "recordsScanned": float(scanned),
            "bytesScanned": float(scanned_bytes),
            "logGroupsScanned": float(len(groups)),
            "estimatedRecordsSkipped": 0.0,
            "estimatedBytesSkipped": 0.0,
        }
        return rows, stats

    def _row(self, query: Query, group: str, stream: str, event: Event) -> list[dict[str, str]]:
        values = {
            "@timestamp": _timestamp(event.timestamp),
            "@message": event.message,
            "@logStream": stream,
            "@log": f"{self.store.account_id}:{group}",
            "@ingestionTime": _timestamp(event.ingestion),
        }
        pointer = base64.urlsafe_b64encode(f"{group}\n{stream}\n{event.seq}".encode()).decode()
        return [{"field": f, "value": values[f]} for f in query.fields] + [
            {"field": "@ptr", "value": pointer}
        ]

    def _run(self, data: dict[str, Any]) -> _Run:
        query_id = data.get("queryId")
        if not isinstance(query_id, str) or not query_id:
            raise logs_invalid("queryId is required.")
        with self._lock:
            run = self._runs.get(query_id)
        if run is None:
            raise logs_error("ResourceNotFoundException", f"Query {query_id} does not exist.")
        return run

    def get_query_results(self, data: dict[str, Any]) -> dict[str, Any]:
        run = self._run(data)
        with self._lock:
            status, rows, stats = run.status, run.rows, dict(run.statistics)
        out: dict[str, Any] = {"queryLanguage": "CWLI", "status": status, "statistics": stats}
        if status != "Complete":
            out["results"] = []
            return out
        offset = 0
        if data.get("nextToken"):
            try:
                offset = int(base64.urlsafe_b64decode(data["nextToken"]).decode())
            except ValueError:
                raise logs_invalid("The specified nextToken is invalid.") from None
        size = data.get("maxItems") or MAX_RESULT_ROWS
        out["results"] = rows[offset : offset + size]
        if offset + size < len(rows):
            out["nextToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return out

    def stop_query(self, data: dict[str, Any]) -> dict[str, Any]:
        run = self._run(data)
        with self._lock:
            if run.status != "Running":
                return {"success": False}
            run.cancelled.set()
        return {"success": True}
