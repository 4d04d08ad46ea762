"""Per-sandbox cgroups: CPU in proportion to memory (1769 MB = one vCPU) and a memory cap.

Groups are made *under the cgroup this process already lives in*, so whatever limits
the host put on us still apply to the sandboxes. v1 (separate cpu and memory
hierarchies) and v2 (one unified hierarchy) are both supported.

OOM policy: our own peak-RSS watch (measure.py) is the authority and kills a sandbox
whose tree goes past its memory size. The cgroup limit sits a margin above that, as a
backstop for a function that allocates faster than we poll; when the kernel's OOM
killer fires there, we read its counter and still report Runtime.OutOfMemory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bench.emulator.errors import EmulatorError

ROOT = Path("/sys/fs/cgroup")
# A short period spreads a small quota evenly; with 100 ms a 128 MB sandbox would run
# 7 ms then sit idle 93 ms, which makes short inits jumpy.
CPU_PERIOD_US = 20_000
MB_PER_VCPU = 1769
MAX_VCPUS = 6
# Weight of the sandboxes' parent group against everything else on the host (default
# weight 1024 in v1, 100 in v2). A quota only caps a sandbox; without extra weight a
# 1769 MB sandbox on a busy host would get far less than its one vCPU and understate the
# gap between memory sizes. Sandboxes first, as on a dedicated Lambda host.
PARENT_WEIGHT_FACTOR = 8
# The INIT phase runs with at least one vCPU whatever the memory size. Lambda does not
# document this, but its published init times cannot come from a memory-sized share:
# python3.12 initialises in ~85 ms at 128 MB, where 128/1769 of a vCPU would stretch
# the interpreter's own start-up alone to several hundred ms.
INIT_MIN_VCPUS = 1.0


def cpu_share(memory_mb: int) -> float:
    return min(memory_mb / MB_PER_VCPU, float(MAX_VCPUS))


def memory_backstop_bytes(memory_mb: int) -> int:
    return (memory_mb + max(64, memory_mb // 4)) * 1024 * 1024


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ('' key = v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


@dataclass
class Hierarchy:
    """Where sandbox groups are made: one base dir per controller (v1) or one (v2)."""

    version: int
    cpu_base: Path
    memory_base: Path

    def remove(self) -> None:
        for base in {self.cpu_base, self.memory_base}:
            with contextlib.suppress(OSError):
                base.rmdir()


def _try_v1(tag: str) -> Hierarchy | None:
    cpu_own, mem_own = _own_path("cpu"), _own_path("memory")
    if cpu_own is None or mem_own is None:
        return None
    cpu_base = ROOT / "cpu" / cpu_own.lstrip("/") / tag
    mem_base = ROOT / "memory" / mem_own.lstrip("/") / tag
    if not (cpu_base.parent / "cpu.cfs_quota_us").exists():
        return None
    try:
        cpu_base.mkdir(exist_ok=True)
        mem_base.mkdir(exist_ok=True)
        (cpu_base / "cpu.shares").write_text(str(1024 * PARENT_WEIGHT_FACTOR))
    except OSError:
        return None
    return Hierarchy(1, cpu_base, mem_base)


def _try_v2(tag: str) -> Hierarchy | None:
    own = _own_path("")
    if own is None or not (ROOT / "cgroup.controllers").exists():
        return None
    parent = ROOT / own.lstrip("/")
    base = parent / tag
    try:
        if not {"cpu", "memory"} <= set((parent / "cgroup.controllers").read_text().split()):
            return None
        (parent / "cgroup.subtree_control").write_text("+cpu +memory")
        base.mkdir(exist_ok=True)
        (base / "cgroup.subtree_control").write_text("+cpu +memory")
        (base / "cpu.weight").write_text(str(100 * PARENT_WEIGHT_FACTOR))
    except OSError:
        with contextlib.suppress(OSError):
            base.rmdir()
        return None
    return Hierarchy(2, base, base)


def detect(mode: str) -> Hierarchy | None:
    """The hierarchy to use for `mode` (auto | on | off); 'on' without cgroups is an error."""
    if mode == "off":
        return None
    tag = f"coldbench-{os.getpid()}-{secrets.token_hex(3)}"
    found = _try_v1(tag) or _try_v2(tag)
    if found is not None:
        for base in {found.cpu_base.parent, found.memory_base.parent}:
            _remove_stale(base)
    if found is None and mode == "on":
        raise EmulatorError(
            "cpu_limits=on but no writable cgroup (v1 cpu+memory or v2) under /sys/fs/cgroup: "
            "run as root with cgroups mounted, or use cpu_limits=auto/off"
        )
    return found


def parents() -> list[Path]:
    """Where `detect` makes this process's sandbox groups (and another emulator in the
    same cgroup made its own): per v1 controller, or the one v2 directory."""
    found = []
    for controller in ("cpu", "memory"):
        own = _own_path(controller)
        if own is not None and (ROOT / controller).is_dir():
            found.append(ROOT / controller / own.lstrip("/"))
    own = _own_path("")
    if own is not None and (ROOT / "cgroup.controllers").exists():
        found.append(ROOT / own.lstrip("/"))
    return [p for p in dict.fromkeys(found) if p.is_dir()]


def _remove_stale(parent: Path) -> None:
    """Groups left by an emulator that was killed (its pid is gone): empty ones go away."""
    for base in parent.glob("coldbench-*-*"):
        owner = base.name.split("-")[1]
        if not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        for child in [d for d in base.iterdir() if d.is_dir()]:
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            base.rmdir()


class SandboxGroup:
    """One sandbox's cgroup(s); `attach` runs in the child between fork and exec."""

    def __init__(self, hierarchy: Hierarchy, name: str, memory_mb: int) -> None:
        self.h = hierarchy
        self.cpu_dir = hierarchy.cpu_base / name
        self.mem_dir = hierarchy.memory_base / name
        self.cpu_dir.mkdir()
        if self.mem_dir != self.cpu_dir:
            self.mem_dir.mkdir()
        self.share = cpu_share(memory_mb)
        # Weights in proportion to memory too: when sandboxes oversubscribe the host they
        # split it as their quotas would, instead of evenly.
        if hierarchy.version == 1:
            (self.cpu_dir / "cpu.shares").write_text(str(max(2, int(1024 * self.share))))
            (self.cpu_dir / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (self.mem_dir / "memory.limit_in_bytes").write_text(
                str(memory_backstop_bytes(memory_mb))
            )
        else:
            (self.cpu_dir / "cpu.weight").write_text(str(max(1, int(100 * self.share))))
            (self.mem_dir / "memory.max").write_text(str(memory_backstop_bytes(memory_mb)))
        self.set_cpu(max(self.share, INIT_MIN_VCPUS))
        self._procs = sorted(
            {str(self.cpu_dir / "cgroup.procs"), str(self.mem_dir / "cgroup.procs")}
        )

    def set_cpu(self, vcpus: float) -> None:
        """Cap the group at `vcpus` CPUs (quota per period)."""
        quota = max(1000, int(CPU_PERIOD_US * vcpus))
        if self.h.version == 1:
            (self.cpu_dir / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (self.cpu_dir / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")

    def end_init(self) -> None:
        """From the first invoke on, the CPU follows memory (see INIT_MIN_VCPUS)."""
        if self.share < INIT_MIN_VCPUS:
            self.set_cpu(self.share)

    def attach(self) -> None:
        """preexec_fn: move the child in before it runs a single instruction of the runtime."""
        pid = str(os.getpid()).encode()
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    @property
    def procs_file(self) -> Path:
        return self.mem_dir / "cgroup.procs"

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.h.version == 1 else "memory.events"
        try:
            for line in (self.mem_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in self.procs_file.read_text().split()]
        except OSError:
            return []

    def remove(self) -> bool:
        """rmdir both groups; False while a process is still inside."""
        ok = True
        for d in {self.cpu_dir, self.mem_dir}:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok
