"""Capacity admission: sandbox work starts only when this host can run it uncontended.

AWS gives every execution environment its own CPU; this host has a few cores shared by
every sandbox, the endpoint and the driver. So the sandboxes' CPU in use (an init at its
init share, an invocation at memory/1769) is kept within the host's CPUs less a reserve
for the endpoint and the driver. Work that does not fit waits, in arrival order, before
its INIT_START or START line, and the wait is reported apart (X-Bench-Queued-Ms) instead
of being folded into Init Duration or Duration.

Strict FIFO: a small request never overtakes a big one that is waiting, so a 10 GB
function is not starved by a stream of 128 MB ones. A demand larger than the whole
capacity is cut to it: such work runs alone.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from dataclasses import dataclass, field

# CPUs kept free of sandbox work for the endpoint (HTTP, log store, process spawning) and
# the driver (signing, burst threads) on the same host. Shown by `bench emulator --info`.
HOST_RESERVE_VCPUS = 0.5
_EPSILON = 1e-9


def sandbox_capacity(host_cpus: int, reserve: float = HOST_RESERVE_VCPUS) -> float:
    """CPUs the sandboxes may use at once; never below a tenth of a CPU."""
    return max(0.1, host_cpus - reserve)


def host_cpus() -> int:
    return len(os.sched_getaffinity(0))


@dataclass
class Ticket:
    """Capacity held by one piece of work; `queued_ms` is how long it waited for it."""

    admission: Admission
    demand: float
    queued_ms: float = 0.0
    released: bool = field(default=False)

    def shrink(self, demand: float) -> None:
        """Hold less from now on (an init that became an invocation); never more."""
        demand = min(demand, self.admission.capacity)
        if self.released or demand >= self.demand:
            return
        self.admission._give_back(self.demand - demand)
        self.demand = demand

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.admission._give_back(self.demand)


class Admission:
    """A FIFO gate over `capacity` CPUs. Used from one event loop only."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.in_use = 0.0
        self.peak = 0.0
        self.admitted = 0
        self.waited = 0  # admissions that had to wait
        self._queue: collections.deque[tuple[float, asyncio.Future[None]]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _fits(self, demand: float) -> bool:
        return self.in_use + demand <= self.capacity + _EPSILON

    def _take(self, demand: float) -> None:
        self.in_use += demand
        self.peak = max(self.peak, self.in_use)
        self.admitted += 1

    async def acquire(self, demand: float) -> Ticket:
        """Wait until `demand` CPUs fit behind everything that arrived earlier."""
        demand = min(max(demand, 0.0), self.capacity)
        if not self._queue and self._fits(demand):
            self._take(demand)
            return Ticket(self, demand)
        arrived = time.perf_counter_ns()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (demand, future)
        self._queue.append(entry)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._give_back(demand)  # granted as the waiter was cancelled: hand it on
            else:
                if entry in self._queue:
                    self._queue.remove(entry)
                self._wake()  # the head may have been what blocked the others
            raise
        self.waited += 1
        return Ticket(self, demand, queued_ms=(time.perf_counter_ns() - arrived) / 1e6)

    def _give_back(self, demand: float) -> None:
        self.in_use = max(0.0, self.in_use - demand)
        self._wake()

    def _wake(self) -> None:
        while self._queue and self._fits(self._queue[0][0]):
            demand, future = self._queue.popleft()
            if future.done():  # cancelled; its entry is removed by its own handler
                continue
            self._take(demand)
            future.set_result(None)
