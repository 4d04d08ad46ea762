"""The OS-only runtimes' bootstrap: a static binary per architecture, the same bytes twice."""

from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path

import pytest

from bench.emulator.runtimes.provision import ProvisionError
from bench.errors import TargetError
from bench.fixtures import build_artifact
from bench.matrix import Cell
from bench.target import BuildPlatform

ELF_MACHINES = {"x86_64": 62, "arm64": 183}  # e_machine: EM_X86_64, EM_AARCH64
PT_INTERP = 3


def _build(tmp_path: Path, architecture: str, name: str, build_for: BuildPlatform | None = None):
    cell = Cell(runtime="provided.al2023", memory_mb=128, architecture=architecture,
                package_mb=0.0, package_kind="none")  # fmt: skip
    try:
        return build_artifact(cell, tmp_path / name, build_for=build_for)
    except TargetError as exc:  # the harness's error, the endpoint's ProvisionError inside
        if not isinstance(exc.__cause__, ProvisionError):
            raise
        pytest.skip(f"zig could not be fetched from PyPI: {exc}")


def _elf(binary: bytes) -> tuple[int, bool]:
    """(e_machine, has a program interpreter) of a 64-bit little-endian ELF."""
    assert binary[:4] == b"\x7fELF" and binary[4] == 2 and binary[5] == 1
    machine = struct.unpack_from("<H", binary, 18)[0]
    phoff, = struct.unpack_from("<Q", binary, 32)
    phentsize, phnum = struct.unpack_from("<HH", binary, 54)
    kinds = [struct.unpack_from("<I", binary, phoff + i * phentsize)[0] for i in range(phnum)]
    return machine, PT_INTERP in kinds


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_bootstrap_is_static_and_built_byte_identically_twice(
    tmp_path: Path, architecture: str
) -> None:
    first = _build(tmp_path, architecture, "one")
    second = _build(tmp_path, architecture, "two")  # another cache, another build directory
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(first.zip_path) as one, zipfile.ZipFile(second.zip_path) as two:
        binary = one.read("bootstrap")
        assert hashlib.sha256(binary).digest() == hashlib.sha256(two.read("bootstrap")).digest()
        assert (one.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755
        assert "bootstrap.c" not in one.namelist()  # the binary ships, not its source
    machine, dynamic = _elf(binary)
    assert machine == ELF_MACHINES[architecture]
    assert not dynamic  # static: no loader, no libc of the host needed on Amazon Linux
    assert first.built_for == {"x86_64": "x86_64-linux-musl", "arm64": "aarch64-linux-musl"}[
        architecture
    ]
    assert first.handler == "bootstrap"


def test_a_target_of_another_machine_gets_a_bootstrap_for_that_machine(tmp_path: Path) -> None:
    """The local target runs every sandbox on this machine: an arm64 cell there needs the
    host's binary, and the artifact says which one it shipped."""
    host = BuildPlatform(python_version="3.11", architecture="x86_64")
    artifact = _build(tmp_path, "arm64", "local", build_for=host)
    assert artifact.built_for == "x86_64-linux-musl"
    with zipfile.ZipFile(artifact.zip_path) as archive:
        assert _elf(archive.read("bootstrap"))[0] == ELF_MACHINES["x86_64"]
