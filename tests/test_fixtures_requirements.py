"""`requirements` packages: real dependencies from the registry, for Lambda's platform."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from fixtures_contract.contract import GOOD
from fixtures_contract.local_target import deploy, invoke, local_lambda

from bench.errors import InputError
from bench.fixtures import build_artifact
from bench.matrix import Cell, LocalTarget
from bench.target import build_platform

pytestmark = pytest.mark.registry

ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}
ELF_NAMES = {"x86_64": "x86_64", "arm64": "aarch64"}


def _cell(runtime: str, requirements: tuple[str, ...], architecture: str = "x86_64") -> Cell:
    return Cell(runtime=runtime, memory_mb=512, architecture=architecture, package_mb=0.0,
                package_kind="requirements", requirements=requirements)  # fmt: skip


def test_python_requirement_is_imported_at_init_on_the_local_target(tmp_path: Path) -> None:
    artifact = build_artifact(_cell("python3.12", ("six==1.16.0",)), tmp_path)
    with zipfile.ZipFile(artifact.zip_path) as archive:
        names = archive.namelist()
        six_bytes = archive.getinfo("six.py").file_size
    assert "six-1.16.0.dist-info/METADATA" in names
    assert not any(n.endswith(".pyc") for n in names)
    with local_lambda() as client:
        deploy(client, "req-six", artifact, 512)
        result, error, tail = invoke(client, "req-six", GOOD)
    assert error is None, (result, tail)
    # six was imported at init: its module is what the handler loaded from the package.
    assert result["payload"] == {"kind": "requirements", "bytes_loaded": six_bytes}


def test_nodejs_requirement_is_imported_at_init_on_the_local_target(tmp_path: Path) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node not found: nodejs requirements cannot be built here")
    artifact = build_artifact(_cell("nodejs22.x", ("is-number@7.0.0",)), tmp_path)
    with zipfile.ZipFile(artifact.zip_path) as archive:
        index_bytes = archive.getinfo("node_modules/is-number/index.js").file_size
    with local_lambda() as client:
        deploy(client, "req-is-number", artifact, 512)
        result, error, tail = invoke(client, "req-is-number", GOOD)
    assert error is None, (result, tail)
    assert result["payload"] == {"kind": "requirements", "bytes_loaded": index_bytes}


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_native_wheels_are_for_the_target_architecture(tmp_path: Path, architecture: str) -> None:
    artifact = build_artifact(_cell("python3.12", ("markupsafe==2.1.5",), architecture), tmp_path)
    with zipfile.ZipFile(artifact.zip_path) as archive:
        shared = [n for n in archive.namelist() if n.endswith(".so")]
        assert shared, "markupsafe ships a compiled speedups module"
        header = archive.read(shared[0])[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[architecture]
    assert "cpython-312" in shared[0]  # built for the runtime's Python, not this one's


def test_native_wheels_for_the_local_target_load_on_its_interpreter(tmp_path: Path) -> None:
    # python3.12 runs on the interpreter running us: its compiled modules must be ours.
    local = build_platform(LocalTarget())
    assert local is not None and local.architecture is not None
    cell = _cell("python3.12", ("markupsafe==2.1.5",), local.architecture)
    artifact = build_artifact(cell, tmp_path, build_for=local)
    abi = "{}{}".format(*sys.version_info[:2])
    assert artifact.built_for == f"cp{abi} manylinux2014_{ELF_NAMES[local.architecture]}"
    with zipfile.ZipFile(artifact.zip_path) as archive:
        shared = [n for n in archive.namelist() if n.endswith(".so")]
        assert shared and all(f"cpython-{abi}-" in n for n in shared), shared
        speedups = next(n for n in shared if n.startswith("markupsafe/_speedups."))
        # markupsafe falls back on pure python when the compiled module does not load,
        # so the .so's bytes in bytes_loaded are what proves it was imported.
        expected = archive.getinfo(speedups).file_size
        expected += archive.getinfo("markupsafe/__init__.py").file_size
    with local_lambda() as client:
        deploy(client, "req-markupsafe", artifact, 512)
        result, error, tail = invoke(client, "req-markupsafe", GOOD)
    assert error is None, (result, tail)
    assert result["payload"] == {"kind": "requirements", "bytes_loaded": expected}


def test_a_bad_requirement_is_a_clear_one_line_error(tmp_path: Path) -> None:
    # Malformed, so pip refuses it before asking the registry anything.
    with pytest.raises(InputError) as info:
        build_artifact(_cell("python3.12", ("six=>1.0",)), tmp_path)
    message = str(info.value)
    print(message)
    assert message.startswith("package.requirements.python: pip could not install six=>1.0 for")
    assert "\n" not in message
