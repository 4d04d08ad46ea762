"""Host contention sampling: the host's busy time splits into sandboxes and the rest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.emulator.hostload import HOST_BUSY, TICKS_PER_S, HostLoad, process_ticks

BURN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


@pytest.fixture
def burner() -> subprocess.Popen[bytes]:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat: host load is only sampled on Linux")
    proc = subprocess.Popen([sys.executable, "-c", BURN.format(s=1.2)])
    yield proc
    proc.kill()
    proc.wait()


def test_a_sandboxs_cpu_is_not_counted_as_someone_elses(burner) -> None:
    as_sandbox = HostLoad(host_cpus=2, reserve_vcpus=0.5, leaders=lambda: [burner.pid])
    as_stranger = HostLoad(host_cpus=2, reserve_vcpus=0.5, leaders=lambda: [])
    first = [as_sandbox.sample(), as_stranger.sample()]
    time.sleep(0.8)
    ticks_before = sum(process_ticks(burner.pid) or (0, 0))
    last = [as_sandbox.sample(), as_stranger.sample()]
    # Same host counters, read a moment apart; only the split between sandboxes and the
    # rest differs, by what the burner used (it had most of a CPU, on a busy host less).
    sandbox_ticks = last[0].sandboxes - first[0].sandboxes
    assert last[1].sandboxes == first[1].sandboxes == 0
    assert sandbox_ticks >= 0.8 * 0.2 * TICKS_PER_S, sandbox_ticks
    assert sandbox_ticks <= ticks_before + 2


def test_a_process_outside_the_sandboxes_using_more_than_the_reserve_is_contention(
    burner,
) -> None:
    load = HostLoad(host_cpus=2, reserve_vcpus=0.1, leaders=lambda: [])
    load.sample()
    since = time.monotonic()
    time.sleep(0.5)
    assert HOST_BUSY in load.judge(since)
    assert load.windows == 1 and load.contended == 1


def test_reaped_sandboxes_are_counted_once() -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat: host load is only sampled on Linux")
    leaders: list[int] = []
    load = HostLoad(host_cpus=2, reserve_vcpus=0.5, leaders=lambda: leaders)
    start = load.sample()
    proc = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.4)])
    leaders.append(proc.pid)
    time.sleep(0.2)
    load.sample()  # seen alive, part-way
    _, _, usage = os.wait4(proc.pid, 0)  # reaped: its ticks move into our cutime
    proc.returncode = 0
    leaders.clear()
    end = load.sample()
    used = end.sandboxes - start.sandboxes
    actual = (usage.ru_utime + usage.ru_stime) * TICKS_PER_S
    assert actual > 0.05 * TICKS_PER_S
    assert abs(used - actual) <= 3, (used, actual)  # once, to the counters' tick


def test_this_processs_own_work_is_told_apart_from_load_outside_it() -> None:
    """The endpoint and an embedded driver run in this process: their CPU is what the
    reserve is for, so it is counted as ours (`own`), not as someone else's load."""
    import threading

    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat: host load is only sampled on Linux")
    load = HostLoad(host_cpus=2, reserve_vcpus=0.5, leaders=lambda: [])
    start = load.sample()
    done = threading.Event()

    def spin() -> None:
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            pass
        done.set()

    threading.Thread(target=spin).start()
    done.wait(5)
    end = load.sample()
    assert start is not None and end is not None
    own = end.own - start.own
    busy = end.busy - start.busy
    # The spinning thread had most of a CPU (on a busy host less): it shows up as ours.
    assert own >= 0.6 * 0.2 * TICKS_PER_S, own
    assert own <= busy + 2
