"""A run's work, lane by lane: the concurrency plan and execution role of each region,
the cells' functions and (driver: lambda) the driver function in every region, the cells
measured, their REPORT lines collected, and the names to tear down.

bench.run.Experiment decides what happens when; each region's lane (bench.regions) has its
own paced control plane, and everything here sees its target's clients and numbers, never
which target it is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.concurrency import plan_concurrency, release_cell, reserve_for_cell
from bench.deploy import (
    FunctionSpec,
    create_function_url,
    deploy_function,
    execution_role,
    teardown,
)
from bench.errors import BenchError, TargetError, one_line
from bench.matrix import Cell, Matrix
from bench.naming import resource_tags
from bench.recording import Recorder
from bench.regions import Lane
from bench.stopping import RunStop

# What deploying or measuring a cell may meet and still let the run go on: the target
# refusing (botocore) or an error the harness raises for the user. Anything else is a
# bug and stops the run with its traceback.
CELL_ERRORS = (ClientError, BotoCoreError, BenchError)

DEPLOY_WORKERS = 4


def each(workers: int, name: str, work: Any, items: list[Any]) -> None:
    """`work` on every item on a few threads. When the caller is stopped now (a second
    signal) or breaks, what has not started is cancelled and nothing is waited for."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        list(pool.map(work, items))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def plan_lanes(
    lanes: list[Lane],
    pending: list[Cell],
    *,
    matrix: Matrix,
    burst: int,
    cells_at_once: Callable[[Lane], int],
    stage: str,
) -> None:
    """Each lane's concurrency plan and execution role. Reservations, or the shared pool,
    must fit in every region before the first resource exists."""
    in_region = matrix.target.driver == "lambda"
    drivers = drivers_per_round(matrix.burst) if in_region else 0
    for lane in lanes:
        waiting = [c for c in pending if c in lane.cells]
        lane.concurrency = plan_concurrency(
            lane.cp, reserve=matrix.reserve, burst=burst,
            cells=len(waiting), parallel_cells=cells_at_once(lane), drivers=drivers,
        )  # fmt: skip
    regions = [lane.region for lane in lanes]
    for lane in lanes:
        try:
            lane.role_arn = execution_role(lane.target, regions)
        except CELL_ERRORS as exc:  # IAM denied, or an endpoint without IAM
            raise TargetError(
                f"execution role for stage {stage}: {one_line(exc)}; "
                "give target.role_arn or credentials that may manage the stage's role"
            ) from None


def deploy_cells(
    pending: list[Cell],
    *,
    lanes: list[Lane],
    lane_of: Callable[[Cell], Lane],
    matrix: Matrix,
    recorder: Recorder,
    artifacts: dict[str, Any],
    stage: str,
    stop: RunStop,
    progress: Any,
    fresh: bool,
) -> None:
    """Every pending cell's function, a few at a time per region; a cell the target
    refuses is failed in the results and the others go on."""
    created = datetime.now(UTC)

    def deploy(cell: Cell) -> None:
        if stop.is_set():
            return
        artifact = artifacts[cell.id]
        own = matrix.function(cell.function) if cell.function else None
        lane = lane_of(cell)
        assert lane.role_arn is not None
        spec = FunctionSpec.for_cell(
            cell,
            artifact,
            name=recorder.cell(cell.id)["function_name"],
            timeout_s=matrix.timeout_of(cell),
            environment=own.environment if own else None,
            layers=own.layers if own else None,
            vpc_config=own.vpc_config if own else None,
            reserved_concurrency=None,  # taken per cell as it is measured
            role_arn=lane.role_arn,
            tags=resource_tags(
                run_id=recorder.run_id,
                stage=stage,
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
                recorder.note_cell(cell.id, function_url=url)
        except CELL_ERRORS as exc:
            recorder.set_cell(cell.id, "failed", f"deploy: {one_line(exc)}")
        progress.advance("deploy")

    workers = DEPLOY_WORKERS * len(lanes)  # each region has its own pacer
    each(workers, "deploy", deploy, pending)


def deploy_driver(lane: Lane, *, recorder: Recorder, matrix: Matrix, regions: list[str]) -> None:
    """driver: lambda: the driver function in `lane`'s region, before any cell is measured."""
    from bench.driver.fleet import deploy_driver as deploy_fleet

    lane.driver = deploy_fleet(lane, recorder=recorder, matrix=matrix, regions=regions)


def describe_drivers(lanes: list[Lane], recorder: Recorder) -> None:
    """The manifest's `driver` section, once there is a driver fleet to describe."""
    from bench.driver.fleet import describe

    fleets = {lane.region: lane.driver for lane in lanes if lane.driver is not None}
    if fleets:
        recorder.manifest["driver"] = describe(fleets)
        recorder.save_manifest()


def drivers_per_round(burst: int) -> int:
    from bench.driver.fleet import DRIVER_WIDTH

    return -(-burst // DRIVER_WIDTH)


def lane_measurer(
    lane: Lane, *, matrix: Matrix, recorder: Recorder, stop: RunStop, progress: Any
) -> Any:
    """The lane's bench.measure.CellMeasurer: its invoker pooled for the widest bursts of
    the cells measured at once, a function-URL invoker, the lane's driver fleet."""
    from bench.measure import CellMeasurer
    from bench.url_invoke import UrlInvoker

    burst_pool = matrix.burst * lane.target.parallel_cells + 2
    return CellMeasurer(
        matrix=matrix,
        recorder=recorder,
        cp=lane.cp,
        invoker=lane.target.lambda_client(max_pool=burst_pool),
        stop=stop,
        progress=progress,
        region=lane.region,
        url_invoker=UrlInvoker(
            lane.target.session.get_credentials(),
            lane.target.region,
            timeout_s=lane.target.function_timeout_s + 30,
        ),
        driver=lane.driver,
    )


def measure_cells(
    lane: Lane,
    todo: list[Cell],
    measurer: Any,
    *,
    recorder: Recorder,
    stop: RunStop,
    progress: Any,
) -> None:
    """The lane's cells, as many at once as its target takes, each under its reservation;
    a cell that fails is failed in the results, a results directory that fails stops all."""

    def measure(cell: Cell) -> None:
        if stop.is_set():
            return
        name = recorder.cell(cell.id)["function_name"]
        try:
            reserve_for_cell(lane.cp, lane.concurrency, name, cell.id)
            try:
                measurer.measure(cell)
            finally:
                release_cell(lane.cp, lane.concurrency, name, cell.id)
        except CELL_ERRORS as exc:
            recorder.set_cell(cell.id, "failed", one_line(exc))
        except OSError:
            stop.set()  # the results directory failed: no cell can be recorded
            raise
        progress.advance("cells", note=cell.id)

    each(lane.target.parallel_cells, "cell", measure, todo)


def collect_lane(
    lane: Lane, *, recorder: Recorder, stage: str, timeout_s: float | None, progress: Any
) -> None:
    """The lane's REPORT lines (bench.collect), waited for as long as its target says
    unless --logs-timeout says otherwise."""
    from bench.collect import collect_reports

    collect_reports(
        recorder,
        lane.cp,
        lane.target.logs_client(),
        stage=stage,
        timeout_s=lane.target.default_logs_timeout_s if timeout_s is None else timeout_s,
        progress=progress,
    )


def lane_names(lane: Lane, recorder: Recorder) -> list[str]:
    """The functions the lane deployed (its driver included), for teardown."""
    names = [recorder.cell(c.id)["function_name"] for c in lane.cells]
    return names + ([lane.driver_name] if lane.driver_name else [])
