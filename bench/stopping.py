"""How a run stops on a signal: Ctrl-C (SIGINT), SIGTERM (`timeout`, a cancelled CI job,
systemd) and SIGHUP (a closed terminal) alike.

The first signal stops new invocations, lets the in-flight ones finish (within a bound)
and says so; the run then tears down and ends `aborted`. A second signal, or the bound
running out, raises `StopNow`: the run tears down at once and the process ends 128+N.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopNow(BaseException):
    """A second stop signal: tear down what was deployed and end without waiting."""

    def __init__(self, signum: int, before_start: bool = False) -> None:
        self.signum = signum
        self.resume: str | None = None  # the command that completes the run, once known
        if before_start:
            what = f"stopped by {signal_name(signum)} before anything was deployed"
        else:
            what = f"stopped now ({signal_name(signum)} received twice); the run is marked aborted"
        super().__init__(what)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process killed by it


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _again(signum: int) -> str:
    return "Ctrl-C again" if signum == signal.SIGINT else f"send {signal_name(signum)} again"


@contextmanager
def stops_before_start() -> Iterator[None]:
    """While a run builds packages and opens its target (and once it has finished), SIGTERM
    and SIGHUP end it at once as Ctrl-C would: the `with` blocks unwind, so a local target
    stops and leaves nothing. Ctrl-C is Python's KeyboardInterrupt already."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise StopNow(signum, before_start=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class RunStop:
    """The run's stop flag, what is in flight, and the signal handlers that set it."""

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._echo = echo
        self._timer: threading.Timer | None = None
        self.signal: int | None = None  # the first stop signal received

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until stopped or `timeout` passes; True when stopped."""
        return self._event.wait(timeout)

    @contextmanager
    def in_flight(self, invocations: int) -> Iterator[None]:
        """Count invocations sent and not yet answered, for the stop message."""
        with self._lock:
            self._in_flight += invocations
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= invocations

    def in_flight_now(self) -> int:
        with self._lock:
            return self._in_flight

    def settled(self) -> None:
        """Nothing is in flight any more (measuring is over): no bound to enforce."""
        if self._timer is not None:
            self._timer.cancel()

    def _say(self, text: str) -> None:
        # Printed from a thread of its own: the signal interrupted the main thread
        # wherever it was, perhaps holding the console's lock.
        if self._echo is not None:
            threading.Thread(target=self._echo, args=(text,), daemon=True).start()

    def _handle(self, signum: int, grace_s: float) -> None:
        if self.signal is not None:
            raise StopNow(signum)
        self.signal = signum
        self.set()
        on = "" if signum == signal.SIGINT else f" on {signal_name(signum)}"
        self._say(
            f"stopping{on}: finishing {self.in_flight_now()} in-flight invocations; "
            f"{_again(signum)} to stop now"
        )
        # In-flight invocations end by the function timeout; past the bound, stop now.
        self._timer = threading.Timer(grace_s, os.kill, (os.getpid(), signum))
        self._timer.daemon = True
        self._timer.start()

    @contextmanager
    def on_signals(self, grace_s: float) -> Iterator[None]:
        """Install the handlers (main thread only) for the block; restore them after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self._handle(signum, grace_s)

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            self.settled()
            for sig, old in previous.items():
                signal.signal(sig, old)
