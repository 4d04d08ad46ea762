"""Host contention while sandboxes run: what capacity admission cannot prevent.

Admission keeps *our* sandbox work within the host's CPUs less a reserve. Anything else
that runs on the host (another bench run, a busy CI neighbour, a hypervisor taking its
share) still slows the sandboxes down. The sampler reads, every SAMPLE_S:

- /proc/stat: CPU time the host spent busy, and steal time (a hypervisor's other guests);
- this process's own counters and its sandboxes' (their leaders' /proc/<pid>/stat while
  they live, the reaped children's total once they are gone), so the host's busy time
  splits into sandbox work and everything else (the endpoint, the driver, other processes);
- /proc/loadavg: how many tasks are runnable at that instant.

An invocation is judged over a window from before its arrival to its response (at least
MIN_WINDOW_S, as the counters tick 100 times a second): contended when the CPU used outside
this process (not the endpoint, not an embedded driver, not our sandboxes) went past the
reserve, steal went past STEAL_LIMIT, or more tasks were runnable than the host has CPUs
beyond RUN_QUEUE_MARGIN while something outside used more than OUTSIDE_FLOOR. Without
/proc (not Linux) nothing is judged.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SAMPLE_S = 0.1
MIN_WINDOW_S = 0.3
HISTORY_S = 60.0
STEAL_LIMIT = 0.05  # of the host's CPUs
RUN_QUEUE_MARGIN = 1.0  # runnable tasks beyond the host's CPUs, on average over the window
OUTSIDE_FLOOR = 0.25  # CPUs used outside this process below which a long run queue is ours
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Reason codes (the X-Bench-Contention header, the records' `contention`).
HOST_BUSY = "host-busy"
STEAL = "steal"
RUN_QUEUE = "run-queue"
CPU_LIMITS_OFF = "cpu-limits-off"
INIT_OVER_BUDGET = "init-over-budget"


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    busy: int  # host ticks: user + nice + system + irq + softirq
    steal: int
    sandboxes: int  # ticks used by our sandboxes, ever
    runnable: int  # tasks runnable at this instant, the reader not counted
    own: int = 0  # ticks used by this process itself (the endpoint, and an embedded driver)


def _host_ticks() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return user + nice + system + irq + softirq, steal


def _runnable() -> int:
    try:
        with open("/proc/loadavg", "rb") as fh:
            running = fh.read().split()[3]
    except (OSError, IndexError):
        return 0
    return max(0, int(running.split(b"/")[0]) - 1)


def process_ticks(pid: int | str) -> tuple[int, int] | None:
    """(own utime+stime, reaped children's cutime+cstime) of one process, in ticks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    # state is field 3 of stat; utime..cstime are fields 14-17.
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return utime + stime, cutime + cstime


class SandboxTicks:
    """CPU ticks used by the sandboxes of this process, ever, dead ones included.

    A live leader's ticks (its own and its reaped children's) are read from its stat;
    once we reap it, the same ticks move into our own cutime+cstime. Per-pid memory keeps
    that move from being counted twice."""

    def __init__(self, leaders: Callable[[], Iterable[int]]) -> None:
        self._leaders = leaders
        self._live: dict[int, int] = {}
        self._reaped_seen = 0
        self._total = 0
        first = process_ticks("self")
        self._children = first[1] if first else 0

    def read(self) -> int:
        now: dict[int, int] = {}
        for pid in self._leaders():
            ticks = process_ticks(pid)
            if ticks is not None:
                now[pid] = sum(ticks)
        own = process_ticks("self")
        children = own[1] if own else self._children
        gone = sum(v for pid, v in self._live.items() if pid not in now)
        grown = sum(v - self._live.get(pid, 0) for pid, v in now.items())
        # Reaped since the last read: their full total arrived in cutime; what we had
        # already counted of them (`gone`) is taken off so only the remainder is new.
        self._total += grown + max(0, (children - self._children) - gone)
        self._children = children
        self._live = now
        return self._total


class HostLoad:
    """A short history of samples and the contention verdict of a window."""

    def __init__(
        self,
        *,
        host_cpus: int,
        reserve_vcpus: float,
        leaders: Callable[[], Iterable[int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host_cpus = host_cpus
        self.reserve = reserve_vcpus
        self._clock = clock
        self._sandboxes = SandboxTicks(leaders)
        self._history: collections.deque[Sample] = collections.deque()
        self.available = _host_ticks() is not None
        self.windows = 0
        self.contended = 0

    def sample(self) -> Sample | None:
        host = _host_ticks()
        if host is None:
            return None
        own = process_ticks("self")
        sample = Sample(
            self._clock(), host[0], host[1], self._sandboxes.read(), _runnable(),
            own[0] if own else 0,
        )  # fmt: skip
        self._history.append(sample)
        while self._history and self._history[0].at < sample.at - HISTORY_S:
            self._history.popleft()
        return sample

    def judge(self, since: float) -> list[str]:
        """Reason codes for the window from `since` (monotonic) to now; [] if clean."""
        end = self.sample()
        if end is None or len(self._history) < 2:
            return []
        start_at = min(since, end.at - MIN_WINDOW_S)
        times = [s.at for s in self._history]
        index = max(0, bisect.bisect_right(times, start_at) - 1)
        start = self._history[index]
        span = end.at - start.at
        if span <= 0:
            return []
        per_s = TICKS_PER_S * span  # ticks in one CPU-second over the window
        others = ((end.busy - start.busy) - (end.sandboxes - start.sandboxes)) / per_s
        # The endpoint's (and an embedded driver's) own work is what the reserve is for;
        # contention is load from outside this process: another run, a busy neighbour.
        outside = others - (end.own - start.own) / per_s
        steal = (end.steal - start.steal) / per_s
        window = list(itertools.islice(self._history, index, None))
        runnable = sum(s.runnable for s in window) / len(window)
        reasons = []
        if outside > self.reserve:
            reasons.append(HOST_BUSY)
        if steal > STEAL_LIMIT * self.host_cpus:
            reasons.append(STEAL)
        # A queue of our own threads and sandboxes is not contention from outside.
        if runnable > self.host_cpus + RUN_QUEUE_MARGIN and outside > OUTSIDE_FLOOR:
            reasons.append(RUN_QUEUE)
        self.windows += 1
        self.contended += bool(reasons)
        return reasons
