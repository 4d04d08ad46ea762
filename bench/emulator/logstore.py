"""The CloudWatch Logs store: log groups, streams and events, safe to write from any thread.

Implements the LogSink the sandbox layer writes to, and the reads behind the Logs API.
An optional ingestion delay makes each event invisible to reads until its ingestionTime,
as CloudWatch is on a bad day.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.emulator.errors import log_group_missing, log_stream_missing, logs_error
from bench.emulator.filterpattern import compile_pattern

MAX_PAGE_EVENTS = 10_000
MAX_PAGE_BYTES = 1_048_576
# Per event, CloudWatch counts the UTF-8 message plus 26 bytes of overhead.
EVENT_OVERHEAD = 26


@dataclass(order=True)
class Event:
    timestamp: int
    seq: int
    ingestion: int = field(compare=False)
    message: str = field(compare=False)


@dataclass
class Stream:
    name: str
    creation_time: int
    events: list[Event] = field(default_factory=list)
    last_ingestion: int | None = None


@dataclass
class Group:
    name: str
    creation_time: int
    retention_days: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    streams: dict[str, Stream] = field(default_factory=dict)
    stored_bytes: int = 0
    deletion_protection: bool = False


class LogStore:
    """Thread-safe: sandboxes write from their own tasks, API handlers read."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        ingestion_delay_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.ingestion_delay_ms = int(ingestion_delay_s * 1000)
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[str, Group] = {}
        self._seq = 0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def group_arn(self, name: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{name}"

    # --- LogSink ---------------------------------------------------------------------

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        now = self._now_ms()
        with self._lock:
            grp = self._groups.get(group)
            if grp is None:
                grp = self._groups[group] = Group(group, now)
            strm = grp.streams.get(stream)
            if strm is None:
                strm = grp.streams[stream] = Stream(stream, now)
            ingestion = now + self.ingestion_delay_ms
            for timestamp, message in events:
                self._seq += 1
                bisect.insort(strm.events, Event(int(timestamp), self._seq, ingestion, message))
                grp.stored_bytes += len(message.encode()) + EVENT_OVERHEAD
            strm.last_ingestion = ingestion

    # --- groups ----------------------------------------------------------------------

    def create_stream(self, group: str, stream: str) -> bool:
        """False when the stream already exists; the group must exist (unlike the sink)."""
        with self._lock:
            grp = self._group(group)
            if stream in grp.streams:
                return False
            grp.streams[stream] = Stream(stream, self._now_ms())
            return True

    def has_stream(self, group: str, stream: str) -> bool:
        with self._lock:
            return stream in self._group(group).streams

    def create_group(
        self, name: str, tags: dict[str, str] | None = None, *, protected: bool = False
    ) -> bool:
        """False when the group already exists."""
        with self._lock:
            if name in self._groups:
                return False
            self._groups[name] = Group(
                name, self._now_ms(), tags=dict(tags or {}), deletion_protection=protected
            )
            return True

    def delete_group(self, name: str) -> None:
        with self._lock:
            if self._group(name).deletion_protection:
                raise logs_error(
                    "ValidationException",
                    f"Log group {name} has deletion protection enabled. Disable it with "
                    "PutLogGroupDeletionProtection before deleting the log group.",
                )
            del self._groups[name]

    def protect_group(self, name: str, protected: bool) -> None:
        with self._lock:
            self._group(name).deletion_protection = protected

    def delete_stream(self, group: str, stream: str) -> None:
        with self._lock:
            grp = self._group(group)
            strm = grp.streams.pop(stream, None)
            if strm is None:
                raise log_stream_missing()
            grp.stored_bytes -= sum(len(e.message.encode()) + EVENT_OVERHEAD for e in strm.events)

    def _group(self, name: str) -> Group:
        grp = self._groups.get(name)
        if grp is None:
            raise log_group_missing()
        return grp

    def set_retention(self, name: str, days: int | None) -> None:
        with self._lock:
            self._group(name).retention_days = days

    def tag_group(self, name: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._group(name).tags.update(tags)

    def untag_group(self, name: str, keys: list[str]) -> None:
        with self._lock:
            grp = self._group(name)
            for key in keys:
                grp.tags.pop(key, None)

    def group_tags(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._group(name).tags)

    def describe_groups(
        self, prefix: str, start_after: str | None, limit: int, pattern: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """`pattern` is a case-sensitive substring; with it AWS shows only three keys."""
        with self._lock:
            names = sorted(
                n for n in self._groups
                if n.startswith(prefix) and (pattern is None or pattern in n)
            )
            if start_after is not None:
                names = names[bisect.bisect_right(names, start_after) :]
            page = names[:limit]
            out = []
            for name in page:
                grp = self._groups[name]
                item: dict[str, Any] = {
                    "logGroupName": name,
                    "creationTime": grp.creation_time,
                    "metricFilterCount": 0,
                    "arn": self.group_arn(name) + ":*",
                    "storedBytes": grp.stored_bytes,
                    "logGroupClass": "STANDARD",
                    "logGroupArn": self.group_arn(name),
                    "deletionProtectionEnabled": grp.deletion_protection,
                }
                if grp.retention_days is not None:
                    item["retentionInDays"] = grp.retention_days
                if pattern is not None:
                    item = {k: item[k] for k in ("arn", "creationTime", "logGroupName")}
                out.append(item)
        return out, (page[-1] if len(names) > limit else None)

    # --- streams ---------------------------------------------------------------------

    def _visible(self, stream: Stream, now: int) -> Iterator[Event]:
        return (e for e in stream.events if e.ingestion <= now)

    def describe_streams(
        self, group: str, prefix: str, by_last_event: bool, descending: bool
    ) -> list[dict[str, Any]]:
        now = self._now_ms()
        with self._lock:
            grp = self._group(group)
            items = []
            for strm in grp.streams.values():
                if not strm.name.startswith(prefix):
                    continue
                item: dict[str, Any] = {
                    "logStreamName": strm.name,
                    "creationTime": strm.creation_time,
                    "arn": f"{self.group_arn(group)}:log-stream:{strm.name}",
                    "storedBytes": 0,
                }
                visible = list(self._visible(strm, now))
                if visible:
                    item["firstEventTimestamp"] = visible[0].timestamp
                    item["lastEventTimestamp"] = max(e.timestamp for e in visible)
                    item["lastIngestionTime"] = max(e.ingestion for e in visible)
                    item["uploadSequenceToken"] = str(visible[-1].seq)
                items.append(item)
        if by_last_event:
            items.sort(key=lambda i: (i.get("lastEventTimestamp", 0), i["logStreamName"]))
        else:
            items.sort(key=lambda i: i["logStreamName"])
        if descending:
            items.reverse()
        return items

    # --- events ----------------------------------------------------------------------

    def stream_events(
        self, group: str, stream: str, start: int | None, end: int | None
    ) -> list[Event]:
        """Visible events of one stream with start <= timestamp < end (GetLogEvents' rule)."""
        now = self._now_ms()
        with self._lock:
            strm = self._group(group).streams.get(stream)
            if strm is None:
                raise log_stream_missing()
            return [
                e
                for e in self._visible(strm, now)
                if (start is None or e.timestamp >= start) and (end is None or e.timestamp < end)
            ]

    def filter_events(
        self,
        group: str,
        *,
        stream_names: list[str] | None,
        stream_prefix: str | None,
        start: int | None,
        end: int | None,
        pattern: str | None,
        after: tuple[int, int] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], list[str], tuple[int, int] | None]:
        """FilterLogEvents: start and end both inclusive, sorted by timestamp.

        Returns (events, streams searched, resume key when more events remain).
        """
        matches = compile_pattern(pattern)
        now = self._now_ms()
        low = Event(start if start is not None else -(2**63), -1, 0, "")
        high = Event(end if end is not None else 2**63, 2**63, 0, "")
        # Under the lock only slice each stream's window (a cheap copy of references), so
        # writers are not held up while patterns are matched.
        with self._lock:
            grp = self._group(group)
            wanted = set(stream_names) if stream_names else None
            windows: list[tuple[str, list[Event]]] = []
            for strm in grp.streams.values():
                if wanted is not None and strm.name not in wanted:
                    continue
                if stream_prefix and not strm.name.startswith(stream_prefix):
                    continue
                i = bisect.bisect_left(strm.events, low)
                if after is not None:  # resume past the previous page without rescanning it
                    i = max(i, bisect.bisect_right(strm.events, Event(after[0], after[1], 0, "")))
                windows.append((strm.name, strm.events[i : bisect.bisect_right(strm.events, high)]))
        found: list[tuple[Event, str]] = []
        for name, window in windows:
            taken = 0
            for event in window:
                if taken > limit:
                    break  # no page needs more than limit + 1 events from one stream
                if event.ingestion <= now and matches(event.message):
                    found.append((event, name))
                    taken += 1
        searched = [name for name, _ in windows]
        found.sort(key=lambda pair: pair[0])
        page: list[dict[str, Any]] = []
        size = 0
        for event, stream_name in found:
            size += len(event.message.encode()) + EVENT_OVERHEAD
            if len(page) >= limit or (page and size > MAX_PAGE_BYTES):
                last = page[-1]
                return page, searched, (last["timestamp"], int(last["eventId"]))
            page.append(
                {
                    "logStreamName": stream_name,
                    "timestamp": event.timestamp,
                    "message": event.message,
                    "ingestionTime": event.ingestion,
                    "eventId": str(event.seq),
                }
            )
        return page, searched, None

    def window(self, group: str, start: int, end: int) -> list[tuple[str, list[Event]]]:
        """Each stream's visible events with start <= timestamp <= end, in time order
        (for Logs Insights, which matches outside the lock)."""
        now = self._now_ms()
        low, high = Event(start, -1, 0, ""), Event(end, 2**63, 0, "")
        windows = []
        with self._lock:
            for strm in self._group(group).streams.values():
                first = bisect.bisect_left(strm.events, low)
                last = bisect.bisect_right(strm.events, high)
                windows.append((strm.name, strm.events[first:last]))
        return [(name, [e for e in events if e.ingestion <= now]) for name, events in windows]
