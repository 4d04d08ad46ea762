"""Each sandbox isolated as Lambda isolates it, with bubblewrap (Debian's `bubblewrap`).

A sandbox gets its own PID, mount, network, IPC and UTS namespaces; sees only the
system's /usr and a few /etc entries, its runtime's installation and its own code, all
read-only; a private /tmp of the function's ephemeral storage size; 1,024 descriptors
and 1,024 processes/threads; and runs as an unprivileged user. Its Runtime API is a
socket listening on 127.0.0.1:9001 *inside* its own network namespace (see
sandbox_launch.py), so no other sandbox, and nothing on the host, can reach it. When
the runtime exits or is killed, its PID namespace ends and takes every process it
started with it.

Two ways to get there, chosen by who runs the emulator:
- root: bubblewrap's privileged mode (no user namespace); each sandbox then drops to its
  own host uid, so the process limit counts that sandbox alone and the runtime owns
  nothing on the host;
- any other user: an unprivileged user namespace in which the runtime is uid 993
  (Lambda's sbx_user1051), mapped to the user running the emulator.
Where neither works (no bwrap, user namespaces disabled), `probe()` says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob
import importlib.util
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.emulator.runtimes import default_cache_dir, runtimes_dir

TASK_ROOT = Path("/var/task")  # where Lambda puts the function's code
LAUNCHER = Path(__file__).resolve().parent / "sandbox_launch.py"
RUNTIME_API_ADDRESS = "127.0.0.1:9001"
SANDBOX_UID, SANDBOX_GID = 993, 990  # Lambda's sbx_user1051 inside a user namespace
# Host uids handed to sandboxes when we run as root: one per sandbox, drawn at random from
# a range no distribution allocates, so RLIMIT_NPROC (counted per uid) is per sandbox.
HOST_UID_BASE = 0x4000_0000
HOST_UID_SPAN = 1 << 28
HANDOVER_TIMEOUT_S = 10.0
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap)"
# What of the host's /etc a runtime needs: certificates, the dynamic loader's cache, time
# zone, host names, Debian's alternatives (/usr/bin/java points through it) and the JDK's
# configuration. Nothing else of /etc (no passwd, no environment, no credentials).
ETC = (
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
)


@dataclass(frozen=True)
class Support:
    """Whether this host can isolate sandboxes, and how."""

    available: bool
    mode: str  # "root" (privileged bubblewrap, a host uid per sandbox), "userns", or "none"
    bwrap: str | None
    reason: str  # why not ("" when available)

    def describe(self) -> dict[str, object]:
        return {"isolated": self.available, "mode": self.mode, "reason": self.reason or None}


def _namespace_flags(privileged: bool) -> list[str]:
    flags = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    flags += ["--unshare-cgroup-try", "--die-with-parent", "--hostname", "localhost"]
    if privileged:
        # Root keeps only what the launcher needs to drop to the sandbox's own uid.
        return [*flags, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [
        *flags,
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--disable-userns",
    ]


@functools.cache
def probe() -> Support:
    """Try the namespaces a sandbox needs once, with a no-op command (~5 ms)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Support(False, "none", None, f"bwrap not found on PATH: {INSTALL_HINT}")
    privileged = os.geteuid() == 0
    argv = [bwrap, *_namespace_flags(privileged), *_system_binds(), "--proc", "/proc"]
    argv += ["--dev", "/dev", "--", "/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Support(False, "none", bwrap, f"bwrap could not run: {exc}")
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        hint = "" if privileged else " (unprivileged user namespaces may be disabled)"
        return Support(False, "none", bwrap, f"bwrap cannot create a sandbox{hint}: {detail}")
    return Support(True, "root" if privileged else "userns", bwrap, "")


def _system_binds() -> list[str]:
    """/usr and the usr-merged top-level links (/bin -> usr/bin ...), read-only."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--perms", "0755", "--dir", "/etc"]  # traversable, as on the host
    for path in [*ETC, *sorted(glob.glob("/etc/java-*"))]:
        args += ["--ro-bind-try", path, path]
    return args


def _install_root(binary: str) -> Path:
    """A runtime binary's installation: <prefix>/bin/node -> <prefix>."""
    real = Path(os.path.realpath(binary))
    return real.parent.parent if real.parent.name == "bin" else real.parent


def _python_paths() -> set[Path]:
    """The interpreter (it runs the launcher, and awslambdaric) and awslambdaric's home."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), _install_root(sys.executable)}
    spec = importlib.util.find_spec("awslambdaric")
    if spec is not None and spec.origin:
        paths.add(Path(spec.origin).resolve().parent.parent)
    return paths


def _named_paths(argv: list[str], env: dict[str, str]) -> set[Path]:
    """Existing absolute paths the launch names (binary, bootstrap, classpath entries)."""
    # An OS-only runtime's bootstrap is the function's own code, bound at TASK_ROOT below.
    paths = set() if Path(argv[0]).is_relative_to(TASK_ROOT) else {_install_root(argv[0])}
    for token in [*argv[1:], *env.values()]:
        for entry in token.split(":"):
            part = entry.removesuffix("/*")
            if part.startswith("/") and os.path.exists(part):
                paths.add(Path(os.path.realpath(part)))
    return paths


_opened: set[Path] = set()


def _open_to_sandbox(path: Path, caches: tuple[Path, ...]) -> None:
    """Our own caches (fetched runtimes and the compiled Java bootstrap, unpacked through
    mkdtemp, so 0700) must be readable by the sandbox's user. Only what this user owns
    under them is opened (o+rX), once per process; nothing else of the host is changed."""
    if path in _opened or not any(path.is_relative_to(c) for c in caches) or not path.is_dir():
        return
    _opened.add(path)
    with contextlib.suppress(OSError):
        for sub in [path, *path.rglob("*")]:
            info = sub.lstat()
            if sub.is_symlink() or info.st_uid != os.geteuid():
                continue
            wanted = 0o005 if sub.is_dir() or info.st_mode & 0o100 else 0o004
            if info.st_mode & wanted != wanted:
                sub.chmod(info.st_mode | wanted)


def _minimal(paths: set[Path]) -> list[Path]:
    """Drop paths inside another one (and inside /usr, which is bound already)."""
    kept: list[Path] = []
    for path in sorted(paths, key=lambda p: len(p.parts)):
        if path == Path("/") or any(path.is_relative_to(k) for k in [Path("/usr"), *kept]):
            continue
        kept.append(path)
    return kept


def _parents(path: Path, made: set[Path]) -> list[str]:
    """Make `path`'s missing parents world-traversable (bubblewrap would make them 0700,
    which the sandbox's unprivileged user could not cross to reach the mount)."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if parent == Path("/") or parent in made or parent.is_relative_to("/usr"):
            continue
        made.add(parent)
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


@dataclass
class Jailed:
    """One sandbox's bubblewrap command line and its end of the hand-over channel."""

    argv: list[str]
    pass_fds: tuple[int, ...]
    channel: socket.socket  # our end: the launcher sends the Runtime API socket on it
    child_end: socket.socket

    def after_spawn(self) -> None:
        self.child_end.close()

    async def handover(self, exited: asyncio.Future[int]) -> Handover | None:
        """The sandbox's listening Runtime API socket, its exec stamp and runtime pid;
        None when the sandbox ended (or hung) before handing it over."""
        loop = asyncio.get_running_loop()
        got: asyncio.Future[None] = loop.create_future()
        fd = self.channel.fileno()

        def readable() -> None:
            if not got.done():
                got.set_result(None)

        loop.add_reader(fd, readable)
        waits: set[asyncio.Future[object]] = {got, exited}  # type: ignore[arg-type]
        try:
            await asyncio.wait(
                waits, timeout=HANDOVER_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            loop.remove_reader(fd)
        if not got.done():
            self.channel.close()
            return None
        try:
            return _receive(self.channel)
        finally:
            self.channel.close()


@dataclass
class Handover:
    listener: socket.socket
    exec_ns: int  # perf_counter_ns just before the runtime's exec
    runtime_pid: int  # the runtime's pid as this process sees it
    # The endpoint's listener in the sandbox's namespace, for a function whose role may
    # call it (bench.emulator.grants); None for every other function.
    endpoint: socket.socket | None = None


_CREDS = struct.Struct("iII")  # struct ucred: pid, uid, gid


def _receive(channel: socket.socket) -> Handover | None:
    """One message: 8 bytes of stamp, the listening socket (SCM_RIGHTS) and the sender's
    credentials (SCM_CREDENTIALS), whose pid the kernel translates into our namespace."""
    ancillary = socket.CMSG_SPACE(8) + socket.CMSG_SPACE(_CREDS.size)
    try:
        data, ancdata, _, _ = channel.recvmsg(8, ancillary)
    except OSError:
        return None
    fds: list[int] = []
    pid = 0
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4]))
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _CREDS.unpack(payload[: _CREDS.size])[0]
    if len(data) != 8 or len(fds) not in (1, 2) or pid <= 0:
        for fd in fds:
            os.close(fd)
        return None
    listener = socket.socket(fileno=fds[0])
    endpoint = socket.socket(fileno=fds[1]) if len(fds) == 2 else None
    return Handover(listener, struct.unpack("q", data)[0], pid, endpoint)


def jail(
    support: Support,
    argv: list[str],
    env: dict[str, str],
    *,
    code_dir: Path,
    tmp_mb: int,
    extra_ro: tuple[Path, ...] = (),
    endpoint_port: int = 0,
) -> Jailed:
    """The command line that runs `argv` isolated; `env` is the runtime's environment."""
    assert support.bwrap is not None
    privileged = support.mode == "root"
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    theirs.set_inheritable(True)
    binds = _minimal(_python_paths() | _named_paths(argv, env) | set(extra_ro) | {LAUNCHER})
    caches = (default_cache_dir().resolve(), runtimes_dir().resolve())
    for path in binds:
        _open_to_sandbox(path, caches)
    host_uid = HOST_UID_BASE + secrets.randbelow(HOST_UID_SPAN) if privileged else 0
    cmd = [support.bwrap, *_namespace_flags(privileged), *_system_binds()]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    made: set[Path] = set()
    for path in binds:
        cmd += [*_parents(path, made), "--ro-bind", str(path), str(path)]
    cmd += _parents(TASK_ROOT, made)
    cmd += ["--ro-bind", str(code_dir), str(TASK_ROOT), "--chdir", str(TASK_ROOT)]
    cmd += ["--", sys.executable, "-I", "-S", str(LAUNCHER)]
    keep_pwd = "1" if "PWD" in env else "0"  # bubblewrap sets PWD; Lambda does not
    cmd += [str(theirs.fileno()), str(host_uid), str(host_uid), keep_pwd, str(endpoint_port)]
    cmd += ["--", *argv]
    return Jailed(cmd, (theirs.fileno(),), ours, theirs)


def decode_status(code: int) -> int:
    """bwrap exits 128+N when the runtime died of signal N: back to Popen's -N."""
    return -(code - 128) if 128 < code <= 128 + 64 else code
