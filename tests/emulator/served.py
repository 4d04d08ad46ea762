"""`bench emulator` as a real subprocess, for tests that drive it as a user would.

`serve(state_dir)` starts it, reads the `export` lines it prints up to its comment line,
and yields the process and those exports; on exit it stops the emulator with Ctrl-C and
checks that it said every sandbox is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 30.0


@dataclass
class Served:
    proc: subprocess.Popen[str]
    exports: dict[str, str]

    def rss_kb(self) -> int:
        """The emulator process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line for the emulator process")

    def client_env(self, home: Path) -> dict[str, str]:
        """A clean environment for a client process: PATH, HOME and the exports only."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_PAGER": "",
            **self.exports,
        }


@contextlib.contextmanager
def serve(state_dir: Path) -> Iterator[Served]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bench.cli import app; app()", "emulator",
         "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    exports: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT_S
    assert proc.stdout is not None
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                proc.wait(5)
                stderr = proc.stderr.read() if proc.stderr else ""
                pytest.fail(f"bench emulator exited early: {stderr}")
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            elif line.startswith("#"):
                break  # the comment line follows the last export
            assert time.monotonic() < deadline, "bench emulator printed no exports in time"
        yield Served(proc, exports)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "every sandbox is gone" in out
