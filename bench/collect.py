"""Collecting REPORT lines from CloudWatch Logs after the cells are measured.

Each one is joined to its record by request id; what the Tail already said and
CloudWatch says otherwise is counted as a disagreement, and a REPORT line that never
arrives is an `unmatched` event. A failed collection leaves the run partial, not lost.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.classify import merge_cloudwatch, reports_wanted
from bench.cloudwatch import FILTER_LOG_EVENTS_PER_S
from bench.deploy import ControlPlane
from bench.errors import one_line
from bench.naming import log_group_of, run_prefix
from bench.pacing import RateLimiter
from bench.progress import RunProgress
from bench.recording import Recorder


def existing_groups(cp: ControlPlane, stage: str, run_rand: str) -> set[str]:
    """Only groups that exist can be filtered (a torn-down resumed run has none)."""
    prefix = log_group_of(run_prefix(stage, run_rand))
    found: set[str] = set()
    paginator = cp.logs_client.get_paginator("describe_log_groups")
    for page in paginator.paginate(logGroupNamePrefix=prefix):
        found.update(g["logGroupName"] for g in page.get("logGroups", []))
    return found


def collect_reports(
    recorder: Recorder,
    cp: ControlPlane,
    logs_client: Any,
    *,
    stage: str,
    timeout_s: float,
    progress: RunProgress,
) -> None:
    """Merge CloudWatch's REPORT lines into the recorder's records, and say what is missing."""
    from bench.cloudwatch import ReportCollector

    existing = existing_groups(cp, stage, recorder.run_rand)

    def group_of(record: dict[str, Any]) -> str | None:
        group = log_group_of(recorder.cell(record["cell"])["function_name"])
        return group if group in existing else None

    groups, by_id = reports_wanted(recorder.records, group_of)
    if not groups:
        return
    collector = ReportCollector(
        logs_client,
        limiter=RateLimiter(FILTER_LOG_EVENTS_PER_S),
        on_throttle=lambda exc, attempt, delay: recorder.event(
            "throttle", f"FilterLogEvents, retry {attempt}"
        ),
    )
    progress.set("logs", 0, total=len(by_id))
    try:
        result = collector.collect(
            groups,
            start_ms=recorder.started_ms - 60_000,
            end_ms=None,
            timeout_s=timeout_s,
            poll_interval_s=min(5.0, max(0.5, timeout_s / 30)),
            on_progress=lambda found, expected: progress.set("logs", found),
        )
    except (ClientError, BotoCoreError) as exc:
        # The Tail's REPORT lines stay; the run is partial, not lost.
        recorder.event("warning", f"CloudWatch collection failed: {one_line(exc)}")
        return
    with recorder.lock:
        for record, raw, differing in merge_cloudwatch(by_id, result.found):
            recorder.report_line("cloudwatch", record["request_id"], raw)
            if differing:
                recorder.disagreements += 1
                recorder.event(
                    "warning",
                    f"{record['request_id']}: Tail and CloudWatch disagree on "
                    + ", ".join(differing),
                    cell=record["cell"],
                )
        for request_id in sorted(result.missing):
            recorder.event(
                "unmatched",
                f"{request_id}: no REPORT line in CloudWatch after {timeout_s:.0f}s",
                cell=by_id[request_id]["cell"],
            )
