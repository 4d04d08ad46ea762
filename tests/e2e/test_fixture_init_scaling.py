"""Package size means something on the local target: code loaded at init costs init time,
bytes that are never read do not."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest
from fixtures_contract.local_target import (
    deploy,
    force_cold,
    init_duration_ms,
    invoke,
    local_lambda,
)

from bench.fixtures import build_artifact
from bench.matrix import Cell

pytestmark = pytest.mark.e2e

MEMORY_MB = 1769  # one full vCPU: the figures are about package size, not CPU share
SAMPLES = 3
EVENT = {"bench": {"run": "e2e", "cell": "scaling", "round": 1, "seq": 1}}


def _cold_init_ms(client: Any, name: str) -> list[float]:
    durations = []
    for sample in range(SAMPLES):
        if sample:
            force_cold(client, name, sample)
        result, error, tail = invoke(client, name, EVENT)
        assert error is None and result["invocation"] == 1, (result, tail)
        init = init_duration_ms(tail)
        assert init is not None, tail
        durations.append(init)
    return durations


def test_python_init_grows_with_imported_size_not_inert(tmp_path: Path) -> None:
    cases = [("none", 0.0), ("inert", 20.0), ("imported", 1.0), ("imported", 20.0)]
    medians: dict[tuple[str, float], float] = {}
    with local_lambda() as client:
        for kind, mb in cases:
            cell = Cell(runtime="python3.12", memory_mb=MEMORY_MB, architecture="x86_64",
                        package_mb=mb, package_kind=kind)  # fmt: skip
            artifact = build_artifact(cell, tmp_path)
            name = f"scaling-{kind}-{mb:g}"
            deploy(client, name, artifact, MEMORY_MB)
            samples = _cold_init_ms(client, name)
            medians[(kind, mb)] = statistics.median(samples)
            print(
                f"python3.12 {MEMORY_MB} MB {kind:8} {mb:4g} MB: unzipped "
                f"{artifact.unzipped_bytes:>11,} B, Init Duration ms "
                f"{', '.join(f'{s:.0f}' for s in samples)} (median {medians[(kind, mb)]:.0f})"
            )
    imported_ratio = medians[("imported", 20.0)] / medians[("imported", 1.0)]
    inert_ratio = medians[("inert", 20.0)] / medians[("none", 0.0)]
    print(f"imported 20 MB / 1 MB = {imported_ratio:.1f}x; inert 20 MB / none = {inert_ratio:.2f}x")
    assert imported_ratio >= 5
    assert abs(inert_ratio - 1) <= 0.30
