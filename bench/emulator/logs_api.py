"""CloudWatch Logs JSON-protocol handlers (X-Amz-Target: Logs_20140328.<Operation>).

Each handler takes the decoded request object and returns the response object; errors are
AwsError with the Logs `{"__type", "message"}` body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from bench.emulator.errors import logs_error, logs_invalid
from bench.emulator.logs_insights import InsightsApi
from bench.emulator.logstore import MAX_PAGE_EVENTS, Event, LogStore

RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)
BAD_TOKEN = "The specified nextToken is invalid."
GROUP_NAME_PATTERN = r"[\.\-_/#A-Za-z0-9]+"
MAX_NAME = 512  # log group and log stream names


def _invalid_value(value: object, member: str, constraint: str) -> Exception:
    """Logs words constraint failures as Coral does, under InvalidParameterException."""
    return logs_invalid(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must {constraint}"
    )


def _encode(*parts: object) -> str:
    return base64.urlsafe_b64encode("/".join(map(str, parts)).encode()).decode()


def _decode(token: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode().split("/")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise logs_invalid(BAD_TOKEN) from exc


def _limit(data: dict[str, Any], default: int, maximum: int) -> int:
    value = data.get("limit", default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise logs_error("SerializationException", f"limit must be an integer, not {value!r}.")
    if value < 1:
        raise _invalid_value(value, "limit", "have value greater than or equal to 1")
    if value > maximum:
        raise _invalid_value(value, "limit", f"have value less than or equal to {maximum}")
    return value


def _check_name(name: str, member: str = "logGroupName") -> str:
    if len(name) > MAX_NAME:
        raise _invalid_value(name, member, f"have length less than or equal to {MAX_NAME}")
    if not re.fullmatch(GROUP_NAME_PATTERN, name):
        raise _invalid_value(
            name, member, f"satisfy regular expression pattern: {GROUP_NAME_PATTERN}"
        )
    return name


def _group_name(data: dict[str, Any]) -> str:
    name = data.get("logGroupName") or data.get("logGroupIdentifier")
    if not isinstance(name, str) or not name:
        raise logs_invalid("logGroupName is required.")
    # A logGroupIdentifier may be an ARN: keep only the name.
    if name.startswith("arn:") and ":log-group:" in name:
        return name.split(":log-group:", 1)[1].removesuffix(":*")
    return _check_name(name, "logGroupName" if "logGroupName" in data else "logGroupIdentifier")


def _group_from_arn(arn: Any) -> str:
    if not isinstance(arn, str) or ":log-group:" not in arn:
        raise logs_invalid(f"Invalid resourceArn {arn!r}: expected a log group ARN.")
    return arn.split(":log-group:", 1)[1].removesuffix(":*")


def _page_key(token: str) -> tuple[int, int]:
    parts = _decode(token)
    try:
        return int(parts[-2]), int(parts[-1])
    except (IndexError, ValueError) as exc:
        raise logs_invalid(BAD_TOKEN) from exc


class LogsApi:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateLogGroup": self.create_log_group,
            "DeleteLogGroup": self.delete_log_group,
            "DescribeLogGroups": self.describe_log_groups,
            "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy,
            "DescribeLogStreams": self.describe_log_streams,
            "CreateLogStream": self.create_log_stream,
            "DeleteLogStream": self.delete_log_stream,
            "PutLogGroupDeletionProtection": self.put_deletion_protection,
            "UntagLogGroup": self.untag_log_group,
            "PutLogEvents": self.put_log_events,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
            "TagLogGroup": self.tag_log_group,
            "ListTagsLogGroup": self.list_tags_log_group,
        }
        self.operations.update(InsightsApi(store).operations)

    def handle(self, operation: str, data: dict[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise logs_error(
                "UnknownOperationException",
                f"The local CloudWatch Logs does not implement {operation}.",
            )
        return handler(data)

    # --- groups ----------------------------------------------------------------------

    def create_log_group(self, data: dict[str, Any]) -> dict[str, Any]:
        name = _group_name(data)
        protected = data.get("deletionProtectionEnabled", False)
        if not isinstance(protected, bool):
            raise logs_error(
                "SerializationException", "deletionProtectionEnabled must be a boolean."
            )
        if not self.store.create_group(name, data.get("tags"), protected=protected):
            raise logs_error(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            )
        return {}

    def delete_log_group(self, data: dict[str, Any]) -> dict[str, Any]:
        self.store.delete_group(_group_name(data))
        return {}

    def describe_log_groups(self, data: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(data, 50, 50)
        start_after = None
        if data.get("nextToken"):
            start_after = "/".join(_decode(data["nextToken"]))
        prefix, pattern = data.get("logGroupNamePrefix"), data.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise logs_invalid(
                "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters."
            )
        if pattern is not None and pattern != "":
            _check_name(pattern, "logGroupNamePattern")
        groups, last = self.store.describe_groups(
            prefix or "", start_after, limit, pattern if pattern else None
        )
        out: dict[str, Any] = {"logGroups": groups}
        if last is not None:
            out["nextToken"] = _encode(last)
        return out

    def put_retention_policy(self, data: dict[str, Any]) -> dict[str, Any]:
        days = data.get("retentionInDays")
        if days not in RETENTION_DAYS:
            raise logs_invalid(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(map(str, sorted(RETENTION_DAYS)))}]"
            )
        self.store.set_retention(_group_name(data), days)
        return {}

    def delete_retention_policy(self, data: dict[str, Any]) -> dict[str, Any]:
        self.store.set_retention(_group_name(data), None)
        return {}

    def put_deletion_protection(self, data: dict[str, Any]) -> dict[str, Any]:
        protected = data.get("deletionProtectionEnabled")
        if not isinstance(protected, bool):
            raise logs_invalid("deletionProtectionEnabled is required.")
        self.store.protect_group(_group_name(data), protected)
        return {}

    # --- streams ---------------------------------------------------------------------

    def delete_log_stream(self, data: dict[str, Any]) -> dict[str, Any]:
        stream = data.get("logStreamName")
        if not isinstance(stream, str) or not stream:
            raise logs_invalid("logStreamName is required.")
        self.store.delete_stream(_group_name(data), stream)
        return {}

    def describe_log_streams(self, data: dict[str, Any]) -> dict[str, Any]:
        order = data.get("orderBy", "LogStreamName")
        if order not in ("LogStreamName", "LastEventTime"):
            raise logs_invalid(f"orderBy must be LogStreamName or LastEventTime, not {order!r}.")
        prefix = data.get("logStreamNamePrefix") or ""
        if prefix and order == "LastEventTime":
            raise logs_invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = _limit(data, 50, 50)
        streams = self.store.describe_streams(
            _group_name(data), prefix, order == "LastEventTime", bool(data.get("descending"))
        )
        offset = 0
        if data.get("nextToken"):
            try:
                offset = int(_decode(data["nextToken"])[0])
            except ValueError as exc:
                raise logs_invalid(BAD_TOKEN) from exc
        out: dict[str, Any] = {"logStreams": streams[offset : offset + limit]}
        if offset + limit < len(streams):
            out["nextToken"] = _encode(offset + limit)
        return out

    def create_log_stream(self, data: dict[str, Any]) -> dict[str, Any]:
        stream = data.get("logStreamName")
        if not isinstance(stream, str) or not stream:
            raise logs_invalid("logStreamName is required.")
        if not self.store.create_stream(_group_name(data), stream):
            raise logs_error(
                "ResourceAlreadyExistsException", "The specified log stream already exists"
            )
        return {}

    # --- events ----------------------------------------------------------------------

    def put_log_events(self, data: dict[str, Any]) -> dict[str, Any]:
        """For callers that seed logs themselves; sandboxes write through the LogSink."""
        group, stream = _group_name(data), data.get("logStreamName")
        if not isinstance(stream, str) or not self.store.has_stream(group, stream):
            raise logs_error(
                "ResourceNotFoundException", "The specified log stream does not exist."
            )
        events = data.get("logEvents") or []
        if not isinstance(events, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("timestamp"), int)
            and isinstance(e.get("message"), str)
            for e in events
        ):
            raise logs_invalid("logEvents must be a list of {timestamp, message}.")
        stamps = [e["timestamp"] for e in events]
        if stamps != sorted(stamps):
            raise logs_invalid(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        self.store.put_events(group, stream, [(e["timestamp"], e["message"]) for e in events])
        return {"nextSequenceToken": _encode("seq", len(events))}

    def get_log_events(self, data: dict[str, Any]) -> dict[str, Any]:
        """Forward ("f") and backward ("b") tokens; an exhausted direction echoes its token."""
        stream = data.get("logStreamName")
        if not isinstance(stream, str) or not stream:
            raise logs_invalid("logStreamName is required.")
        limit = _limit(data, MAX_PAGE_EVENTS, MAX_PAGE_EVENTS)
        events = self.store.stream_events(
            _group_name(data), stream, data.get("startTime"), data.get("endTime")
        )
        token = data.get("nextToken")
        keys = [(e.timestamp, e.seq) for e in events]
        if token:
            direction = _decode(token)[0]
            key = _page_key(token)
            if direction == "f":
                page = [e for e, k in zip(events, keys, strict=True) if k > key][:limit]
            elif direction == "b":
                page = [e for e, k in zip(events, keys, strict=True) if k < key][-limit:]
            else:
                raise logs_invalid(BAD_TOKEN)
        else:
            direction, key = ("f", (-1, -1)) if data.get("startFromHead") else ("b", (2**62, 0))
            page = events[:limit] if direction == "f" else events[-limit:]
        first = (page[0].timestamp, page[0].seq) if page else key
        last = (page[-1].timestamp, page[-1].seq) if page else key
        if not page and direction == "b":
            last = (-1, -1)  # nothing before: reading forward starts from the beginning
        return {
            "events": [self._output(e) for e in page],
            "nextForwardToken": _encode("f", *last),
            "nextBackwardToken": _encode("b", *first),
        }

    @staticmethod
    def _output(event: Event) -> dict[str, Any]:
        return {
            "timestamp": event.timestamp,
            "message": event.message,
            "ingestionTime": event.ingestion,
        }

    def filter_log_events(self, data: dict[str, Any]) -> dict[str, Any]:
        names = data.get("logStreamNames")
        prefix = data.get("logStreamNamePrefix")
        if names and prefix:
            raise logs_invalid("logStreamNames and logStreamNamePrefix are mutually exclusive")
        after = _page_key(data["nextToken"]) if data.get("nextToken") else None
        events, searched, resume = self.store.filter_events(
            _group_name(data),
            stream_names=names,
            stream_prefix=prefix,
            start=data.get("startTime"),
            end=data.get("endTime"),
            pattern=data.get("filterPattern"),
            after=after,
            limit=_limit(data, MAX_PAGE_EVENTS, MAX_PAGE_EVENTS),
        )
        out: dict[str, Any] = {
            "events": events,
            "searchedLogStreams": [
                {"logStreamName": s, "searchedCompletely": True} for s in searched
            ],
        }
        if resume is not None:
            out["nextToken"] = _encode("p", *resume)
        return out

    # --- tags ------------------------------------------------------------------------

    def tag_resource(self, data: dict[str, Any]) -> dict[str, Any]:
        self.store.tag_group(_group_from_arn(data.get("resourceArn")), data.get("tags") or {})
        return {}

    def untag_resource(self, data: dict[str, Any]) -> dict[str, Any]:
        self.store.untag_group(_group_from_arn(data.get("resourceArn")), data.get("tagKeys") or [])
        return {}

    def list_tags_for_resource(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"tags": self.store.group_tags(_group_from_arn(data.get("resourceArn")))}

    def tag_log_group(self, data: dict[str, Any]) -> dict[str, Any]:
        self.store.tag_group(_group_name(data), data.get("tags") or {})
        return {}

    def untag_log_group(self, data: dict[str, Any]) -> dict[str, Any]:
        keys = data.get("tags")
        if not isinstance(keys, list) or not keys:
            raise logs_invalid("tags is required: the keys of the tags to remove.")
        self.store.untag_group(_group_name(data), [str(k) for k in keys])
        return {}

    def list_tags_log_group(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"tags": self.store.group_tags(_group_name(data))}
