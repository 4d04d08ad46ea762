"""Every family's fixture, deployed with boto3 to the local target, honours the contract."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.fixtures import build_artifact
from bench.matrix import Cell
from bench.runtimes import runtime_family

from .contract import EVENTS, check_results
from .local_target import deploy, init_duration_ms, invoke, java_bootstrap_missing, local_lambda

MEMORY_MB = 1024
CASES = [
    ("python3.12", "imported", 0.2),
    ("nodejs22.x", "imported", 0.2),
    ("java21", "imported", 0.1),
    ("provided.al2023", "imported", 0.2),
    ("provided.al2", "none", 0.0),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with local_lambda() as lambda_client:
        yield lambda_client


@pytest.mark.parametrize(("runtime", "kind", "mb"), CASES)
def test_contract_on_the_local_target(
    client: Any, runtime: str, kind: str, mb: float, tmp_path: Path
) -> None:
    family = runtime_family(runtime)
    if family == "java" and (reason := java_bootstrap_missing()):
        pytest.skip(reason)
    cell = Cell(runtime=runtime, memory_mb=MEMORY_MB, architecture="x86_64", package_mb=mb,
                package_kind=kind)  # fmt: skip
    artifact = build_artifact(cell, tmp_path)
    name = f"fixture-{family}-{kind}"
    deploy(client, name, artifact, MEMORY_MB)
    results = []
    for i, event in enumerate(EVENTS):
        result, function_error, tail = invoke(client, name, event)
        # A bad event is answered, not crashed on: no function error, same sandbox.
        assert function_error is None, (event, result, tail)
        assert (init_duration_ms(tail) is not None) == (i == 0), tail
        results.append(result)
    check_results(family, results, kind, MEMORY_MB)
    if kind == "imported":
        # The handler's own bytes count towards the size, java's (~14 KB) and the compiled
        # bootstrap's (~80 KB) most of all.
        handler = 0
        if family == "provided":
            with zipfile.ZipFile(artifact.zip_path) as archive:
                handler = archive.getinfo("bootstrap").file_size
        assert results[0]["payload"]["bytes_loaded"] > 0.8 * mb * (1 << 20) - handler
