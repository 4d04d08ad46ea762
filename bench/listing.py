"""`bench ls`: every function of the regions with its last invocation (the newest event
of its log group), to find the forgotten ones. Read-only; every control-plane request
goes through the shared ControlPlane pacing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.aws_errors import error_code
from bench.deploy import CONTROL_PLANE_RATE_PER_S, ControlPlane
from bench.errors import TargetError
from bench.housekeeping import open_region, paginate, parse_time, region_list
from bench.naming import log_group_of
from bench.pacing import RateLimiter


@dataclass
class FunctionRow:
    name: str
    runtime: str | None
    memory_mb: int | None
    last_modified: datetime | None
    last_invocation: datetime | None
    # False when the credentials may not read the function's log group (the harness
    # policy grants only its own stage's): the last invocation is then unknown, not "never".
    logs_readable: bool = True
    region: str | None = None  # set when several regions are listed


def list_region_functions(
    *,
    inactive_days: int | None = None,
    region: str | list[str] | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> list[FunctionRow]:
    """Every function of the region with its last invocation (newest log stream event)."""
    cutoff = (
        datetime.now(UTC) - timedelta(days=inactive_days) if inactive_days is not None else None
    )
    rows = []
    regions = region_list(region)
    for name in regions:
        with open_region(name, profile, endpoint_url, "dev") as target:
            cp = ControlPlane.from_target(target, RateLimiter(CONTROL_PLANE_RATE_PER_S))
            try:
                for fn in paginate(cp.lambda_client, "list_functions", "Functions"):
                    readable, last = _last_invocation(cp, log_group_of(fn["FunctionName"]))
                    if cutoff and last and last > cutoff:
                        continue
                    rows.append(
                        FunctionRow(
                            name=fn["FunctionName"],
                            runtime=fn.get("Runtime"),
                            memory_mb=fn.get("MemorySize"),
                            last_modified=parse_time(fn.get("LastModified")),
                            last_invocation=last,
                            logs_readable=readable,
                            region=target.region if len(regions) > 1 else None,
                        )
                    )
            except (ClientError, BotoCoreError) as exc:
                raise TargetError(f"listing functions: {exc}") from None
    return sorted(rows, key=lambda r: (r.region or "", r.name))


def _last_invocation(cp: ControlPlane, group: str) -> tuple[bool, datetime | None]:
    """(whether the group could be read, the newest event in it)."""
    try:
        streams = cp.call(
            lambda: cp.logs_client.describe_log_streams(
                logGroupName=group, orderBy="LastEventTime", descending=True, limit=1
            ),
            "DescribeLogStreams",
        ).get("logStreams", [])
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            return True, None
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("AccessDeniedException", "AccessDenied") or status == 403:
            return False, None  # another stage's or someone else's logs: not ours to read
        raise
    if not streams or not streams[0].get("lastEventTimestamp"):
        return True, None
    return True, datetime.fromtimestamp(streams[0]["lastEventTimestamp"] / 1000, UTC)


def format_listing(rows: list[FunctionRow]) -> Any:
    from rich.table import Table

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "never"

    table = Table(title=f"{len(rows)} function(s)")
    regional = any(row.region for row in rows)
    columns = ("name", "runtime", "memory", "last modified", "last invocation")
    for column in ("region", *columns) if regional else columns:
        table.add_column(column)
    for row in rows:
        memory = f"{row.memory_mb} MB" if row.memory_mb else "-"
        last = when(row.last_invocation) if row.logs_readable else "unknown (logs not readable)"
        cells = (row.name, row.runtime or "-", memory, when(row.last_modified), last)
        table.add_row(*((row.region or "-", *cells) if regional else cells))
    return table
