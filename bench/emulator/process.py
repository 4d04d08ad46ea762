"""One sandbox's OS process: spawn, capture its output as log lines, notice its exit, kill it.

stdout and stderr share one pipe, as they share one log stream on Lambda, so their
relative order survives. The pipe is read without a thread (an event-loop reader), and
`drain()` reads whatever is already in it synchronously: a runtime writes its output
before it posts the response, so draining when the response arrives puts every line of
an invocation before its END line, deterministically.

Exit is watched through a pidfd (no waiter thread per process); the leader runs in its
own session and process group so the whole tree can be signalled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.emulator.cgroups import SandboxGroup
from bench.emulator.isolation import decode_status
from bench.emulator.measure import session_pids

MAX_EVENT_BYTES = 256 * 1024  # Lambda splits longer lines into several events

# Receives (epoch ms, line) events, a batch per read, so a chatty function costs one write.
LinesCallback = Callable[[list[tuple[int, str]]], None]


class SandboxProcess:
    def __init__(self, on_lines: LinesCallback, group: SandboxGroup | None = None) -> None:
        self._on_lines = on_lines
        self.group = group
        self.popen: subprocess.Popen[bytes] | None = None
        self.pid = 0
        # Isolated: `pid` is bubblewrap's; the runtime runs below it (see `adopt`).
        self.isolated = False
        self.runtime_pid = 0
        self._jail_pids: set[int] = set()
        self.returncode: int | None = None
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._fd = -1
        self._pidfd = -1
        self._partial = b""
        self._held = False

    def spawn(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        pass_fds: tuple[int, ...] = (),
        hold_output: bool = False,
    ) -> tuple[int, int]:
        """Start the runtime; returns when it began, as (perf_counter_ns, epoch ns).

        With a cgroup, "began" is when the child has joined it, just before exec: moving a
        task between v1 cgroups waits for an RCU grace period (often 10+ ms), and that is
        our emulation's cost, not the runtime's (Lambda's sandbox exists before INIT).
        """
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        stamp_r, stamp_w = os.pipe() if self.group else (-1, -1)
        before_ns, before_epoch_ns = time.perf_counter_ns(), time.time_ns()
        try:
            self.popen = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                close_fds=True,
                pass_fds=pass_fds,
                start_new_session=True,
                # Only with a cgroup (a preexec hook forbids the faster vfork path); the hook
                # only calls os.open/os.write, which are safe between fork and exec.
                preexec_fn=self._preexec(stamp_w) if self.group else None,  # noqa: PLW1509
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            if stamp_w >= 0:
                os.close(stamp_w)
        started_ns = before_ns
        if stamp_r >= 0:
            data = os.read(stamp_r, 8)  # written before exec, so already there
            os.close(stamp_r)
            if len(data) == 8:
                started_ns = struct.unpack("q", data)[0]
        self.pid = self.runtime_pid = self.popen.pid
        os.set_blocking(read_fd, False)
        self._fd = read_fd
        self._held = hold_output
        if not hold_output:
            loop.add_reader(read_fd, self.drain)
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._on_exit)
        return started_ns, before_epoch_ns + (started_ns - before_ns)

    def _preexec(self, stamp_fd: int) -> Callable[[], None]:
        group = self.group
        assert group is not None

        def run() -> None:
            group.attach()
            os.write(stamp_fd, struct.pack("q", time.perf_counter_ns()))

        return run

    def release_output(self) -> None:
        """Start reading output held back by `spawn(hold_output=True)`."""
        if not self._held:
            return
        self._held = False
        if self._fd >= 0:
            asyncio.get_running_loop().add_reader(self._fd, self.drain)
            self.drain()

    def adopt(self, runtime_pid: int) -> None:
        """Isolated: the runtime is `runtime_pid`; bubblewrap's own two processes (ours
        and the sandbox's PID 1) are left out of the tree's memory and the OOM watch."""
        self.isolated = True
        self.runtime_pid = runtime_pid
        self._jail_pids = {self.pid, _parent_of(runtime_pid)}

    @property
    def alive(self) -> bool:
        return self.returncode is None

    def drain(self) -> None:
        """Turn everything already written to the pipe into log lines, now."""
        if self._fd < 0 or self._held:
            return
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close_pipe()
                return
            self._split(chunk)

    def _split(self, chunk: bytes) -> None:
        data = self._partial + chunk
        # Each complete line keeps its newline, as CloudWatch stores a runtime's output.
        parts = data.split(b"\n")
        self._partial = parts.pop()
        lines = [part + b"\n" for part in parts]
        if len(self._partial) >= MAX_EVENT_BYTES:
            lines.append(self._partial)
            self._partial = b""
        if lines:
            now_ms = time.time_ns() // 1_000_000
            self._on_lines([(now_ms, line.decode("utf-8", "replace")) for line in lines])

    def _close_pipe(self) -> None:
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        if self._partial:
            last = self._partial.decode("utf-8", "replace")
            self._on_lines([(time.time_ns() // 1_000_000, last)])
            self._partial = b""

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        assert self.popen is not None
        self.returncode = self.popen.wait()  # reaps: the pidfd says it has exited
        if self.isolated:
            self.returncode = decode_status(self.returncode)
        self.drain()
        if not self.exited.done():
            self.exited.set_result(self.returncode)

    def everything(self) -> list[int]:
        """Live processes of this sandbox, bubblewrap's own included: what a kill reaches.
        Its cgroup when it has one, else its session."""
        if self.group is not None:
            return self.group.pids()
        return session_pids(self.pid) if self.pid else []

    def tree(self) -> list[int]:
        """The runtime and what it started (bubblewrap's processes left out)."""
        return [pid for pid in self.everything() if pid not in self._jail_pids]

    def signal_tree(self, sig: int) -> None:
        if not self.pid:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        # A child that started its own process group escapes killpg, not its cgroup/session.
        for pid in self.everything():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    async def kill(self, grace_s: float = 0.0) -> None:
        """Stop the whole tree (SIGTERM, then SIGKILL after `grace_s`), reap the leader."""
        if self.popen is None:
            return
        if grace_s > 0 and self.alive:
            self.signal_tree(signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.exited), grace_s)
        self.signal_tree(signal.SIGKILL)
        await asyncio.shield(self.exited)
        await self._wait_tree_gone()
        self.drain()

    async def _wait_tree_gone(self, deadline_s: float = 2.0) -> None:
        """Grandchildren die a moment after SIGKILL; a cgroup is only removable once empty."""
        end = time.monotonic() + deadline_s
        while (self.group is not None or self.isolated) and time.monotonic() < end:
            if not self.everything():
                return
            self.signal_tree(signal.SIGKILL)
            await asyncio.sleep(0.005)


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0
    return int(stat[stat.rfind(b")") + 2 :].split()[1])
