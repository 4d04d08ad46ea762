"""What a sandbox measures: clocks, peak memory of a process tree, billed duration.

Max Memory Used is the sum of VmHWM (peak resident set) over the sandbox's processes,
read from /proc. We chose it over the cgroup's memory.max_usage_in_bytes because that
counter includes page cache (reading a 50 MB package would count 50 MB "used"), which
Lambda does not report; VmHWM is what the process itself touched. Summing per-process
peaks can overstate a tree whose members peaked at different times, and it cannot see
a child that already exited; both are rare in Lambda functions and the first errs on
the side of an early OOM, as the real limit does.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

MB = 1024 * 1024


def billed_ms(duration_ms: float, init_ms: float | None) -> int:
    """Billed Duration: 1 ms granularity; INIT counts for on-demand ZIP since 2025-08-01."""
    total = duration_ms + (init_ms or 0.0)
    return max(1, math.ceil(round(total, 6)))


def vm_hwm_kb(pid: int) -> int:
    """Peak RSS of one process in kB; 0 when it is gone (or a zombie, which has no mm)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def session_pids(sid: int) -> list[int]:
    """Every live process in session `sid` (the sandbox leader started its own session).

    The kernel here has no /proc/<pid>/task/<tid>/children, so we scan /proc, skipping
    pids below the leader's: its descendants were forked after it and got higher pids
    (until pid_max wraps around, which on 64-bit hosts takes millions of processes).
    That keeps a warm invoke's end-of-invoke read short on a host with many older processes.
    """
    pids: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) < sid:
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp session ...
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def tree_peak_mb(pids: Iterable[int]) -> float:
    return sum(vm_hwm_kb(pid) for pid in pids) / 1024
