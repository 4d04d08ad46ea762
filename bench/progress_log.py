"""Progress for a log, not a terminal: plain lines a CI log or a file can hold.

A bar redrawn in place means nothing in a file, and rich draws none when its output is
not a terminal, so a run piped to a file was silent until its end. Here every finished
cell is a line, and a heartbeat line follows at most every HEARTBEAT_S seconds, each with
the counts so far and the time since the run started.
"""

from __future__ import annotations

import threading
import time
from typing import Any

HEARTBEAT_S = 5.0
LABELS = {"deploy": "deployed", "cells": "cells", "invocations": "invocations",
          "rounds": "cold rounds", "logs": "REPORT lines"}  # fmt: skip


class LogLines:
    """Counters shown as plain lines: one per finished cell and a heartbeat."""

    def __init__(self, console: Any, totals: dict[str, int | None], started: float) -> None:
        self._console = console
        self._started = started
        self._lock = threading.Lock()
        self._done = {task: 0 for task in totals}
        self._totals = dict(totals)
        self._shown: set[str] = {task for task in totals if task != "logs"}
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="progress", daemon=True)

    def advance(self, task: str, amount: int, note: str | None) -> None:
        with self._lock:
            self._done[task] += amount
            if task == "cells":
                self._line(f"cell {note or '?'} finished")

    def set(self, task: str, completed: int, total: int | None) -> None:
        with self._lock:
            self._done[task] = completed
            if total is not None:
                self._totals[task] = total
            self._shown.add(task)

    def start(self) -> None:
        with self._lock:
            self._line("started")
        self._beat.start()

    def stop(self) -> None:
        self._stop.set()
        if self._beat.is_alive():
            self._beat.join(timeout=HEARTBEAT_S)
        with self._lock:
            self._line("done")

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                self._line("running")

    def _line(self, what: str) -> None:
        counts = ", ".join(
            f"{LABELS[task]} {self._done[task]}/{self._totals[task] or '?'}"
            for task in self._totals
            if task in self._shown
        )
        elapsed = format_elapsed(time.monotonic() - self._started)
        # One line each, however long: a log viewer wraps, a grep finds it whole.
        self._console.print(
            f"[{elapsed}] {what}: {counts}", markup=False, highlight=False, soft_wrap=True
        )


def format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:d}:{secs:02d}"


def start_line(name: str, cells: int, invocations: int, started: float) -> str:
    """The first line of a run, printed before packages are built and the target opens."""
    return (
        f"[{format_elapsed(time.monotonic() - started)}] bench run {name}: {cells} cells, "
        f"{invocations} invocations; building packages and opening the target"
    )


class Preparing:
    """Heartbeat lines while packages are built and the target opens (a runtime download,
    a pip install), until the run's own progress takes over: a log never goes quiet for
    longer than HEARTBEAT_S. Quiet on a terminal, where those steps show their own."""

    active: Preparing | None = None

    def __init__(self, console: Any, started: float) -> None:
        self._console = console
        self._started = started
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="preparing", daemon=True)

    def __enter__(self) -> Preparing:
        if self._console is not None and not self._console.is_terminal:
            Preparing.active = self
            self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._beat.is_alive() and self._beat is not threading.current_thread():
            self._beat.join(timeout=HEARTBEAT_S)
        if Preparing.active is self:
            Preparing.active = None

    @classmethod
    def done(cls) -> None:
        """The run's progress has started: the preparation heartbeat ends."""
        if cls.active is not None:
            cls.active.stop()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            elapsed = format_elapsed(time.monotonic() - self._started)
            line = f"[{elapsed}] preparing: building packages and opening the target"
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)
