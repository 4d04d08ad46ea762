"""`experiment: keepalive`: how long an idle execution environment stays warm.

A probe warms `environments` (N) environments with a burst of N, leaves them idle for
exactly one gap, bursts N again and counts how many environments of the first burst
served the second (same sandbox id, no Init Duration; bench.experiments.survival). Every
probe first gives its function a new configuration value, so its warming burst starts N
fresh environments at once (N cold starts, which overlap: N distinct environments) and
no environment idle since an earlier probe takes part. Every gap of `idle_s` has
its own function, and the gaps run at the same time, so a run lasts about the longest
gap times `repetitions`, not their sum. Each probe's records are written as its
invocations return; a resumed run keeps every complete probe and runs the rest.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.burst import fire_burst
from bench.classify import bench_event, make_record
from bench.concurrency import release_cell, reserve_for_cell
from bench.deploy import ControlPlane, bump
from bench.errors import one_line
from bench.matrix import Cell, Matrix
from bench.recording import Prior
from bench.regions import Lane
from bench.run import CELL_ERRORS, Experiment

WARMING, AFTER_GAP = 1, 2


class GapCell(Cell):
    """A cell probed at one gap: its own function, its id ends in the gap."""

    idle_s: float

    @property
    def id(self) -> str:
        return f"{super().id}-idle{self.idle_s:g}s"


def complete_probes(records: list[dict[str, Any]], environments: int) -> set[tuple[str, int]]:
    """(cell, repetition) of every probe whose two bursts are both recorded in full."""
    counts: dict[tuple[str, int, int], int] = {}
    for r in records:
        if r.get("phase") == "probe" and r.get("probe_burst") in (WARMING, AFTER_GAP):
            key = (r["cell"], r["round"], r["probe_burst"])
            counts[key] = counts.get(key, 0) + 1
    return {
        (cell, rep)
        for (cell, rep, burst), n in counts.items()
        if burst == WARMING and n == environments
        and counts.get((cell, rep, AFTER_GAP)) == environments
    }


class KeepaliveExperiment(Experiment):
    @staticmethod
    def cells_of(matrix: Matrix) -> list[Cell]:
        assert matrix.idle_s is not None
        return [
            GapCell(**cell.model_dump(), idle_s=gap)
            for cell in matrix.cells()
            for gap in matrix.idle_s
        ]

    @property
    def environments(self) -> int:
        assert self.matrix.environments is not None
        return self.matrix.environments

    @property
    def repetitions(self) -> int:
        assert self.matrix.repetitions is not None
        return self.matrix.repetitions

    def burst_width(self) -> int:
        return self.environments

    def cells_at_once(self, lane: Lane) -> int:
        return len(lane.cells)  # every gap at once: that is what keeps the run short

    def progress_totals(self, pending: list[Cell]) -> tuple[int, int]:
        probes = self.repetitions * len(pending)
        return probes, 2 * self.environments * probes

    def reopen(self, prior: Prior) -> None:
        """Complete cells keep their records (Recorder.resume); the others keep those of
        their complete probes, and the rest of their probes run again."""
        self.recorder.resume(prior)
        kept = {r["cell"] for r in self.recorder.records}
        done = complete_probes(prior.records, self.environments)
        probes = [
            r for r in prior.records
            if r["cell"] not in kept and (r["cell"], r["round"]) in done
        ]  # fmt: skip
        with self.recorder.lock:
            self.recorder.records.extend(probes)
            assert self.recorder.writer is not None
            self.recorder.writer.rewrite_invocations(self.recorder.records)
        partial = {(r["cell"], r["round"]) for r in probes}
        self.recorder.event("warning", f"resumed; {len(partial)} probe(s) of unfinished gaps kept")

    def _measure_all(self, pending: list[Cell]) -> None:
        with self.recorder.lock:
            for cell in self.cells:
                assert isinstance(cell, GapCell)
                self.recorder.manifest["cells"][cell.id]["idle_s"] = cell.idle_s
            self.recorder.save_manifest()
        super()._measure_all(pending)

    def _measure_lane(self, lane: Lane, todo: list[Cell]) -> None:
        if not todo:
            return
        invoker = lane.target.lambda_client(max_pool=self.environments * len(todo) + 2)

        def measure(cell: Cell) -> None:
            assert isinstance(cell, GapCell) and self.progress is not None
            name = self.recorder.cell(cell.id)["function_name"]
            try:
                reserve_for_cell(lane.cp, lane.concurrency, name, cell.id)
                try:
                    self._probe_gap(cell, name, invoker, lane.cp, lane.region)
                finally:
                    release_cell(lane.cp, lane.concurrency, name, cell.id)
            except CELL_ERRORS as exc:
                self.recorder.set_cell(cell.id, "failed", one_line(exc))
            self.progress.advance("cells", note=cell.id)

        with ThreadPoolExecutor(len(todo), thread_name_prefix="gap") as pool:
            list(pool.map(measure, todo))

    def _probe_gap(
        self, cell: GapCell, name: str, invoker: Any, cp: ControlPlane, region: str
    ) -> None:
        """Every repetition of one gap not already recorded; the cell ends complete or
        failed, or stays pending when the run is stopped."""
        assert self.progress is not None
        done = complete_probes(self.recorder.records_of(cell.id), self.environments)
        failures: list[str] = []
        for rep in range(1, self.repetitions + 1):
            if (cell.id, rep) in done:
                continue
            if self.stop.is_set():
                return
            # Fresh environments for every probe: whatever an earlier probe (or an
            # interrupted run) left idle is retired, and the warming burst starts N at once.
            token = f"{self.recorder.run_rand}-{rep}-{secrets.token_hex(3)}"
            bump(cp, name, token, cell.id, environment=self._environment(cell))
            failures += self._burst(cell, name, invoker, rep, WARMING, region=region)
            # The gap runs from the warming burst's last answer to the second burst.
            if self.stop.wait(cell.idle_s):
                return
            failures += self._burst(cell, name, invoker, rep, AFTER_GAP, region=region)
            self.progress.advance("rounds")
        if failures:
            error = f"{len(failures)} invocation(s) failed, first: {failures[0]}"
            self.recorder.set_cell(cell.id, "failed", error)
        else:
            self.recorder.set_cell(cell.id, "complete")

    def _environment(self, cell: Cell) -> dict[str, str] | None:
        return self.matrix.function(cell.function).environment if cell.function else None

    def _burst(
        self, cell: GapCell, name: str, invoker: Any, rep: int, burst: int, *, region: str
    ) -> list[str]:
        assert self.progress is not None
        n = self.environments
        seqs = range((burst - 1) * n + 1, burst * n + 1)
        payloads = [bench_event(self.recorder.run_id, cell.id, rep, seq) for seq in seqs]
        result = fire_burst(invoker, name, payloads, run_start_ns=self.recorder.run_start_ns)
        failures = []
        for seq, outcome in zip(seqs, result.outcomes, strict=True):
            record = make_record(
                run_id=self.recorder.run_id, cell=cell, phase="probe", round_=rep, seq=seq,
                outcome=outcome, region=region,
            )  # fmt: skip
            record.update(idle_s=cell.idle_s, probe_burst=burst)
            self.recorder.append(record, outcome)
            self.progress.advance("invocations")
            if outcome.status != "success":
                failures.append(f"{outcome.status} {outcome.error_type or ''}".strip())
        return failures
