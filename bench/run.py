"""A run: cells deployed, measured, their REPORT lines collected, the functions torn down.

This module orchestrates; the jobs are elsewhere: measuring a cell (bench.measure),
keeping the results directory (bench.recording), collecting REPORT lines
(bench.collect). The driver sees a Target's clients and numbers and nothing else, so the
same code runs on the embedded emulator and on AWS. It returns an outcome; the CLI
prints it.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.concurrency import plan_concurrency, release_cell, reserve_for_cell
from bench.deploy import (
    CONTROL_PLANE_RATE_PER_S,
    ControlPlane,
    FunctionSpec,
    create_function_url,
    deploy_function,
    execution_role,
    teardown,
)
from bench.errors import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    BenchError,
    InputError,
    RunFailed,
    TargetError,
    one_line,
)
from bench.matrix import Cell, Matrix, load_matrix, parse_matrix
from bench.naming import resource_tags
from bench.pacing import RateLimiter
from bench.progress import RunProgress
from bench.progress_log import start_line
from bench.recording import Prior, Recorder
from bench.regions import Lane, TargetSet, open_targets, split
from bench.results import read_manifest, read_records
from bench.stopping import RunStop, StopNow
from bench.target import build_platform

# What deploying or measuring a cell may meet and still let the run go on: the target
# refusing (botocore) or an error the harness raises for the user. Anything else is a
# bug and stops the run with its traceback.
CELL_ERRORS = (ClientError, BotoCoreError, BenchError)

DEPLOY_WORKERS = 4


@dataclass
class RunOptions:
    matrix_path: Path | None  # None with --resume: the run's manifest holds its matrix
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
    started: float = field(default_factory=time.monotonic)  # elapsed time in progress lines


@dataclass
class RunOutcome:
    """How a run ended, for the CLI to print: the results are on disk whatever it says."""

    exit_code: int
    run_dir: Path
    report_path: Path | None
    status: str
    summary: Any = None  # the per-cell table (rich), when it could be read back
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why
    resume: str | None = None  # the command that completes an unfinished run


def matrix_source(options: RunOptions) -> str:
    """What error messages call the matrix: its file, or the manifest it came from."""
    if options.matrix_path is not None:
        return str(options.matrix_path)
    return str(options.results_root / str(options.resume) / "manifest.json")


def load_run_matrix(options: RunOptions) -> Matrix:
    source = matrix_source(options)
    if options.matrix_path is not None:
        matrix = load_matrix(options.matrix_path)
    elif options.resume:
        matrix = parse_matrix(_resumed_manifest(options).get("matrix"), source)
    else:
        raise InputError("bench run: give the matrix file, or --resume RUN_ID")
    if options.strategy is not None:
        if options.strategy not in ("burst", "sequential"):
            raise InputError(f"--strategy {options.strategy!r}: expected burst or sequential")
        data = matrix.model_dump(mode="json")
        data["strategy"] = options.strategy
        matrix = parse_matrix(data, source)
    return matrix


def _resumed_manifest(options: RunOptions) -> dict[str, Any]:
    from bench.errors import ResultsFormatError

    try:
        return dict(read_manifest(options.results_root / str(options.resume)))
    except ResultsFormatError as exc:
        raise InputError(f"--resume {options.resume}: {exc}; nothing was changed") from None


def build_artifacts(matrix: Matrix, cells: list[Cell]) -> dict[str, Any]:
    """One package per distinct code (memory never changes the zip), checked against
    Lambda's size limits before anything is created. Requirements are installed for what
    the target really runs (see `build_platform`)."""
    from bench.fixtures import build_cell, check_limits

    build_for = build_platform(matrix.target)
    by_code: dict[Any, Any] = {}
    artifacts = {}
    for cell in cells:
        if cell.code_key not in by_code:
            by_code[cell.code_key] = build_cell(matrix, cell, build_for=build_for)
        artifacts[cell.id] = by_code[cell.code_key]
    bucket = getattr(matrix.target, "artifact_bucket", None)
    check_limits(artifacts, bucket)
    return artifacts


def run_matrix(options: RunOptions, console: Any) -> RunOutcome:
    """Everything `bench run` does; input errors are raised before anything is created."""
    from bench.stopping import stops_before_start

    with stops_before_start():
        return _run_matrix(options, console)


def _run_matrix(options: RunOptions, console: Any) -> RunOutcome:
    matrix = load_run_matrix(options)
    from bench.cost import check_budget, estimate_matrix
    from bench.diskio import check_writable_dir

    # A results or reports directory that cannot be written is found before anything
    # is built or deployed.
    check_writable_dir(options.results_root, flag="--results")
    check_writable_dir(options.reports_root, flag="--reports")

    source = matrix_source(options)
    estimate = estimate_matrix(matrix, source=source)
    check_budget(estimate, matrix.budget_usd, options.accept_cost, source=source)
    prior = _load_prior(options, matrix) if options.resume else None
    kind = experiment_kind(matrix)
    cells = kind.cells_of(matrix)
    if console is not None:
        line = start_line(matrix.name, len(cells), estimate.invocations, options.started)
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    clones = any(f.from_ for f in matrix.functions)
    artifacts = {} if clones else build_artifacts(matrix, cells)
    with open_targets(
        matrix,
        region=options.region,
        profile=options.profile,
        endpoint_url=options.endpoint_url,
        stage=options.stage,
    ) as target:
        if clones:  # a deployed function is read first (bench.clone), then everything built
            from bench.clone import resolve_clones

            matrix = resolve_clones(matrix, target)
            cells = kind.cells_of(matrix)
            artifacts = build_artifacts(matrix, cells)
        experiment = kind(
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
            where = target.endpoint_url or f"AWS {', '.join(t.region for t in target.targets)}"
            raise TargetError(f"{where}: {one_line(exc)}") from None


def experiment_kind(matrix: Matrix) -> type[Experiment]:
    """The matrix's `experiment`: the cold-start matrix here, the others in bench.experiments."""
    if matrix.experiment == "keepalive":
        from bench.experiments.keepalive import KeepaliveExperiment

        return KeepaliveExperiment
    if matrix.experiment == "warmup":
        from bench.experiments.warmup import WarmupExperiment

        return WarmupExperiment
    return Experiment


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
            f"--resume {options.resume}: {matrix_source(options)} is not the matrix that run used; "
            "resume with the same file"
        )
    if manifest.get("status") == "complete":
        raise InputError(f"--resume {options.resume}: that run is already complete")
    return Prior(dict(manifest), records)


class Experiment:
    """One run against one open target: deploy, measure, collect, finish, tear down."""

    def __init__(
        self,
        options: RunOptions,
        *,
        matrix: Matrix,
        target: TargetSet,
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
        self.stop = RunStop(echo=lambda text: console.print(text, markup=False))
        self.recorder = Recorder(options.results_root, target)
        # Quotas are per region: each region's control plane has its own pacer.
        self.lanes = [
            Lane(
                t.region, t,
                ControlPlane.from_target(
                    t, RateLimiter(CONTROL_PLANE_RATE_PER_S), on_event=self.recorder.event
                ),
                region_cells,
            )
            for t, region_cells in split(cells, target)
        ]  # fmt: skip
        self.progress: RunProgress | None = None
        self.notes: list[str] = []  # said at the end, above the summary

    def _lane(self, cell: Cell) -> Lane:
        region = self.target.region_of(cell)
        return next(lane for lane in self.lanes if lane.region == region)

    def _each_lane(self, work: Any) -> None:
        """`work(lane)` in every region at once; the first error goes on to the caller."""
        if len(self.lanes) == 1:
            work(self.lanes[0])
            return
        _each(len(self.lanes), "region", work, self.lanes)

    # What another experiment (bench.experiments) changes: its cells, how wide its bursts
    # are, how many cells it measures at once, what the progress counts, how it resumes.
    @staticmethod
    def cells_of(matrix: Matrix) -> list[Cell]:
        return matrix.cells()

    def burst_width(self) -> int:
        return self.matrix.burst

    def cells_at_once(self, lane: Lane) -> int:
        return lane.target.parallel_cells

    def progress_totals(self, pending: list[Cell]) -> tuple[int, int]:
        """(rounds, invocations) the progress bar counts to."""
        from bench.measure import cold_plan

        per_cell = self.matrix.cold_starts + self.matrix.warm_invocations
        return len(list(cold_plan(self.matrix))) * len(pending), per_cell * len(pending)

    def reopen(self, prior: Prior) -> None:
        self.recorder.resume(prior)

    def run(self, prior: Prior | None) -> RunOutcome:
        if prior is not None:
            from bench.resuming import recheck_kept

            self.notes += recheck_kept(prior, [lane.cp for lane in self.lanes], self.target.stage)
        pending = [c for c in self.cells if prior is None or not prior.is_complete(c.id)]
        self._plan(pending)
        try:
            self._open_results(prior)
        except OSError as exc:  # nothing is deployed yet: the results directory is the input
            from bench.diskio import describe

            if prior is None and self.recorder.writer is not None:  # nothing measured in it
                self.recorder.writer.close()
                shutil.rmtree(self.recorder.writer.path, ignore_errors=True)
            where = describe(exc, self.options.results_root, flag="--results")
            raise InputError(f"--results {where}") from None
        for lane in self.lanes:
            lane.target.bind_run(self.recorder.run_id)
        for note in self.notes:
            self.recorder.event("warning", note)
        rounds, invocations = self.progress_totals(pending)
        finish_at = getattr(self.estimate, "finish_at", None)
        if finish_at is not None and self.console is not None and finish_at() is not None:
            self.console.print(f"expected to finish at {finish_at()}")
        # In-flight invocations end within the function's timeout and the client's
        # read timeout past it; a stop that takes longer becomes a stop now.
        grace_s = max(self.matrix.timeout_of(c) for c in self.cells) + 45.0
        with self.stop.on_signals(grace_s):
            try:
                with RunProgress(
                    self.console,
                    cells=len(pending),
                    rounds=rounds,
                    invocations=invocations,
                    started=self.options.started,
                ) as progress:
                    self.progress = progress
                    self._deploy_all(pending, fresh=prior is None)
                    if self.matrix.target.driver == "lambda" and not self.stop.is_set():
                        self._deploy_drivers([lane.region for lane in self.lanes])
                    self._measure_all(pending)
                    self._describe_drivers()
                    self.stop.settled()
                    if not self.stop.is_set():
                        self._collect()
                self.progress = None
                return self._finish()
            except StopNow as exc:
                self._crashed(exc, status="aborted")
                exc.resume = self.resume_command()
                raise
            except OSError as exc:
                self._crashed(exc)
                raise self._disk_failed(exc) from None
            except BaseException as exc:
                self._crashed(exc)
                raise

    def _plan(self, pending: list[Cell]) -> None:
        # Reservations, or the shared pool, must fit in every region before the first
        # resource exists.
        in_region = self.matrix.target.driver == "lambda"
        drivers = _drivers_per_round(self.matrix.burst) if in_region else 0
        for lane in self.lanes:
            waiting = [c for c in pending if c in lane.cells]
            lane.concurrency = plan_concurrency(
                lane.cp, reserve=self.matrix.reserve, burst=self.burst_width(),
                cells=len(waiting), parallel_cells=self.cells_at_once(lane), drivers=drivers,
            )  # fmt: skip
        regions = [lane.region for lane in self.lanes]
        for lane in self.lanes:
            try:
                lane.role_arn = execution_role(lane.target, regions)
            except CELL_ERRORS as exc:  # IAM denied, or an endpoint without IAM
                raise TargetError(
                    f"execution role for stage {self.target.stage}: {one_line(exc)}; "
                    "give target.role_arn or credentials that may manage the stage's role"
                ) from None

    def _open_results(self, prior: Prior | None) -> None:
        if prior is None:
            self.recorder.open_new(self.matrix, self.estimate)
        else:
            self.reopen(prior)
        self.recorder.describe_cells(self.cells, self.artifacts)
        self.recorder.manifest["concurrency"] = self.lanes[0].concurrency.describe()
        if self.target.listed:
            self.recorder.manifest["concurrency"]["regions"] = {
                lane.region: lane.concurrency.describe() for lane in self.lanes
            }
        self.recorder.save_manifest()

    def resume_command(self) -> str:
        from bench.resuming import resume_command

        return resume_command(self.options, self.recorder.run_id)

    def _disk_failed(self, exc: OSError) -> RunFailed:
        from bench.diskio import describe

        run_dir = self.recorder.writer.path if self.recorder.writer else self.options.results_root
        if not Path(run_dir).is_dir():
            return RunFailed(
                f"{describe(exc, run_dir)}; the run stopped and tore down what it deployed; "
                "its results went with the directory"
            )
        return RunFailed(
            f"{describe(exc, run_dir)}; the run stopped partial, what reached {run_dir} "
            f"stays readable (bench report {run_dir}); resume: {self.resume_command()}"
        )

    def _crashed(self, exc: BaseException, status: str = "partial") -> None:
        """Whatever broke (a second stop signal included), say so in the results and leave
        no resources behind; the error itself goes on to the caller."""
        with contextlib.suppress(Exception):  # the first error is the one to report
            self.recorder.mark_stopped(one_line(exc), status=status)
        if not self.options.keep:
            for lane in self.lanes:
                with contextlib.suppress(Exception):
                    teardown(lane.cp, self._names(lane))

    def _names(self, lane: Lane) -> list[str]:
        names = [self.recorder.cell(c.id)["function_name"] for c in lane.cells]
        return names + ([lane.driver_name] if lane.driver_name else [])

    def _deploy_drivers(self, regions: list[str]) -> None:
        """driver: lambda: a driver function in every region, before any cell is measured."""
        from bench.driver.fleet import deploy_driver

        def deploy(lane: Lane) -> None:
            lane.driver = deploy_driver(
                lane, recorder=self.recorder, matrix=self.matrix, regions=regions
            )

        self._each_lane(deploy)
        self._describe_drivers()

    def _describe_drivers(self) -> None:
        from bench.driver.fleet import describe

        fleets = {lane.region: lane.driver for lane in self.lanes if lane.driver is not None}
        if fleets:
            self.recorder.manifest["driver"] = describe(fleets)
            self.recorder.save_manifest()

    def _deploy_all(self, pending: list[Cell], fresh: bool) -> None:
        created = datetime.now(UTC)
        progress = self.progress
        assert progress is not None

        def deploy(cell: Cell) -> None:
            if self.stop.is_set():
                return
            artifact = self.artifacts[cell.id]
            own = self.matrix.function(cell.function) if cell.function else None
            lane = self._lane(cell)
            assert lane.role_arn is not None
            spec = FunctionSpec.for_cell(
                cell,
                artifact,
                name=self.recorder.cell(cell.id)["function_name"],
                timeout_s=self.matrix.timeout_of(cell),
                environment=own.environment if own else None,
                layers=own.layers if own else None,
                vpc_config=own.vpc_config if own else None,
                reserved_concurrency=None,  # taken per cell as it is measured
                role_arn=lane.role_arn,
                tags=resource_tags(
                    run_id=self.recorder.run_id,
                    stage=self.target.stage,
                    cell_id=cell.id,
                    created=created,
                ),
                artifact_bucket=lane.target.artifact_bucket,
            )
            if artifact.kind not in ("requirements", "function"):  # ours alone
                lane.target.vouch_for(artifact.sha256)
            try:
                if not fresh:  # a killed run may have left the function half-measured
                    teardown(lane.cp, [spec.name], log_groups=False, packages=False)
                deploy_function(lane.cp, spec)
                if own is not None and own.invoke_via == "url":
                    url = create_function_url(lane.cp, spec.name, cell.id)
                    self.recorder.note_cell(cell.id, function_url=url)
            except CELL_ERRORS as exc:
                self.recorder.set_cell(cell.id, "failed", f"deploy: {one_line(exc)}")
            progress.advance("deploy")

        workers = DEPLOY_WORKERS * len(self.lanes)  # each region has its own pacer
        _each(workers, "deploy", deploy, pending)

    def _measure_all(self, pending: list[Cell]) -> None:
        progress = self.progress
        assert progress is not None
        todo = [c for c in pending if self.recorder.cell(c.id)["status"] != "failed"]
        self._each_lane(lambda lane: self._measure_lane(lane, [c for c in todo if c in lane.cells]))

    def _measure_lane(self, lane: Lane, todo: list[Cell]) -> None:
        from bench.measure import CellMeasurer
        from bench.url_invoke import UrlInvoker

        progress = self.progress
        assert progress is not None
        burst_pool = self.matrix.burst * lane.target.parallel_cells + 2
        measurer = CellMeasurer(
            matrix=self.matrix,
            recorder=self.recorder,
            cp=lane.cp,
            invoker=lane.target.lambda_client(max_pool=burst_pool),
            stop=self.stop,
            progress=progress,
            region=lane.region,
            url_invoker=UrlInvoker(
                lane.target.session.get_credentials(),
                lane.target.region,
                timeout_s=lane.target.function_timeout_s + 30,
            ),
            driver=lane.driver,
        )

        def measure(cell: Cell) -> None:
            if self.stop.is_set():
                return
            name = self.recorder.cell(cell.id)["function_name"]
            try:
                reserve_for_cell(lane.cp, lane.concurrency, name, cell.id)
                try:
                    measurer.measure(cell)
                finally:
                    release_cell(lane.cp, lane.concurrency, name, cell.id)
            except CELL_ERRORS as exc:
                self.recorder.set_cell(cell.id, "failed", one_line(exc))
            except OSError:
                self.stop.set()  # the results directory failed: no cell can be recorded
                raise
            progress.advance("cells", note=cell.id)

        _each(lane.target.parallel_cells, "cell", measure, todo)

    def _collect(self) -> None:
        from bench.collect import collect_reports

        assert self.progress is not None
        progress = self.progress

        def collect(lane: Lane) -> None:
            timeout = self.options.logs_timeout_s
            if timeout is None:
                timeout = lane.target.default_logs_timeout_s
            collect_reports(
                self.recorder,
                lane.cp,
                lane.target.logs_client(),
                stage=self.target.stage,
                timeout_s=timeout,
                progress=progress,
            )

        self._each_lane(collect)

    def _finish(self) -> RunOutcome:
        status = self.recorder.finish(
            stopped=self.stop.is_set(), proactive_threshold_ms=self.matrix.proactive_threshold_ms
        )
        if not self.options.keep:
            for lane in self.lanes:
                for failure in teardown(lane.cp, self._names(lane)):
                    self.recorder.event("warning", f"teardown: {failure}")
        run_dir = self.recorder.close()
        code = EXIT_OK if status == "complete" else EXIT_RUN_FAILED
        outcome = RunOutcome(
            exit_code=code, run_dir=run_dir, report_path=None, status=status, notes=self.notes
        )
        if status != "complete":
            outcome.resume = self.resume_command()
        _render(outcome, self.options.reports_root)
        return outcome


def _each(workers: int, name: str, work: Any, items: list[Any]) -> None:
    """`work` on every item on a few threads. When the caller is stopped now (a second
    signal) or breaks, what has not started is cancelled and nothing is waited for."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        list(pool.map(work, items))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _drivers_per_round(burst: int) -> int:
    from bench.driver.fleet import DRIVER_WIDTH

    return -(-burst // DRIVER_WIDTH)


def _render(outcome: RunOutcome, reports_root: Path) -> None:
    """Report and summary of the run on disk. Reading them back can only fail on what the
    results directory holds or on the disk: that is noted (with how to retry), and the
    run's own status stands."""
    from bench.report import render_run, summary_table

    try:
        outcome.report_path = render_run(outcome.run_dir, reports_root)
    except (BenchError, OSError) as exc:
        outcome.notes.append(
            f"report not rendered ({one_line(exc)}); retry: bench report {outcome.run_dir}"
        )
    try:
        outcome.summary = summary_table(outcome.run_dir)
    except (BenchError, OSError) as exc:
        outcome.notes.append(f"summary not shown ({one_line(exc)})")
