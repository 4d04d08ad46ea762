"""A run: cells deployed, measured, their REPORT lines collected, the functions torn down.

This module orchestrates; the jobs are elsewhere: what a run starts from (bench.run_inputs),
its work in each region's lane (bench.run_lanes), measuring a cell (bench.measure),
keeping the results directory (bench.recording), collecting REPORT lines
(bench.collect). The driver sees a Target's clients and numbers and nothing else, so the
same code runs on the embedded emulator and on AWS. It returns an outcome
(bench.run_outcome); the CLI prints it.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.deploy import CONTROL_PLANE_RATE_PER_S, ControlPlane, teardown
from bench.errors import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    InputError,
    RunFailed,
    TargetError,
    one_line,
)
from bench.matrix import Cell, Matrix
from bench.pacing import RateLimiter
from bench.progress import RunProgress
from bench.progress_log import start_line
from bench.recording import Prior, Recorder
from bench.regions import Lane, TargetSet, open_targets, split
from bench.run_inputs import (
    RunOptions,
    build_artifacts,
    load_prior,
    load_run_matrix,
    matrix_source,
)
from bench.run_lanes import (
    CELL_ERRORS,
    collect_lane,
    deploy_cells,
    deploy_driver,
    describe_drivers,
    each,
    lane_measurer,
    lane_names,
    measure_cells,
    plan_lanes,
)
from bench.run_outcome import RunOutcome, render_outcome
from bench.stopping import RunStop, StopNow

__all__ = [
    "CELL_ERRORS",
    "Experiment",
    "RunOptions",
    "RunOutcome",
    "build_artifacts",
    "load_run_matrix",
    "matrix_source",
    "run_matrix",
]


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
    prior = load_prior(options, matrix) if options.resume else None
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
        each(len(self.lanes), "region", work, self.lanes)

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
                        self._deploy_drivers()
                    self._measure_all(pending)
                    describe_drivers(self.lanes, self.recorder)
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
        plan_lanes(
            self.lanes, pending, matrix=self.matrix, burst=self.burst_width(),
            cells_at_once=self.cells_at_once, stage=self.target.stage,
        )  # fmt: skip

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
                    teardown(lane.cp, lane_names(lane, self.recorder))

    def _deploy_all(self, pending: list[Cell], fresh: bool) -> None:
        deploy_cells(
            pending, lanes=self.lanes, lane_of=self._lane, matrix=self.matrix,
            recorder=self.recorder, artifacts=self.artifacts, stage=self.target.stage,
            stop=self.stop, progress=self.progress, fresh=fresh,
        )  # fmt: skip

    def _deploy_drivers(self) -> None:
        regions = [lane.region for lane in self.lanes]
        self._each_lane(
            lambda lane: deploy_driver(
                lane, recorder=self.recorder, matrix=self.matrix, regions=regions
            )
        )
        describe_drivers(self.lanes, self.recorder)

    def _measure_all(self, pending: list[Cell]) -> None:
        progress = self.progress
        assert progress is not None
        todo = [c for c in pending if self.recorder.cell(c.id)["status"] != "failed"]
        self._each_lane(lambda lane: self._measure_lane(lane, [c for c in todo if c in lane.cells]))

    def _measure_lane(self, lane: Lane, todo: list[Cell]) -> None:
        assert self.progress is not None
        measurer = lane_measurer(
            lane, matrix=self.matrix, recorder=self.recorder, stop=self.stop,
            progress=self.progress,
        )  # fmt: skip
        measure_cells(
            lane, todo, measurer, recorder=self.recorder, stop=self.stop, progress=self.progress
        )

    def _collect(self) -> None:
        progress, timeout_s = self.progress, self.options.logs_timeout_s
        assert progress is not None

        def collect(lane: Lane) -> None:
            collect_lane(
                lane, recorder=self.recorder, stage=self.target.stage, timeout_s=timeout_s,
                progress=progress,
            )  # fmt: skip

        self._each_lane(collect)

    def _finish(self) -> RunOutcome:
        status = self.recorder.finish(
            stopped=self.stop.is_set(), proactive_threshold_ms=self.matrix.proactive_threshold_ms
        )
        if not self.options.keep:
            for lane in self.lanes:
                for failure in teardown(lane.cp, lane_names(lane, self.recorder)):
                    self.recorder.event("warning", f"teardown: {failure}")
        run_dir = self.recorder.close()
        code = EXIT_OK if status == "complete" else EXIT_RUN_FAILED
        outcome = RunOutcome(
            exit_code=code, run_dir=run_dir, report_path=None, status=status, notes=self.notes
        )
        if status != "complete":
            outcome.resume = self.resume_command()
        render_outcome(outcome, self.options.reports_root)
        return outcome
