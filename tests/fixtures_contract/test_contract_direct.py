"""Every family's handler, run directly in its own process, honours the same contract."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.fixtures import build_artifact
from bench.matrix import Cell

from .contract import (
    EVENTS,
    check_results,
    random_events,
    run_java,
    run_node,
    run_provided,
    run_python,
    unzip,
)

RUNNERS: dict[str, tuple[str, Callable[[Path, list[Any], dict[str, str]], list[Any]]]] = {
    "python": ("python3.12", run_python),
    "nodejs": ("nodejs22.x", run_node),
    "java": ("java21", run_java),
    "provided": ("provided.al2023", run_provided),
}


def _cell(runtime: str, kind: str, mb: float) -> Cell:
    return Cell(
        runtime=runtime, memory_mb=256, architecture="x86_64", package_mb=mb, package_kind=kind
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-artifacts")


@pytest.mark.parametrize("family", sorted(RUNNERS))
@pytest.mark.parametrize(("kind", "mb"), [("none", 0.0), ("inert", 0.3), ("imported", 0.3)])
def test_contract(family: str, kind: str, mb: float, cache: Path, tmp_path: Path) -> None:
    runtime, run = RUNNERS[family]
    if family == "java" and kind == "imported" and mb:
        mb = 0.1  # javac is slow on this machine; the size does not change the contract
    if family == "java" and not __import__("shutil").which("javac"):
        pytest.skip("javac not found: no JDK on this machine, java fixtures cannot be built")
    artifact = build_artifact(_cell(runtime, kind, mb), cache)
    code = unzip(artifact.zip_path, tmp_path / "code")
    results = run(code, EVENTS, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
    check_results(family, results, kind, 256)
    loaded = results[0]["payload"]["bytes_loaded"]
    with zipfile.ZipFile(artifact.zip_path) as archive:
        payload_bytes = sum(
            i.file_size for i in archive.infolist()
            if i.filename.startswith(("bench_payload/", "payload/", "bench/payload/"))
        )  # fmt: skip
        # The compiled bootstrap (about 80 KB) counts towards the size, as a handler does.
        binary = archive.getinfo("bootstrap").file_size if family == "provided" else 0
    if kind == "imported":
        # Every generated module was loaded at init, and nothing else was counted.
        wanted = 0.9 * mb * (1 << 20) * (0.9 if family == "java" else 1) - binary
        assert payload_bytes > wanted
        assert payload_bytes + binary <= mb * (1 << 20) + 4096
        assert loaded == payload_bytes
    else:
        assert loaded == 0 and payload_bytes == 0


def test_memory_is_null_without_the_variable(cache: Path, tmp_path: Path) -> None:
    artifact = build_artifact(_cell("python3.12", "none", 0), cache)
    results = run_python(unzip(artifact.zip_path, tmp_path / "code"), EVENTS, {})
    check_results("python", results, "none", None)


def _verdicts(family: str, events: list[Any], cache: Path, tmp_path: Path) -> list[str]:
    """What the family's handler answers to each event: "ok" or its error."""
    runtime, run = RUNNERS[family]
    if family == "java" and not shutil.which("javac"):
        pytest.skip("javac not found: no JDK on this machine, java fixtures cannot be built")
    artifact = build_artifact(_cell(runtime, "none", 0.0), cache)
    results = run(unzip(artifact.zip_path, tmp_path / family), events, {})
    assert [r["invocation"] for r in results] == list(range(1, len(events) + 1))
    return [r.get("error", "ok") for r in results]


@pytest.mark.parametrize("family", sorted(set(RUNNERS) - {"python"}))
def test_every_runtime_judges_odd_events_as_python_does(
    family: str, cache: Path, tmp_path: Path
) -> None:
    events = random_events(seed=4, count=300)
    python = _verdicts("python", events, cache, tmp_path)
    assert 10 < python.count("ok") < len(events) - 10  # both outcomes are exercised
    verdict = _verdicts(family, events, cache, tmp_path)
    mismatches = [(e, p, v) for e, p, v in zip(events, python, verdict, strict=True) if p != v]
    assert not mismatches, (family, mismatches[:3])
