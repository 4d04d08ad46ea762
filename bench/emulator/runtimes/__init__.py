"""How each Lambda runtime is started on this machine, and what it really runs on.

python3.x runs awslambdaric on the interpreter running us; nodejs*.x runs our small ESM
bootstrap on Node; java* runs our small bootstrap, compiled on first use with the local
javac, on a JVM; provided.al2023 and provided.al2 run the function's own `bootstrap`,
natively. Which Node or JVM is resolve.py's job: the host's when its version is the
requested one, else a real build fetched from PyPI on first use (provision.py), else the
host's of another version, named as a substitution with the reason (e.g. "python3.12 on
CPython 3.11.7: ...").
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.emulator.errors import EmulatorError
from bench.emulator.runtimes.provision import runtimes_dir
from bench.emulator.runtimes.resolution import Resolution, resolve

__all__ = [
    "Launch", "Resolution", "default_cache_dir", "launch_for", "prepare", "resolve", "runtimes_dir",
]  # fmt: skip

HERE = Path(__file__).resolve().parent
NODE_BOOTSTRAP = HERE / "node_bootstrap.mjs"
JAVA_BOOTSTRAP = HERE / "JavaBootstrap.java"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]  # runtime-specific variables added to the sandbox's environment
    runtime_version: str  # as INIT_START shows it, e.g. "python:3.12.v7"
    substitution: str | None  # None when the local version is the requested one


def runtime_version_arn(region: str, runtime_version: str, local: str) -> str:
    """A stable ARN per (runtime, local interpreter): same machine, same ARN."""
    digest = hashlib.sha256(f"{runtime_version}|{local}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


def _python(runtime: str, handler: str, code_dir: Path) -> Launch:
    found = resolve(runtime)
    assert found.binary is not None
    micro = found.runs_on.rsplit(".", 1)[-1]
    return Launch(
        argv=[found.binary, "-m", "awslambdaric", handler],
        env={"PYTHONPATH": str(code_dir)},
        runtime_version=f"python:{runtime.removeprefix('python')}.v{micro}",
        substitution=found.substitution,
    )


def _node(runtime: str, memory_mb: int, node_binary: str | None) -> Launch:
    found = resolve(runtime, configured=node_binary)
    assert found.binary is not None
    wanted = runtime.removeprefix("nodejs").removesuffix(".x")
    return Launch(
        # Heap sized from the function's memory, not the host's (Lambda's own bootstrap
        # does the same; without it V8 would grow far past a 128 MB function).
        argv=[
            found.binary,
            f"--max-old-space-size={max(16, memory_mb * 9 // 10)}",
            str(NODE_BOOTSTRAP),
        ],
        env={"NODE_PATH": "/opt/nodejs/node_modules"},
        runtime_version=f"nodejs:{wanted}.v{found.runs_on.rsplit('.', 1)[-1]}",
        substitution=found.substitution,
    )


def _java(
    runtime: str, code_dir: Path, memory_mb: int, cache_dir: Path, java_binary: str | None
) -> Launch:
    javac = shutil.which("javac")
    if not javac:
        raise EmulatorError(
            f"{runtime} needs javac on PATH to compile its bootstrap once: install a JDK, "
            "e.g. openjdk-17-jdk-headless"
        )
    found = resolve(runtime, configured=java_binary)
    assert found.binary is not None
    classes = _compile_java(javac, cache_dir)
    wanted = runtime.removeprefix("java")
    classpath = f"{classes}:{code_dir}:{code_dir}/lib/*"
    return Launch(
        # The flags Lambda's managed Java runtime starts with: heap, metaspace and code cache
        # as 85/10/5 % of the function's memory, serial GC, CDS, C1 only (faster starts).
        argv=[
            found.binary,
            f"-XX:MaxHeapSize={memory_mb * 1024 * 85 // 100}k",
            f"-XX:MaxMetaspaceSize={memory_mb * 1024 * 10 // 100}k",
            f"-XX:ReservedCodeCacheSize={memory_mb * 1024 * 5 // 100}k",
            "-XX:+UseSerialGC",
            "-Xshare:auto",
            "-XX:+TieredCompilation",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            classpath,
            "JavaBootstrap",
        ],
        env={},
        runtime_version=f"java:{wanted}.v{found.runs_on.rsplit('.', 1)[-1]}",
        substitution=found.substitution,
    )


def _provided(runtime: str, code_dir: Path) -> Launch:
    found = resolve(runtime)
    return Launch(
        argv=[str(code_dir / "bootstrap")],
        env={},
        # As INIT_START shows an OS-only runtime, e.g. "provided:al2023.v25".
        runtime_version=f"provided:{runtime.removeprefix('provided.')}.v1",
        substitution=found.substitution,
    )


def prepare(runtime: str, *, configured: str | None = None) -> Resolution:
    """What the first sandbox of `runtime` would otherwise do before it could start: fetch
    its build, compile the Java bootstrap. Done ahead, it stays out of the first cold start."""
    found = resolve(runtime, configured=configured)
    javac = shutil.which("javac")
    if runtime.startswith("java") and javac:
        _compile_java(javac, default_cache_dir())
    return found


def default_cache_dir() -> Path:
    """Where the compiled Java bootstrap is kept between runs (it takes javac a second):
    beside the fetched runtimes, so one read-only directory holds all a sandbox runs."""
    return runtimes_dir()


def _compile_java(javac: str, cache_dir: Path) -> Path:
    """Compile the bootstrap once per source version (keyed by its hash).

    Compiled into a private directory and renamed into place, so two emulators starting
    at once never see a half-written class."""
    digest = hashlib.sha256(JAVA_BOOTSTRAP.read_bytes()).hexdigest()[:16]
    out = cache_dir / f"java-bootstrap-{digest}"
    if (out / "JavaBootstrap.class").exists():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="java-bootstrap-", dir=cache_dir))
    done = subprocess.run(
        [javac, "--release", "17", "-d", str(work), str(JAVA_BOOTSTRAP)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        last = done.stderr.strip().splitlines()[-1:]
        raise EmulatorError(f"{JAVA_BOOTSTRAP}: javac failed: {last}")
    try:
        work.rename(out)
    except OSError:  # another process got there first: theirs is as good
        shutil.rmtree(work, ignore_errors=True)
    return out


def launch_for(
    runtime: str,
    handler: str,
    code_dir: Path,
    *,
    memory_mb: int,
    cache_dir: Path,
    node_binary: str | None = None,
    java_binary: str | None = None,
) -> Launch:
    if runtime.startswith("python3"):
        return _python(runtime, handler, code_dir)
    if runtime.startswith("nodejs"):
        return _node(runtime, memory_mb, node_binary)
    if runtime.startswith("java"):
        return _java(runtime, code_dir, memory_mb, cache_dir, java_binary)
    if runtime.startswith("provided."):
        return _provided(runtime, code_dir)
    raise EmulatorError(
        f"runtime {runtime!r} is not supported by the local target: use python3.x, "
        "nodejs*.x, java* or provided.al2023/provided.al2"
    )
