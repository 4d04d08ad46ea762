"""The estimate of a matrix with regions and with driver: lambda."""

from __future__ import annotations

from typing import Any

from bench.cost import DRIVER_MEMORY_MB, DRIVER_WIDTH, estimate_matrix
from bench.matrix import parse_matrix


def _matrix(**target: Any) -> Any:
    return parse_matrix({
        "name": "x", "runtimes": ["python3.12"], "memory_mb": [128], "cold_starts": 32,
        "burst": 32, "warm_invocations": 2, "target": {"kind": "aws", **target},
    })  # fmt: skip


def test_every_region_is_priced() -> None:
    one = estimate_matrix(_matrix(region="us-east-1"))
    two = estimate_matrix(_matrix(regions=["us-east-1", "eu-west-1"]))
    assert two.invocations == 2 * one.invocations
    assert abs(two.worst_case_usd - 2 * one.worst_case_usd) < 1e-12
    assert any("eu-west-1" in note for note in two.notes)


def test_driver_invocations_are_priced() -> None:
    client = estimate_matrix(_matrix(region="us-east-1"))
    driven = estimate_matrix(_matrix(region="us-east-1", driver="lambda"))
    assert DRIVER_WIDTH == 16 and DRIVER_MEMORY_MB == 1024
    # 32 wide: two drivers for the round, one per warm invocation, each worst to 91 s.
    extra = driven.worst_case_usd - client.worst_case_usd
    expected_extra = 4 * 91 * 1.0 * 0.0000166667 + 4 * 0.20 / 1_000_000
    assert abs(extra - expected_extra) < 1e-9
    assert driven.expected_usd > client.expected_usd
