"""The experiment: cells, cold rounds, warm phase, log collection, manifest, teardown.

The driver sees a Target's clients and numbers and nothing else, so the same code runs
on the embedded emulator and on AWS. Records are appended as they finish, the manifest
is rewritten as the run progresses, and a crash at any point leaves a readable partial run.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench import __version__
from bench.burst import InvokeOutcome, fire_burst, invoke_once
from bench.classify import (
    bench_event,
    classify_all,
    completeness,
    make_record,
    merge_cloudwatch,
    reports_wanted,
    tail_report,
)
from bench.concurrency import plan_concurrency, release_cell, reserve_for_cell
from bench.deploy import (
    CONTROL_PLANE_RATE_PER_S,
    ControlPlane,
    FunctionSpec,
    bump,
    deploy_function,
    execution_role,
    teardown,
)
from bench.errors import EXIT_OK, EXIT_RUN_FAILED, InputError, TargetError
from bench.matrix import Cell, Matrix, load_matrix, parse_matrix
from bench.naming import function_name, log_group_of, resource_tags, run_prefix, run_suffix
from bench.pacing import RateLimiter
from bench.progress import RunProgress, print_summary, sigint_stops
from bench.results import (
    RunWriter,
    new_manifest,
    new_run_id,
    parse_timestamp,
    read_manifest,
    read_records,
    utc_timestamp,
)
from bench.target import Target, build_platform, open_target

# CloudWatch Logs allows 5 FilterLogEvents a second per account and region, shared.
LOGS_RATE_PER_S = 5.0
DEPLOY_WORKERS = 4


@dataclass
class RunOptions:
    matrix_path: Path
    results_root: Path = Path("results")
    reports_root: Path = Path("reports")
    keep: bool = False
    accept_cost: bool = False
    resume: str | None = None
    logs_timeout_s: float | None = None
    strategy: str | None = None
    stage: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


@dataclass
class RunOutcome:
    exit_code: int
    run_dir: Path
    report_path: Path | None
    status: str


def load_run_matrix(options: RunOptions) -> Matrix:
    matrix = load_matrix(options.matrix_path)
    if options.strategy is not None:
        if options.strategy not in ("burst", "sequential"):
            raise InputError(f"--strategy {options.strategy!r}: expected burst or sequential")
        data = matrix.model_dump(mode="json")
        data["strategy"] = options.strategy
        matrix = parse_matrix(data, str(options.matrix_path))
    return matrix


def build_artifacts(matrix: Matrix, cells: list[Cell]) -> dict[str, Any]:
    """One package per distinct code (memory never changes the zip), checked against
    Lambda's size limits before anything is created. Requirements are installed for what
    the target really runs (see `build_platform`)."""
    from bench.fixtures import build_artifact, check_limits

    build_for = build_platform(matrix.target)
    by_code: dict[Any, Any] = {}
    artifacts = {}
    for cell in cells:
        if cell.code_key not in by_code:
            by_code[cell.code_key] = build_artifact(cell, build_for=build_for)
        artifacts[cell.id] = by_code[cell.code_key]
    bucket = getattr(matrix.target, "artifact_bucket", None)
    check_limits(artifacts, bucket)
    return artifacts


def run_matrix(options: RunOptions, console: Any) -> RunOutcome:
    """Everything `bench run` does; input errors are raised before anything is created."""
    matrix = load_run_matrix(options)
    from bench.cost import check_budget, estimate_matrix

    source = str(options.matrix_path)
    estimate = estimate_matrix(matrix, source=source)
    check_budget(estimate, matrix.budget_usd, options.accept_cost, source=source)
    prior = _load_prior(options, matrix) if options.resume else None
    cells = matrix.cells()
    artifacts = build_artifacts(matrix, cells)
    with open_target(
        matrix,
        region=options.region,
        profile=options.profile,
        endpoint_url=options.endpoint_url,
        stage=options.stage,
    ) as target:
        experiment = Experiment(
            options,
            matrix=matrix,
            target=target,
            cells=cells,
            artifacts=artifacts,
            estimate=estimate,
            console=console,
        )
        try:
            return experiment.run(prior)
        except (ClientError, BotoCoreError) as exc:
            where = target.endpoint_url or f"AWS {target.region}"
            raise TargetError(f"{where}: {_one_line(exc)}") from None


@dataclass
class Prior:
    """What a killed run left: its manifest and every record it wrote."""

    manifest: dict[str, Any]
    records: list[dict[str, Any]]


def _load_prior(options: RunOptions, matrix: Matrix) -> Prior:
    """The run to resume, read before anything changes: a corrupt record in the middle
    of its invocations.jsonl stops the resume and leaves the file as it is."""
    from bench.errors import ResultsFormatError

    run_dir = options.results_root / str(options.resume)
    try:
        manifest = read_manifest(run_dir)
        records, _partial_tail = read_records(run_dir)
    except ResultsFormatError as exc:
        raise InputError(f"--resume {options.resume}: {exc}; nothing was changed") from None
    if manifest.get("matrix") != matrix.model_dump(mode="json"):
        raise InputError(
            f"--resume {options.resume}: {options.matrix_path} is not the matrix that run used; "
            "resume with the same file"
        )
    if manifest.get("status") == "complete":
        raise InputError(f"--resume {options.resume}: that run is already complete")
    return Prior(dict(manifest), records)


def _cost_section(estimate: Any) -> dict[str, Any]:
    return {
        "estimate_usd": round(estimate.expected_usd, 6),
        "worst_case_usd": round(estimate.worst_case_usd, 6),
        "actual_usd": None,
        "price_table": estimate.price_table,
    }


class Experiment:
    """One run against one open target."""

    def __init__(
        self,
        options: RunOptions,
        *,
        matrix: Matrix,
        target: Target,
        cells: list[Cell],
        artifacts: dict[str, Any],
        estimate: Any,
        console: Any,
    ) -> None:
        self.options = options
        self.matrix = matrix
        self.target = target
        self.cells = cells
        self.artifacts = artifacts
        self.estimate = estimate
        self.console = console
        self.stop = threading.Event()
        self.lock = threading.RLock()
        self.records: list[dict[str, Any]] = []
        self.limiter = RateLimiter(CONTROL_PLANE_RATE_PER_S)
        self.cp = ControlPlane.from_target(target, self.limiter, on_event=self._event)
        self.writer: Any = None
        self.manifest: dict[str, Any] = {}
        self.progress: RunProgress | None = None
        self.run_start_ns = time.perf_counter_ns()
        self.started_ms = int(time.time() * 1000)
        self.disagreements = 0

    # ----------------------------------------------------------------- bookkeeping

    def _event(self, kind: str, detail: str, cell: str | None = None) -> None:
        if self.writer is not None:
            with self.lock:
                self.writer.append_event(kind, detail, cell=cell)

    def _save_manifest(self) -> None:
        with self.lock:
            self.manifest["target"] = self.target.describe()
            self.writer.write_manifest(self.manifest)

    def _set_cell(self, cell_id: str, status: str, error: str | None = None) -> None:
        from bench.quality import verdict

        with self.lock:
            contention = (r.get("contention") for r in self.records if r["cell"] == cell_id)
            self.manifest["cells"][cell_id].update(
                status=status, error=error, quality=verdict(contention)
            )
            self._save_manifest()
        if status == "failed":
            self._event("cell_failed", error or "failed", cell_id)

    def _append(self, record: dict[str, Any], outcome: InvokeOutcome) -> None:
        found = tail_report(outcome)
        with self.lock:
            self.records.append(record)
            self.writer.append_invocation(record)
            if found is not None:
                self.writer.append_report_line("tail", outcome.request_id or "-", found[1])
            if outcome.status == "throttled":
                self.writer.append_event(
                    "throttle", f"{record['phase']} invoke throttled", cell=record["cell"]
                )
        if self.progress is not None:
            self.progress.advance("invocations")

    # ----------------------------------------------------------------- setup

    def _open_results(self, prior: Prior | None) -> None:
        if prior is not None:
            run_id = str(prior.manifest["run_id"])
            self.writer = RunWriter.open_existing(self.options.results_root, run_id)
            self.manifest = prior.manifest
            self.manifest.update(status="running", finished=None)
            cells = self.manifest["cells"]
            done = {cid for cid, c in cells.items() if c.get("status") == "complete"}
            for cid, cell in cells.items():
                if cid not in done:  # failed cells get another chance
                    cell.update(status="pending", error=None)
            self.records = [r for r in prior.records if r["cell"] in done]
            # client_send_ns stays relative to the original start, not to this process's.
            started = parse_timestamp(str(self.manifest["started"]))
            elapsed_ns = int((datetime.now(UTC) - started).total_seconds() * 1e9)
            self.run_start_ns = time.perf_counter_ns() - elapsed_ns
            # The killed run's REPORT lines are older than this process: search from its start.
            self.started_ms = int(started.timestamp() * 1000)
            self.writer.rewrite_invocations(self.records)
            self._event("warning", f"resumed; {len(done)} complete cell(s) kept")
        else:
            run_id = new_run_id(self.matrix.name)
            self.writer = RunWriter.create(self.options.results_root, run_id)
            self.manifest = dict(
                new_manifest(
                    run_id=run_id,
                    tool_version=__version__,
                    matrix=self.matrix.model_dump(mode="json"),
                    target=self.target.describe(),
                    started=utc_timestamp(),
                    cost=_cost_section(self.estimate),
                )
            )
        self.run_id = run_id
        self.run_rand = run_suffix(run_id)
        for index, cell in enumerate(self.cells):
            artifact = self.artifacts[cell.id]
            files = artifact.files if isinstance(artifact.files, int) else len(artifact.files)
            entry = self.manifest["cells"].setdefault(cell.id, {"status": "pending", "error": None})
            entry.update(
                runtime=cell.runtime,
                memory_mb=cell.memory_mb,
                architecture=cell.architecture,
                package_mb=cell.package_mb,
                package_kind=cell.package_kind,
                function_name=function_name(self.target.stage, self.run_rand, index),
                artifact={
                    "sha256": artifact.sha256,
                    "zipped_bytes": artifact.zipped_bytes,
                    "unzipped_bytes": artifact.unzipped_bytes,
                    "files": files,
                    "built_for": getattr(artifact, "built_for", None),
                    "requirements_resolved": getattr(artifact, "requirements_resolved", None),
                },
            )
        self._save_manifest()

    # ----------------------------------------------------------------- the run

    def run(self, prior: Prior | None) -> RunOutcome:
        pending = [
            (i, c)
            for i, c in enumerate(self.cells)
            if prior is None or prior.manifest["cells"].get(c.id, {}).get("status") != "complete"
        ]
        # Reservations, or the shared pool, must fit before the first resource exists.
        self.concurrency = plan_concurrency(
            self.cp, reserve=self.matrix.reserve, burst=self.matrix.burst, cells=len(pending),
            parallel_cells=self.target.parallel_cells,
        )  # fmt: skip
        try:
            role_arn = execution_role(self.target)
        except Exception as exc:  # IAM denied, or an endpoint without IAM
            raise TargetError(
                f"execution role for stage {self.target.stage}: {_one_line(exc)}; "
                "give target.role_arn or credentials that may manage the stage's role"
            ) from None
        self._open_results(prior)
        self.manifest["concurrency"] = self.concurrency.describe()
        self._save_manifest()
        per_cell = self.matrix.cold_starts + self.matrix.warm_invocations
        try:
            with (
                sigint_stops(self.stop),
                RunProgress(
                    self.console,
                    cells=len(pending),
                    rounds=len(list(self._cold_plan())) * len(pending),
                    invocations=per_cell * len(pending),
                ) as progress,
            ):
                self.progress = progress
                self._deploy_all(pending, role_arn, fresh=prior is None)
                self._measure_all(pending)
                if not self.stop.is_set():
                    self._collect()
        except BaseException as exc:
            self._crashed(exc)
            raise
        self.progress = None
        return self._finish()

    def _crashed(self, exc: BaseException) -> None:
        """Whatever broke (a second Ctrl-C included), say so in the results and leave no
        resources behind; the error itself goes on to the caller."""
        with contextlib.suppress(Exception):
            self._event("warning", f"run stopped by {_one_line(exc)}")
            self.manifest.update(status="partial", finished=utc_timestamp())
            self._save_manifest()
        if not self.options.keep:
            names = [c["function_name"] for c in self.manifest.get("cells", {}).values()]
            with contextlib.suppress(Exception):
                teardown(self.cp, names)

    def _deploy_all(self, pending: list[tuple[int, Cell]], role_arn: str, fresh: bool) -> None:
        created = datetime.now(UTC)

        def deploy(item: tuple[int, Cell]) -> None:
            _, cell = item
            if self.stop.is_set():
                return
            entry = self.manifest["cells"][cell.id]
            artifact = self.artifacts[cell.id]
            spec = FunctionSpec.for_cell(
                cell,
                artifact,
                name=entry["function_name"],
                timeout_s=self.matrix.timeout_s,
                reserved_concurrency=None,  # taken per cell as it is measured
                role_arn=role_arn,
                tags=resource_tags(
                    run_id=self.run_id, stage=self.target.stage, cell_id=cell.id, created=created
                ),
                artifact_bucket=self.target.artifact_bucket,
            )
            if artifact.kind != "requirements":  # ours alone: no registry's code inside
                self.target.vouch_for(artifact.sha256)
            try:
                if not fresh:  # a killed run may have left the function half-measured
                    teardown(self.cp, [spec.name], log_groups=False, packages=False)
                deploy_function(self.cp, spec)
            except Exception as exc:
                self._set_cell(cell.id, "failed", f"deploy: {_one_line(exc)}")
            assert self.progress is not None
            self.progress.advance("deploy")

        with ThreadPoolExecutor(DEPLOY_WORKERS, thread_name_prefix="deploy") as pool:
            list(pool.map(deploy, pending))

    def _measure_all(self, pending: list[tuple[int, Cell]]) -> None:
        burst_pool = self.matrix.burst * self.target.parallel_cells + 2
        self.invoker = self.target.lambda_client(max_pool=burst_pool)
        todo = [c for _, c in pending if self.manifest["cells"][c.id]["status"] != "failed"]

        def measure(cell: Cell) -> None:
            if self.stop.is_set():
                return
            name = self.manifest["cells"][cell.id]["function_name"]
            try:
                reserve_for_cell(self.cp, self.concurrency, name, cell.id)
                try:
                    self._measure_cell(cell)
                finally:
                    release_cell(self.cp, self.concurrency, name, cell.id)
            except Exception as exc:
                self._set_cell(cell.id, "failed", _one_line(exc))
            assert self.progress is not None
            self.progress.advance("cells", note=cell.id)

        with ThreadPoolExecutor(self.target.parallel_cells, thread_name_prefix="cell") as pool:
            list(pool.map(measure, todo))

    def _cold_plan(self) -> Iterator[int]:
        """Sizes of the cold rounds: bursts, or one at a time for `sequential`."""
        m = self.matrix
        if m.strategy == "sequential":
            yield from [1] * m.cold_starts
            return
        for r in range(math.ceil(m.cold_starts / m.burst)):
            yield min(m.burst, m.cold_starts - r * m.burst)

    def _measure_cell(self, cell: Cell) -> None:
        name = self.manifest["cells"][cell.id]["function_name"]
        failures: list[str] = []
        for round_, size in enumerate(self._cold_plan(), start=1):
            if self.stop.is_set():
                return
            bump(self.cp, name, f"{self.run_rand}-{round_}", cell.id)
            payloads = [
                bench_event(self.run_id, cell.id, round_, seq) for seq in range(1, size + 1)
            ]
            # Every cold round, one invoke or many, opens its connections (TCP and TLS)
            # before the clock starts, so a round of one measures what a burst does.
            outcomes = fire_burst(
                self.invoker, name, payloads, run_start_ns=self.run_start_ns
            ).outcomes
            for seq, outcome in enumerate(outcomes, start=1):
                record = make_record(
                    run_id=self.run_id,
                    cell=cell,
                    phase="cold",
                    round_=round_,
                    seq=seq,
                    outcome=outcome,
                )
                self._append(record, outcome)
                if outcome.status != "success":
                    failures.append(f"{outcome.status} {outcome.error_type or ''}".strip())
            assert self.progress is not None
            self.progress.advance("rounds")
            if len(failures) == len(self.records_of(cell)):
                # Every invoke so far failed (an init error, say): more would only repeat it.
                self._set_cell(cell.id, "failed", f"cold round {round_}: {failures[0]}")
                return
        for seq in range(1, self.matrix.warm_invocations + 1):
            if self.stop.is_set():
                return
            outcome = invoke_once(
                self.invoker,
                name,
                bench_event(self.run_id, cell.id, 0, seq),
                run_start_ns=self.run_start_ns,
            )
            self._append(
                make_record(
                    run_id=self.run_id, cell=cell, phase="warm", round_=0, seq=seq, outcome=outcome
                ),
                outcome,
            )
            if outcome.status != "success":
                failures.append(f"{outcome.status} {outcome.error_type or ''}".strip())
        if failures:
            self._set_cell(
                cell.id, "failed", f"{len(failures)} invocation(s) failed, first: {failures[0]}"
            )
        else:
            self._set_cell(cell.id, "complete")

    def records_of(self, cell: Cell) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.records if r["cell"] == cell.id]

    # ----------------------------------------------------------------- logs

    def _collect(self) -> None:
        from bench.logs import ReportCollector

        existing = self._existing_groups()

        def group_of(record: dict[str, Any]) -> str | None:
            group = log_group_of(self.manifest["cells"][record["cell"]]["function_name"])
            return group if group in existing else None

        groups, by_id = reports_wanted(self.records, group_of)
        if not groups:
            return
        timeout = self.options.logs_timeout_s
        if timeout is None:
            timeout = self.target.default_logs_timeout_s
        collector = ReportCollector(
            self.target.logs_client(),
            limiter=RateLimiter(LOGS_RATE_PER_S),
            on_throttle=lambda exc, attempt, delay: self._event(
                "throttle", f"FilterLogEvents, retry {attempt}"
            ),
        )
        progress = self.progress
        assert progress is not None
        progress.set("logs", 0, total=len(by_id))
        try:
            result = collector.collect(
                groups,
                start_ms=self.started_ms - 60_000,
                end_ms=None,
                timeout_s=timeout,
                poll_interval_s=min(5.0, max(0.5, timeout / 30)),
                on_progress=lambda found, expected: progress.set("logs", found),
            )
        except (ClientError, BotoCoreError) as exc:
            # The Tail's REPORT lines stay; the run is partial, not lost.
            self._event("warning", f"CloudWatch collection failed: {_one_line(exc)}")
            return
        with self.lock:
            for record, raw, differing in merge_cloudwatch(by_id, result.found):
                self.writer.append_report_line("cloudwatch", record["request_id"], raw)
                if differing:
                    self.disagreements += 1
                    self.writer.append_event(
                        "warning",
                        f"{record['request_id']}: Tail and CloudWatch disagree on "
                        + ", ".join(differing),
                        cell=record["cell"],
                    )
            for request_id in sorted(result.missing):
                self.writer.append_event(
                    "unmatched",
                    f"{request_id}: no REPORT line in CloudWatch after {timeout:.0f}s",
                    cell=by_id[request_id]["cell"],
                )

    def _existing_groups(self) -> set[str]:
        """Only groups that exist can be filtered (a torn-down resumed run has none)."""
        prefix = log_group_of(run_prefix(self.target.stage, self.run_rand))
        found: set[str] = set()
        paginator = self.cp.logs_client.get_paginator("describe_log_groups")
        for page in paginator.paginate(logGroupNamePrefix=prefix):
            found.update(g["logGroupName"] for g in page.get("logGroups", []))
        return found

    # ----------------------------------------------------------------- the end

    def _finish(self) -> RunOutcome:
        from bench.cost import actual_cost

        aborted = self.stop.is_set()
        with self.lock:
            start_types = classify_all(self.records, self.matrix.proactive_threshold_ms)
            counts = completeness(self.records, self.disagreements)
            self.writer.rewrite_invocations(self.records)
            cells_ok = all(c["status"] == "complete" for c in self.manifest["cells"].values())
            logs_ok = counts["cloudwatch"]["matched"] == counts["cloudwatch"]["expected"]
            status = "aborted" if aborted else ("complete" if cells_ok and logs_ok else "partial")
            self.target.refresh_local_info()
            self.manifest.update(
                completeness=counts,
                start_types=start_types,
                status=status,
                finished=utc_timestamp(),
            )
            self.manifest["cost"]["actual_usd"] = round(actual_cost(self.records), 6)
            self._save_manifest()
        if not self.options.keep:
            names = [c["function_name"] for c in self.manifest["cells"].values()]
            for failure in teardown(self.cp, names):
                self._event("warning", f"teardown: {failure}")
        return self._present(status)

    def _present(self, status: str) -> RunOutcome:
        """Summary, paths and report. The results are on disk by now: a failure to render
        them is reported (with how to retry) and does not turn the run into a crash."""
        self.writer.close()
        run_dir = Path(self.writer.path)
        report_path = None
        try:
            from bench.report import render_run

            report_path = render_run(run_dir, self.options.reports_root)
        except Exception as exc:
            self.console.print(
                f"report not rendered ({_one_line(exc)}); retry: bench report {run_dir}"
            )
        try:
            print_summary(self.console, run_dir)
        except Exception as exc:
            self.console.print(f"summary not shown ({_one_line(exc)})")
        self.console.print(f"status: {status}")
        self.console.print(f"results: {run_dir}")
        if report_path is not None:
            self.console.print(f"report: {report_path}")
        code = EXIT_OK if status == "complete" else EXIT_RUN_FAILED
        return RunOutcome(exit_code=code, run_dir=run_dir, report_path=report_path, status=status)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
