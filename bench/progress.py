"""What a run shows while it works (a bar per stage). How a signal stops a run is
bench.stopping."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from bench.progress_log import LogLines, Preparing


class RunProgress:
    """Thread-safe counters for deploy, cells, invocations and log collection."""

    def __init__(
        self,
        console: Any,
        *,
        cells: int,
        rounds: int,
        invocations: int,
        started: float | None = None,
    ) -> None:
        self._lock = threading.Lock()
        # Not a terminal (a CI log, a file): plain lines instead of bars (bench.progress_log).
        self._lines: LogLines | None = None
        if not console.is_terminal:
            totals = {"deploy": cells, "cells": cells, "invocations": invocations,
                      "rounds": rounds, "logs": None}  # fmt: skip
            self._lines = LogLines(console, totals, started or time.monotonic())
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=False,
        )
        self._tasks = {
            "deploy": self._progress.add_task("deploy functions", total=cells, note=""),
            "cells": self._progress.add_task("cells measured", total=cells, note=""),
            "invocations": self._progress.add_task("invocations", total=invocations, note=""),
            "rounds": self._progress.add_task("cold rounds", total=rounds, note=""),
            "logs": self._progress.add_task(
                "REPORT lines (logs)", total=None, note="", visible=False
            ),
        }

    def advance(self, task: str, amount: int = 1, note: str | None = None) -> None:
        if self._lines is not None:
            self._lines.advance(task, amount, note)
            return
        with self._lock:
            extra: dict[str, Any] = {"note": note} if note is not None else {}
            self._progress.update(self._tasks[task], advance=amount, **extra)

    def set(
        self, task: str, completed: int, total: int | None = None, note: str | None = None
    ) -> None:
        if self._lines is not None:
            self._lines.set(task, completed, total)
            return
        with self._lock:
            extra: dict[str, Any] = {"note": note} if note is not None else {}
            if total is not None:
                extra["total"] = total
            self._progress.update(self._tasks[task], completed=completed, visible=True, **extra)

    def __enter__(self) -> RunProgress:
        Preparing.done()
        if self._lines is not None:
            self._lines.start()
        else:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lines is not None:
            self._lines.stop()
        else:
            self._progress.stop()

