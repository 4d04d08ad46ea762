"""`experiment: warmup`: what warm-up pings buy against user-like traffic.

Two functions per cell get the same user traffic at the same moments for `duration_s`:
the `pings` arm is also pinged every `ping_every_s` with `ping_concurrency` concurrent
invocations, the `nopings` arm is not. The report compares their cold starts per 1,000
user requests and prices the pings.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from bench.burst import fire_burst, invoke_once
from bench.concurrency import release_cell, reserve_for_cell
from bench.errors import one_line
from bench.matrix import Cell, Matrix
from bench.regions import Lane
from bench.run import CELL_ERRORS, Experiment

if TYPE_CHECKING:
    import pandas as pd

ARMS: tuple[Literal["pings", "nopings"], ...] = ("pings", "nopings")
START_DELAY_S = 0.5  # both arms' clocks start together, this long after the threads
USER_WORKERS = 32


class ArmCell(Cell):
    """A cell in one arm of the comparison: its own function."""

    arm: Literal["pings", "nopings"]

    @property
    def id(self) -> str:
        return f"{super().id}-{self.arm}"


def arrivals(matrix: Matrix) -> list[float]:
    """The user requests' times (seconds from the start), recorded or drawn."""
    traffic, duration = matrix.traffic, matrix.duration_s
    assert traffic is not None and duration is not None
    if traffic.arrivals_s is not None:
        return sorted(traffic.arrivals_s)
    assert traffic.poisson_rate_per_s is not None
    rng = random.Random(traffic.seed)
    times, t = [], rng.expovariate(traffic.poisson_rate_per_s)
    while t < duration:
        times.append(t)
        t += rng.expovariate(traffic.poisson_rate_per_s)
    return times


def ping_times(matrix: Matrix) -> list[float]:
    assert matrix.ping_every_s is not None and matrix.duration_s is not None
    count = int(matrix.duration_s // matrix.ping_every_s)
    times = [i * matrix.ping_every_s for i in range(count + 1)]
    return [t for t in times if t < matrix.duration_s]


def overlap(times: list[float], window_s: float) -> int:
    """The most arrivals within any `window_s`: a bound on user requests in flight."""
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


def _payload(run_id: str, cell_id: str, kind: str, seq: int) -> bytes:
    """The fixture's event (bench.classify.bench_event): round 0 user, 1 ping."""
    from bench.classify import bench_event

    return bench_event(run_id, cell_id, 1 if kind == "ping" else 0, seq)


class WarmupExperiment(Experiment):
    @staticmethod
    def cells_of(matrix: Matrix) -> list[Cell]:
        return [ArmCell(**cell.model_dump(), arm=arm) for cell in matrix.cells() for arm in ARMS]

    @property
    def concurrency_k(self) -> int:
        assert self.matrix.ping_concurrency is not None
        return self.matrix.ping_concurrency

    def burst_width(self) -> int:
        return self.concurrency_k + overlap(arrivals(self.matrix), self.matrix.timeout_s)

    def cells_at_once(self, lane: Lane) -> int:
        return len(lane.cells)  # both arms see the same traffic at the same time

    def progress_totals(self, pending: list[Cell]) -> tuple[int, int]:
        users = len(arrivals(self.matrix))
        pings = len(ping_times(self.matrix)) * self.concurrency_k
        per_arm = {"pings": users + pings, "nopings": users}
        return len(pending), sum(per_arm[c.arm] for c in pending if isinstance(c, ArmCell))

    def _measure_all(self, pending: list[Cell]) -> None:
        with self.recorder.lock:
            for cell in self.cells:
                assert isinstance(cell, ArmCell)
                self.recorder.manifest["cells"][cell.id]["arm"] = cell.arm
            self.recorder.save_manifest()
        self._start = time.monotonic() + START_DELAY_S  # every arm's clock, every region's
        super()._measure_all(pending)

    def _measure_lane(self, lane: Lane, todo: list[Cell]) -> None:
        if not todo:
            return
        invoker = lane.target.lambda_client(max_pool=self.burst_width() * len(todo) + 2)
        start = self._start

        def measure(cell: Cell) -> None:
            assert isinstance(cell, ArmCell) and self.progress is not None
            name = self.recorder.cell(cell.id)["function_name"]
            try:
                reserve_for_cell(lane.cp, lane.concurrency, name, cell.id)
                try:
                    self._arm(cell, name, invoker, start, lane.region)
                finally:
                    release_cell(lane.cp, lane.concurrency, name, cell.id)
            except CELL_ERRORS as exc:
                self.recorder.set_cell(cell.id, "failed", one_line(exc))
            self.progress.advance("cells", note=cell.id)
            self.progress.advance("rounds")

        with ThreadPoolExecutor(len(todo), thread_name_prefix="arm") as pool:
            list(pool.map(measure, todo))

    def _arm(self, cell: ArmCell, name: str, invoker: Any, start: float, region: str) -> None:
        failures: list[str] = []
        lock = threading.Lock()

        def record(kind: str, seq: int, outcome: Any) -> None:
            from bench.classify import make_record

            rec = make_record(run_id=self.recorder.run_id, cell=cell, phase=kind, round_=0,
                              seq=seq, outcome=outcome, region=region)  # fmt: skip
            self.recorder.append(rec, outcome)
            assert self.progress is not None
            self.progress.advance("invocations")
            if outcome.status != "success":
                with lock:
                    failures.append(f"{kind}: {outcome.status} {outcome.error_type or ''}".strip())

        def user(seq: int) -> None:
            payload = _payload(self.recorder.run_id, cell.id, "user", seq)
            outcome = invoke_once(invoker, name, payload, run_start_ns=self.recorder.run_start_ns)
            record("user", seq, outcome)

        pinger = None
        if cell.arm == "pings":
            pinger = threading.Thread(
                target=self._pings, args=(cell, name, invoker, start, record), name="pings"
            )
            pinger.start()
        with ThreadPoolExecutor(USER_WORKERS, thread_name_prefix="user") as pool:
            for seq, at in enumerate(arrivals(self.matrix), start=1):
                if self.stop.wait(max(0.0, start + at - time.monotonic())):
                    break
                pool.submit(user, seq)
        if pinger is not None:
            pinger.join()
        if self.stop.is_set():
            return
        if failures:
            self.recorder.set_cell(cell.id, "failed",
                                   f"{len(failures)} invocation(s) failed, first: {failures[0]}")
        else:
            self.recorder.set_cell(cell.id, "complete")

    def _pings(self, cell: ArmCell, name: str, invoker: Any, start: float, record: Any) -> None:
        """A burst of `ping_concurrency` every `ping_every_s`, on the arm's clock."""
        k = self.concurrency_k
        for i, at in enumerate(ping_times(self.matrix)):
            if self.stop.wait(max(0.0, start + at - time.monotonic())):
                return
            payloads = [_payload(self.recorder.run_id, cell.id, "ping", i * k + j)
                        for j in range(1, k + 1)]  # fmt: skip
            result = fire_burst(invoker, name, payloads, run_start_ns=self.recorder.run_start_ns)
            for j, outcome in enumerate(result.outcomes, start=1):
                record("ping", i * k + j, outcome)


def warmup_figures(invocations: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per arm: user requests, their cold starts, pings and what the pings cost."""
    from bench.cost import actual_cost

    out: dict[str, dict[str, Any]] = {}
    if not len(invocations):
        return out
    for arm in ARMS:
        rows = invocations[invocations["cell"].astype(str).str.endswith(f"-{arm}")]
        users = rows[rows["phase"].astype(str) == "user"]
        pings = rows[rows["phase"].astype(str) == "ping"]
        ran = users[users["status"].astype(str) != "throttled"]
        out[arm] = {
            "requests": len(ran),
            "cold": int((ran["start_type"].astype(str) == "cold").sum()),
            "pings": len(pings),
            "ping_cost_usd": actual_cost(
                {str(k): v for k, v in r.items()} for r in pings.to_dict("records")
            ),
        }
    return out


def warmup_context(manifest: dict[str, Any], invocations: pd.DataFrame) -> dict[str, Any] | None:
    figures = warmup_figures(invocations)
    if not figures or not any(f["requests"] for f in figures.values()):
        return None
    from bench.cost import usd

    matrix = manifest.get("matrix") or {}
    traffic = matrix.get("traffic") or {}
    arms = []
    for arm, f in figures.items():
        per_1000 = 1000 * f["cold"] / f["requests"] if f["requests"] else None
        arms.append({
            "arm": "with pings" if arm == "pings" else "without pings",
            "requests": f["requests"], "cold": f["cold"],
            "per_1000": "–" if per_1000 is None else f"{per_1000:.1f}",
            "pings": f["pings"], "ping_cost": usd(f["ping_cost_usd"]),
        })  # fmt: skip
    avoided = figures["nopings"]["cold"] - figures["pings"]["cold"]
    cost = figures["pings"]["ping_cost_usd"]
    rate = traffic.get("poisson_rate_per_s")
    return {
        "arms": arms,
        "avoided": avoided,
        "cost_per_avoided": usd(cost / avoided) if avoided > 0 else "no cold start avoided",
        "traffic": f"Poisson, {rate:g} requests/s" if rate
        else f"{len(traffic.get('arrivals_s') or [])} recorded arrivals",
        "duration_s": f"{matrix.get('duration_s', 0):g}",
        "ping_every_s": f"{matrix.get('ping_every_s', 0):g}",
        "ping_concurrency": matrix.get("ping_concurrency"),
    }
