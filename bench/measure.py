"""Measuring one cell: cold rounds (bump, then a burst or one invoke) and the warm phase.

Sees a function name, a Lambda client and numbers; never which target it talks to.
Every invocation becomes a record the moment it returns.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import levers
from bench.burst import InvokeOutcome, fire_burst, invoke_once
from bench.classify import bench_event, make_record
from bench.deploy import ControlPlane, bump
from bench.matrix import Cell, Matrix
from bench.progress import RunProgress
from bench.recording import Recorder
from bench.stopping import RunStop


def cold_plan(matrix: Matrix) -> Iterator[int]:
    """Sizes of the cold rounds: bursts, or one at a time for `sequential`."""
    if matrix.strategy == "sequential":
        yield from [1] * matrix.cold_starts
        return
    for r in range(math.ceil(matrix.cold_starts / matrix.burst)):
        yield min(matrix.burst, matrix.cold_starts - r * matrix.burst)


class EventCycle:
    """A user's function's events, handed out round-robin: (file name, payload). With
    none given, each invocation gets an empty JSON object, as `aws lambda invoke` sends."""

    def __init__(self, files: list[str]) -> None:
        given: list[tuple[str | None, bytes]]
        given = [(Path(f).name, Path(f).read_bytes()) for f in files]
        self.events = given or [(None, b"{}")]
        self.sent = 0
        self.lock = threading.Lock()

    def next(self) -> tuple[str | None, bytes]:
        with self.lock:
            event = self.events[self.sent % len(self.events)]
            self.sent += 1
        return event


def _failure(outcome: InvokeOutcome) -> str:
    """`error Runtime.ImportModuleError: No module named 'app'`: what a cell's error says."""
    text = f"{outcome.status} {outcome.error_type or ''}".strip()
    message = " ".join((outcome.error_message or "").split())
    return f"{text}: {message[:600]}" if message else text


@dataclass
class CellMeasurer:
    """What measuring needs, shared by the cells measured in parallel."""

    matrix: Matrix
    recorder: Recorder
    cp: ControlPlane
    invoker: Any
    stop: RunStop
    progress: RunProgress
    # Failed invocations per cell (cells are measured in parallel, each by one thread).
    _failures: dict[str, list[str]] = field(default_factory=dict)
    # A user's function's events per cell (functions:).
    _events: dict[str, EventCycle] = field(default_factory=dict)
    region: str | None = None  # where the functions run, for each record
    url_invoker: Any = None  # bench.url_invoke.UrlInvoker, for cells with invoke_via: url

    def _url(self, cell: Cell) -> str | None:
        """The function URL a cell is measured through (invoke_via: url), else None."""
        if self._via(cell) != "url":
            return None
        return str(self.recorder.cell(cell.id)["function_url"])
    # driver: lambda: a bench.driver.fleet.DriverFleet fires every invocation in-region
    driver: Any = None

    def _cold_round(self, name: str, payloads: list[bytes]) -> list[InvokeOutcome]:
        # Every cold round, one invoke or many, opens its connections (TCP and TLS)
        # before the clock starts, so a round of one measures what a burst does.
        if self.driver is not None:
            return list(self.driver.cold_round(name, payloads))
        start_ns = self.recorder.run_start_ns
        with self.stop.in_flight(len(payloads)):
            return fire_burst(self.invoker, name, payloads, run_start_ns=start_ns).outcomes

    def _record(
        self,
        cell: Cell,
        phase: str,
        round_: int,
        seq: int,
        outcome: InvokeOutcome,
        *,
        event: str | None = None,
    ) -> None:
        record = make_record(
            run_id=self.recorder.run_id,
            cell=cell,
            phase=phase,
            round_=round_,
            seq=seq,
            outcome=outcome,
            event=event,
            invoke_via=self._via(cell),
            region=self.region,
        )
        self.recorder.append(record, outcome)
        self.progress.advance("invocations")

    def _via(self, cell: Cell) -> str:
        return self.matrix.function(cell.function).invoke_via if cell.function else "sdk"

    def _payload(self, cell: Cell, round_: int, seq: int) -> tuple[str | None, bytes]:
        """(event file name, payload): a user's function's next event, or the bench event."""
        if cell.function is None:
            return None, bench_event(self.recorder.run_id, cell.id, round_, seq)
        if cell.id not in self._events:
            self._events[cell.id] = EventCycle(self.matrix.function(cell.function).events)
        return self._events[cell.id].next()

    def measure(self, cell: Cell) -> None:
        """Cold rounds, then the warm phase; the cell ends complete or failed (with why),
        or stays pending when the run is stopped. A cell with provisioned concurrency or
        SnapStart is measured on a version published after each bump (bench.levers), and
        holds its provisioned environments no longer than its round and the warm phase."""
        name = self.recorder.cell(cell.id)["function_name"]
        if cell.snapstart == "on":
            levers.enable_snapstart(self.cp, name, cell.id)
        held: levers.PublishedRound | None = None
        try:
            for round_, size in enumerate(cold_plan(self.matrix), start=1):
                if self.stop.is_set():
                    return
                token = f"{self.recorder.run_rand}-{round_}"
                bump(self.cp, name, token, cell.id, environment=self._environment(cell))
                target = name
                if cell.published:
                    levers.release_round(self.cp, name, held, cell.id)
                    held = levers.publish_round(self.cp, cell, name)
                    target = held.qualified_name
                if not self._cold(cell, target, round_, size):
                    return
            self._warm(cell, held.qualified_name if held else name)
        finally:
            levers.release_round(self.cp, name, held, cell.id)

    def _cold(self, cell: Cell, target: str, round_: int, size: int) -> bool:
        """One cold round at `target`; False when every invoke so far failed (the cell is
        then failed: more would only repeat it)."""
        sent = [self._payload(cell, round_, seq) for seq in range(1, size + 1)]
        payloads = [payload for _event, payload in sent]
        url = self._url(cell)
        if url is not None:
            start_ns = self.recorder.run_start_ns
            with self.stop.in_flight(len(payloads)):
                outcomes = self.url_invoker.burst(url, payloads, run_start_ns=start_ns)
        else:
            outcomes = self._cold_round(target, payloads)
        for seq, outcome in enumerate(outcomes, start=1):
            self._record(cell, "cold", round_, seq, outcome, event=sent[seq - 1][0])
            if outcome.status != "success":
                self._failures.setdefault(cell.id, []).append(_failure(outcome))
        self.progress.advance("rounds")
        failures = self._failures.get(cell.id, [])
        if failures and len(failures) == len(self.recorder.records_of(cell.id)):
            self.recorder.set_cell(cell.id, "failed", f"cold round {round_}: {failures[0]}")
            return False
        return True

    def _warm(self, cell: Cell, target: str) -> None:
        failures = self._failures.setdefault(cell.id, [])
        for seq in range(1, self.matrix.warm_invocations + 1):
            if self.stop.is_set():
                return
            event, payload = self._payload(cell, 0, seq)
            url = self._url(cell)
            with self.stop.in_flight(1):
                if url is not None:
                    start_ns = self.recorder.run_start_ns
                    outcome = self.url_invoker.once(url, payload, run_start_ns=start_ns)
                elif self.driver is not None:
                    outcome = self.driver.once(target, payload)
                else:
                    outcome = invoke_once(
                        self.invoker, target, payload, run_start_ns=self.recorder.run_start_ns
                    )
            self._record(cell, "warm", 0, seq, outcome, event=event)
            if outcome.status != "success":
                failures.append(_failure(outcome))
        total = len(self.recorder.records_of(cell.id))
        if cell.function is not None and failures and len(failures) * 2 <= total:
            # A user's function that mostly works is measured; its errors are counted.
            self.recorder.set_cell(cell.id, "complete")
        elif failures:
            error = f"{len(failures)} invocation(s) failed, first: {failures[0]}"
            self.recorder.set_cell(cell.id, "failed", error)
        else:
            self.recorder.set_cell(cell.id, "complete")

    def _environment(self, cell: Cell) -> dict[str, str] | None:
        return self.matrix.function(cell.function).environment if cell.function else None
