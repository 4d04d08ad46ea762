"""bench estimate of the keep-alive and warm-up experiments: wall time and cost."""

import re
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.cost import estimate_matrix, format_estimate
from bench.experiments.estimate import BURST_S, SETUP_S, UPDATE_S
from bench.experiments.warmup import arrivals, overlap, ping_times
from bench.matrix import parse_matrix


def _matrix(**keys: Any) -> Any:
    return parse_matrix({"name": "e", "runtimes": ["python3.12"], "memory_mb": [128],
                         "cold_starts": 2, "burst": 2, "target": {"kind": "aws"}, **keys})


KEEPALIVE = {"experiment": "keepalive", "idle_s": [60, 600, 1800], "environments": 10,
             "repetitions": 3}
WARMUP = {"experiment": "warmup", "duration_s": 3600, "ping_every_s": 300,
          "ping_concurrency": 2, "traffic": {"poisson_rate_per_s": 0.01, "seed": 7}}


def test_keepalive_lasts_the_longest_gap_times_r_and_costs_each_probe():
    est = estimate_matrix(_matrix(**KEEPALIVE))
    assert est.wall_s == 3 * (1800 + 2 * BURST_S + UPDATE_S["aws"]) + SETUP_S["aws"]
    assert [c.invocations for c in est.cells] == [60, 60, 60]  # 2 bursts x N x R per gap
    assert est.cells[0].cell.endswith("-idle60s")
    # Longer gaps: more cold starts expected; the worst case is every invocation cold.
    assert est.cells[0].expected_usd < est.cells[2].expected_usd < est.cells[2].worst_usd
    assert est.cells[0].worst_usd == est.cells[2].worst_usd
    assert re.fullmatch(r"\d\d:\d\d UTC \(in 1 h 32 min\)", est.finish_at() or "")


def test_warmup_prices_both_arms_and_the_pings():
    matrix = _matrix(**WARMUP)
    est = estimate_matrix(matrix)
    users = len(arrivals(matrix))
    assert 15 < users < 60  # about 36 expected at 0.01/s for an hour
    pings = {c.cell.rsplit("-", 1)[1]: c.invocations for c in est.cells}
    assert pings == {"pings": users + 12 * 2, "nopings": users}
    assert est.wall_s is not None and 3600 < est.wall_s < 3600 + SETUP_S["aws"] + 1
    assert arrivals(matrix) == arrivals(matrix)  # the seed fixes the traffic


def test_ping_schedule_and_overlap():
    matrix = _matrix(**{**WARMUP, "duration_s": 10, "ping_every_s": 3})
    assert ping_times(matrix) == [0, 3, 6, 9]
    assert overlap([0, 1, 1.5, 10, 10.2], 1.0) == 2
    assert overlap([0, 1, 1.5, 10, 10.2], 1.5) == 3


def test_cold_start_matrix_has_no_wall_time_and_bench_estimate_prints_it(tmp_path):
    assert estimate_matrix(_matrix()).wall_s is None
    assert estimate_matrix(_matrix()).finish_at() is None
    path = tmp_path / "k.yaml"
    path.write_text("name: k\nruntimes: [python3.12]\nmemory_mb: [128]\n"
                    "experiment: keepalive\nidle_s: [2, 4]\nenvironments: 2\nrepetitions: 2\n")
    result = CliRunner().invoke(app, ["estimate", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Expected wall time: 28 s." in result.output  # 2 x (4 + 2 + 0.5) + 15 locally
    assert "-idle4s" in result.output


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"experiment": "keepalive", "idle_s": [1, 1], "environments": 2, "repetitions": 1},
         "idle_s lists a gap twice"),
        ({"experiment": "keepalive", "idle_s": [], "environments": 2, "repetitions": 1},
         "at least one gap"),
        ({**WARMUP, "traffic": {"poisson_rate_per_s": 1, "arrivals_s": [1]}}, "one of them"),
        ({**WARMUP, "repetitions": 3}, "repetitions applies to experiment: keepalive"),
    ],
)
def test_experiment_keys_are_checked(keys, message):
    from bench.errors import InputError

    with pytest.raises(InputError, match=message):
        _matrix(**keys)


def test_estimate_table_shows_the_wall_time():
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(format_estimate(estimate_matrix(_matrix(**KEEPALIVE))))
    assert "Expected wall time: 1 h 32 min." in console.export_text()
