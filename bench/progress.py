"""What a run shows while it works (a bar per stage), how Ctrl-C stops it, and the
summary it ends with."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any


class RunProgress:
    """Thread-safe counters for deploy, cells, invocations and log collection."""

    def __init__(self, console: Any, *, cells: int, rounds: int, invocations: int) -> None:
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
        self._lock = threading.Lock()
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
        with self._lock:
            extra: dict[str, Any] = {"note": note} if note is not None else {}
            self._progress.update(self._tasks[task], advance=amount, **extra)

    def set(
        self, task: str, completed: int, total: int | None = None, note: str | None = None
    ) -> None:
        with self._lock:
            extra: dict[str, Any] = {"note": note} if note is not None else {}
            if total is not None:
                extra["total"] = total
            self._progress.update(self._tasks[task], completed=completed, visible=True, **extra)

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()


@contextmanager
def sigint_stops(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C stops new invocations; in-flight ones finish; a second Ctrl-C is Python's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
