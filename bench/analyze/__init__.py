"""`bench analyze`: cold starts in production, from the REPORT lines functions already log.

Selects functions, reads their platform lines over a window (FilterLogEvents, or Logs
Insights for large windows), turns each REPORT into an invocation record of phase
`production` and stores them as a run in the usual results format, one cell per
function, while the per-function figures accumulate. Read-only: nothing is created or
changed on the target (`bench iam-policy --analyze` prints what it needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.analyze.records import LOOKBACK_MS, Malformed, ProductionRecorder
from bench.analyze.select import Function, Window, parse_tags, parse_window, select_functions
from bench.analyze.summary import FunctionFigures
from bench.errors import EXIT_OK, EXIT_RUN_FAILED, InputError, TargetError, one_line

READERS = ("auto", "filter", "insights")
# `auto` reads windows at least this long with Logs Insights (one query per 10,000 lines
# instead of one FilterLogEvents page per 10,000 at 5 a second; Insights bills per GB).
INSIGHTS_FROM_MS = 6 * 3_600_000
BATCH = 5_000  # records written and flushed together
MAX_MALFORMED_EVENTS = 100  # each named in events.jsonl; the rest counted in one line


@dataclass
class AnalyzeOptions:
    functions: list[str] = field(default_factory=list)
    prefix: str | None = None
    tags: list[str] = field(default_factory=list)
    since: str | None = None
    start: str | None = None
    end: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    results_root: Path = Path("results")
    reports_root: Path | None = None  # where its page goes; None: no page
    name: str = "production"
    reader: str = "auto"


@dataclass
class AnalyzeOutcome:
    run_dir: Path
    run_id: str
    status: str
    reader: str
    window: dict[str, str]
    functions: dict[str, dict[str, Any]]  # name -> production.functions entry
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.status == "complete" else EXIT_RUN_FAILED


def _proactive_threshold_ms() -> float:
    from bench.matrix import Matrix

    return float(Matrix.model_fields["proactive_threshold_ms"].default)


def analyze(options: AnalyzeOptions) -> AnalyzeOutcome:
    """Everything `bench analyze` does; input errors are raised before anything is read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from bench.deploy import CONTROL_PLANE_RATE_PER_S, ControlPlane
    from bench.pacing import RateLimiter
    from bench.target_aws import open_aws_target

    if options.reader not in READERS:
        raise InputError(f"--reader {options.reader!r}: expected one of {', '.join(READERS)}")
    if not options.name or not options.name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--name {options.name!r}: letters, digits, - and _ only")
    window = parse_window(options.since, options.start, options.end)
    tags = parse_tags(options.tags)
    reader = options.reader
    if reader == "auto":
        long = window.end_ms - window.start_ms >= INSIGHTS_FROM_MS
        reader = "insights" if long else "filter"
    with open_aws_target(
        region=options.region, profile=options.profile, endpoint_url=options.endpoint_url,
        require_account=False,
    ) as target:  # fmt: skip
        cp = ControlPlane.from_target(target, RateLimiter(CONTROL_PLANE_RATE_PER_S))
        try:
            functions = select_functions(
                cp, names=options.functions, prefix=options.prefix, tags=tags
            )
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"selecting functions: {one_line(exc)}") from None
        outcome = _Study(options, window, reader, target, functions).run()
    if options.reports_root is not None:
        _render(outcome, options.reports_root)
    return outcome


def _render(outcome: AnalyzeOutcome, reports_root: Path) -> None:
    """The run's page, as `bench run` writes one. The run is stored whatever happens here:
    a page that cannot be written is noted with how to retry."""
    from bench.errors import BenchError
    from bench.report import render_run

    try:
        outcome.report_path = render_run(outcome.run_dir, reports_root)
    except (BenchError, OSError) as exc:
        outcome.notes.append(
            f"report not rendered ({one_line(exc)}); retry: bench report {outcome.run_dir}"
        )


class _Study:
    """One analysis: its run directory, and each function read in turn."""

    def __init__(
        self, options: AnalyzeOptions, window: Window, reader: str, target: Any,
        functions: list[Function],
    ) -> None:  # fmt: skip
        from bench import __version__
        from bench.cost import PRICE_TABLE_DATE
        from bench.results import RunWriter, new_manifest, new_run_id, utc_timestamp

        self.window, self.reader, self.target, self.functions = window, reader, target, functions
        self.threshold = _proactive_threshold_ms()
        self.run_id = new_run_id(options.name)
        self.writer = RunWriter.create(options.results_root, self.run_id)
        selection = {"functions": sorted(options.functions), "prefix": options.prefix,
                     "tags": sorted(options.tags)}  # fmt: skip
        self.manifest: dict[str, Any] = dict(new_manifest(
            run_id=self.run_id,
            tool_version=__version__,
            matrix={"name": options.name, "kind": "production", "selection": selection,
                    "proactive_threshold_ms": self.threshold},
            target=target.describe(),
            started=utc_timestamp(),
            cost={"estimate_usd": None, "worst_case_usd": None, "actual_usd": None,
                  "price_table": PRICE_TABLE_DATE},
        ))  # fmt: skip
        self.manifest["production"] = {
            "window": window.describe(),
            "reader": reader,
            "lookback_ms": LOOKBACK_MS,
            "functions": {},
        }
        for fn in functions:
            self.manifest["cells"][fn.name] = {
                "runtime": fn.runtime, "memory_mb": fn.memory_mb,
                "architecture": fn.architecture, "package_mb": 0.0, "package_kind": "none",
                "function_name": fn.name, "status": "pending", "error": None,
            }  # fmt: skip
        self.writer.write_manifest(self.manifest)

    def run(self) -> AnalyzeOutcome:
        from bench.results import START_TYPES, utc_timestamp

        totals = dict.fromkeys(START_TYPES, 0)
        cost = 0.0
        try:
            for fn in self.functions:
                entry = self._function(fn)
                for kind, count in entry.get("summary", {}).get("start_types", {}).items():
                    totals[kind] += count
                spent = entry.get("summary", {}).get("cost_usd", {})
                cost += (spent.get("init") or 0.0) + (spent.get("invoke") or 0.0)
        except BaseException:
            self.manifest.update(status="aborted", finished=utc_timestamp())
            self.writer.write_manifest(self.manifest)
            self.writer.close()
            raise
        failed = any(c["status"] != "complete" for c in self.manifest["cells"].values())
        self.manifest.update(
            status="partial" if failed else "complete",
            finished=utc_timestamp(),
            start_types=totals,
        )
        self.manifest["cost"]["actual_usd"] = round(cost, 8)
        self.writer.write_manifest(self.manifest)
        self.writer.close()
        return AnalyzeOutcome(
            run_dir=Path(self.writer.path), run_id=self.run_id, status=self.manifest["status"],
            reader=self.reader, window=self.window.describe(),
            functions=self.manifest["production"]["functions"],
        )  # fmt: skip

    def _function(self, fn: Function) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        from bench.analyze.read import InsightsReader, ReadStats, read_filtered
        from bench.aws_errors import error_code
        from bench.cloudwatch import FILTER_LOG_EVENTS_PER_S
        from bench.pacing import RateLimiter

        entry: dict[str, Any] = {"log_group": fn.log_group, "log_format": fn.log_format,
                                 "code_size_bytes": fn.code_size_bytes}  # fmt: skip
        self.manifest["production"]["functions"][fn.name] = entry
        stats = ReadStats(self.reader)
        logs = self.target.logs_client()
        first, last = self.window.start_ms - LOOKBACK_MS, self.window.end_ms
        if self.reader == "insights":
            events = InsightsReader(logs, stats).read(fn.log_group, first, last)
        else:
            events = read_filtered(logs, fn.log_group, first, last, stats=stats,
                                   limiter=RateLimiter(FILTER_LOG_EVENTS_PER_S))
        recorder = ProductionRecorder(
            run_id=self.run_id, function=fn, window_start_ms=self.window.start_ms,
            proactive_threshold_ms=self.threshold,
        )  # fmt: skip
        figures = FunctionFigures(fn.name, fn.memory_mb, fn.architecture, self.window.start_ms)
        cell = self.manifest["cells"][fn.name]
        try:
            self._record(recorder, figures, events)
            cell.update(status="complete")
        except (ClientError, BotoCoreError, TargetError) as exc:
            if error_code(exc) == "ResourceNotFoundException":
                # Never invoked (or its logs deleted): no log group, no invocation.
                cell.update(status="complete")
                self.writer.append_event("warning", f"log group {fn.log_group} does not exist",
                                         cell=fn.name)  # fmt: skip
            else:
                reason = f"reading {fn.log_group}: {one_line(exc)}"
                cell.update(status="failed", error=reason)
                self.writer.append_event("cell_failed", reason, cell=fn.name)
        entry["lines"] = recorder.counts.as_dict()
        entry["reads"] = {"calls": stats.calls, "throttles": stats.throttles,
                          "queries": stats.queries, "splits": stats.splits,
                          "fallbacks": stats.fallbacks}  # fmt: skip
        entry["summary"] = figures.summary()
        self.writer.write_manifest(self.manifest)
        return entry

    def _record(self, recorder: ProductionRecorder, figures: FunctionFigures, events: Any) -> None:
        records: list[dict[str, Any]] = []
        audit: list[tuple[str, str | None, str]] = []
        malformed = 0
        for item in recorder.feed(events):
            if isinstance(item, Malformed):
                malformed += 1
                audit.append(("malformed", None, item.message))
                if malformed <= MAX_MALFORMED_EVENTS:
                    self.writer.append_event(
                        "malformed", f"{item.stream} @ {item.timestamp_ms}: {item.reason}: "
                        f"{item.message[:200]!r}", cell=recorder.function.name,
                    )  # fmt: skip
                continue
            record, raw = item
            figures.add(record)
            records.append(record)
            audit.append(("cloudwatch", record["request_id"], raw))
            if len(records) >= BATCH:
                self._flush(records, audit)
        self._flush(records, audit)
        if malformed > MAX_MALFORMED_EVENTS:
            self.writer.append_event(
                "malformed", f"{malformed - MAX_MALFORMED_EVENTS} more malformed line(s), "
                "in report-lines.log", cell=recorder.function.name,
            )  # fmt: skip

    def _flush(self, records: list[dict[str, Any]], audit: list[Any]) -> None:
        self.writer.append_invocations(records)
        self.writer.append_report_lines(audit)
        records.clear()
        audit.clear()
