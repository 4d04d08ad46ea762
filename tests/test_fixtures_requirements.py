"""`requirements` packages: real dependencies from the registry, for Lambda's platform."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

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
    assert artifact.built_for is not None
    assert artifact.built_for.startswith(f"cp{abi} ")
    assert artifact.built_for.endswith(f"manylinux2014_{ELF_NAMES[local.architecture]}")
    assert artifact.requirements_resolved is not None
    assert artifact.requirements_resolved["markupsafe"]["version"] == "2.1.5"
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


def _require_pypi() -> None:
    import socket

    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError as exc:
        pytest.skip(f"PyPI is unreachable ({exc}): cannot resolve numpy for python3.12")


def test_fixtures_build_for_aws_python312_installs_a_numpy_for_amazon_linux_2023(
    tmp_path: Path, bench_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels run there,
    and a current numpy ships only those for x86_64; with manylinux2014 alone pip fell
    back to an old release."""
    import json
    import re

    _require_pypi()
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    matrix = tmp_path / "aws.yaml"
    matrix.write_text(
        "name: numpy\n"
        "target: {kind: aws, region: eu-central-1}\n"
        "runtimes: [python3.12]\n"
        "memory_mb: [512]\n"
        "package: {size_mb: [0], requirements: {python: [numpy]}}\n"
        "cold_starts: 1\nburst: 1\n"
    )
    out = tmp_path / "out"
    result = bench_cli("fixtures", "build", str(matrix), "--out", str(out))
    assert result.exit_code == 0, result.output
    (zip_path,) = [p for p in out.iterdir() if "-req-" in p.name]
    with zipfile.ZipFile(zip_path) as archive:
        (wheel,) = [n for n in archive.namelist()
                    if re.fullmatch(r"numpy-[^/]+\.dist-info/WHEEL", n)]
        tags = [line.split(":", 1)[1].strip() for line in archive.read(wheel).decode().splitlines()
                if line.startswith("Tag:")]
    glibc = [tuple(map(int, m.groups())) for t in tags
             if (m := re.search(r"manylinux_(\d+)_(\d+)_x86_64", t))]
    print("numpy wheel tags:", tags)
    assert glibc and max(glibc) >= (2, 28), tags
    # The version installed is named with the artifact and in the build table.
    (meta,) = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")
               if "numpy" in p.read_text()]
    version = meta["requirements_resolved"]["numpy"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert int(version.split(".")[0]) >= 2
    assert meta["built_for"] == (
        "cp312 manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux2014_x86_64"
    )
    assert f"numpy {version}" in result.output
