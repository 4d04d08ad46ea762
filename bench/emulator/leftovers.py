"""What a local target leaves when its process is killed (kill -9, a crash, a power cut
of the terminal): its state directory, its cgroups, sandbox processes. Each is labelled
with the owner's pid (and, once a run opens, the run id), so `bench cleanup` can find
what no living process owns and remove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.emulator import cgroups

STATE_PREFIX = "coldbench-emulator-"
OWNER_FILE = "owner.json"
# How long to wait for killed processes to leave their cgroups before removing them.
KILL_WAIT_S = 5.0


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): a reused pid has another."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def new_state_dir() -> Path:
    """A private temporary state directory, labelled with its owner."""
    path = Path(tempfile.mkdtemp(prefix=f"{STATE_PREFIX}{os.getpid()}-"))
    write_owner(path)
    return path


def write_owner(path: Path, run_id: str | None = None) -> None:
    pid = os.getpid()
    owner = {
        "pid": pid,
        "pid_start": _start_ticks(pid),
        "run_id": run_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (path / OWNER_FILE).write_text(json.dumps(owner) + "\n")


def _alive(pid: int, start: int | None) -> bool:
    ticks = _start_ticks(pid)
    return ticks is not None and (start is None or ticks == start)


@dataclass
class Leftover:
    """A dead local target's state directory, its processes and its cgroups."""

    path: Path | None
    pid: int
    run_id: str | None = None
    created: datetime | None = None
    processes: list[int] = field(default_factory=list)
    cgroups: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        what = [str(self.path)] if self.path else []
        what += [f"{len(self.processes)} sandbox process(es)"] if self.processes else []
        what += [f"{len(self.cgroups)} cgroup(s)"] if self.cgroups else []
        run = f"run {self.run_id}" if self.run_id else f"pid {self.pid}"
        return f"{run}: {', '.join(what)}"


def _processes_of(state: Path) -> list[int]:
    """Processes started from the state directory: a sandbox's bubblewrap names it in its
    arguments, an unisolated runtime works in it."""
    mine = os.getpid()
    found = []
    needle = str(state).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if needle in cmdline or cwd.startswith(str(state) + os.sep):
            found.append(int(entry.name))
    return sorted(found)


def _dead_groups() -> dict[int, list[Path]]:
    """Per owner pid, the sandbox cgroups (cgroups.detect's `coldbench-<pid>-<hex>`) of
    owners that are gone."""
    out: dict[int, list[Path]] = {}
    for parent in cgroups.parents():
        for base in parent.glob("coldbench-*-*"):
            owner = base.name.split("-")[1]
            if base.is_dir() and owner.isdigit() and not _alive(int(owner), None):
                out.setdefault(int(owner), []).append(base)
    return out


def find(run_id: str | None = None, cutoff: datetime | None = None) -> list[Leftover]:
    """Every dead local target's leftovers (of one run, or older than `cutoff`)."""
    found: dict[int, Leftover] = {}
    for path in sorted(Path(tempfile.gettempdir()).glob(f"{STATE_PREFIX}*")):
        try:
            owner = json.loads((path / OWNER_FILE).read_text())
            pid = int(owner["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not labelled: an older version's, or not ours to judge
        if _alive(pid, owner.get("pid_start")):
            continue
        created = None
        with contextlib.suppress(TypeError, ValueError):
            created = datetime.fromisoformat(owner.get("created"))
        found[pid] = Leftover(path, pid, owner.get("run_id"), created, _processes_of(path))
    for pid, groups in _dead_groups().items():
        found.setdefault(pid, Leftover(None, pid)).cgroups = groups
    wanted = []
    for leftover in found.values():
        if run_id is not None and leftover.run_id != run_id:
            continue
        if cutoff is not None and (leftover.created is None or leftover.created > cutoff):
            continue
        wanted.append(leftover)
    return sorted(wanted, key=lambda x: x.pid)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _group_pids(base: Path) -> list[int]:
    pids = []
    for procs in base.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(x) for x in procs.read_text().split()]
    return pids


def remove(leftover: Leftover) -> list[str]:
    """Kill its processes, remove its cgroups and its state directory; say what stayed."""
    problems = []
    _kill(leftover.processes)
    for base in leftover.cgroups:
        _kill(_group_pids(base))
    deadline = time.monotonic() + KILL_WAIT_S
    for base in leftover.cgroups:
        children = sorted((d for d in base.rglob("*") if d.is_dir()), reverse=True)
        for group in [*children, base]:
            while True:
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        problems.append(f"{group}: {exc.strerror}")
                        break
                    time.sleep(0.05)  # the kernel is still reaping the killed processes
    if leftover.path is not None:
        try:
            shutil.rmtree(leftover.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            problems.append(f"{exc.filename or leftover.path}: {exc.strerror}")
    return problems
