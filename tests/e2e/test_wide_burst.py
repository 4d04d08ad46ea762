"""A burst wider than the account's unreserved concurrency stops the run before anything
is deployed, with a one-line error that gives both numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

MATRIX = """\
name: wide
target: {kind: local, account_concurrency: 10}
runtimes: [python3.12]
memory_mb: [128]
package:
  size_mb: [0]
cold_starts: 16
burst: 16
warm_invocations: 0
timeout_s: 10
budget_usd: 1.0
"""


def test_a_burst_wider_than_the_local_accounts_pool_stops_before_deploying(
    workdir: Path, bench_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.deploy

    deployed: list[str] = []
    real_deploy = bench.deploy.deploy_function
    monkeypatch.setattr(
        "bench.run_lanes.deploy_function",
        lambda cp, spec: (deployed.append(spec.name), real_deploy(cp, spec)),
    )
    (workdir / "m.yaml").write_text(MATRIX)

    result = bench_cli("run", "m.yaml")

    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    (message,) = [line for line in lines if "error" in line.lower()]
    assert "needs 16 concurrent executions" in message
    assert "unreserved pool of 10" in message
    assert deployed == []
    assert list((workdir / "results").iterdir()) == []  # no run was started


def test_the_local_accounts_concurrency_is_checked_like_any_matrix_number() -> None:
    from bench.errors import InputError
    from bench.matrix import parse_matrix

    data = {"name": "x", "runtimes": ["python3.12"], "memory_mb": [128],
            "target": {"kind": "local", "account_concurrency": 0}}  # fmt: skip
    with pytest.raises(InputError, match=r"target\.account_concurrency: .*at least 1|equal to 1"):
        parse_matrix(data)
