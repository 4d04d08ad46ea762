"""Compare: planted effects on synthetic runs, matching rules, the golden table, the CLI."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from bench.compare import compare_runs
from bench.report import format_compare_table, render_compare
from tests.synthetic import SyntheticRun, invocations_frame, manifest, write_run

DATA = Path(__file__).parent / "data"
GOLDEN_BASE = DATA / "runs" / "20261101T020000Z-golden-a1b2c3"
GOLDEN_NEW = DATA / "runs" / "20261102T020000Z-golden-d4e5f6"
PLANTED = "python3.12-512mb-x86_64-inert-5mb"


def _compare(base: SyntheticRun, new: SyntheticRun, **kwargs: object) -> list:
    base_df, new_df = invocations_frame(base), invocations_frame(new)
    return compare_runs(
        base_df, new_df, manifest(base, base_df), manifest(new, new_df),
        metrics=["init_duration_ms"], factor=1.1, alpha=0.002, **kwargs,
    )  # fmt: skip


def test_a_planted_25_percent_slowdown_is_flagged_in_exactly_that_cell() -> None:
    slower = SyntheticRun(seed=2, cold=60, init_factor={PLANTED: 1.25})
    rows = _compare(SyntheticRun(seed=1, cold=60), slower)
    assert len(rows) == 12
    flagged = [r.cell for r in rows if r.mark == "regression"]
    assert flagged == [PLANTED]
    planted = next(r for r in rows if r.cell == PLANTED)
    assert planted.ratio_ci_low > 1.1 and planted.p_value < 0.002


def test_identical_distributions_give_no_regression_in_99_of_100_trials() -> None:
    clean = 0
    for trial in range(100):
        rows = _compare(SyntheticRun(seed=1000 + 2 * trial, cold=30, warm=0),
                        SyntheticRun(seed=1001 + 2 * trial, cold=30, warm=0))  # fmt: skip
        clean += not any(r.mark == "regression" for r in rows)
    assert clean >= 99, f"{100 - clean} of 100 identical-distribution trials flagged a regression"


def test_a_cell_whose_coordinates_differ_is_not_comparable() -> None:
    base, new = SyntheticRun(seed=1), SyntheticRun(seed=2, init_factor={PLANTED: 2.0})
    base_df, new_df = invocations_frame(base), invocations_frame(new)
    # Same cell id on both sides, but the new run measured it on another architecture.
    new_df["architecture"] = new_df["architecture"].astype(object)
    new_df.loc[new_df["cell"] == PLANTED, "architecture"] = "arm64"
    rows = compare_runs(base_df, new_df, manifest(base, base_df), manifest(new, new_df),
                        metrics=["init_duration_ms"], factor=1.1, alpha=0.002)  # fmt: skip
    planted = next(r for r in rows if r.cell == PLANTED)
    assert planted.mark == "not-comparable"
    assert planted.reason == "architecture x86_64 vs arm64"
    assert not any(r.mark == "regression" for r in rows)


def test_cells_on_one_side_only_are_not_comparable() -> None:
    base = SyntheticRun(seed=1)
    new = SyntheticRun(seed=2, cells=base.cells[1:])
    rows = _compare(base, new)
    missing = next(r for r in rows if r.cell == base.cells[0].id)
    assert (missing.mark, missing.reason) == ("not-comparable", "only in base run")


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"target_kind": "aws"}, "target kind local vs aws"),
     ({"tool_version": "1.0.0"}, "tool major version 0 vs 1"),
     ({"cpu_limits": False}, "local CPU limits True vs False")],
)  # fmt: skip
def test_runs_that_disagree_on_target_or_tool_are_not_comparable(
    change: dict[str, object], reason: str
) -> None:
    new = SyntheticRun(seed=2, init_factor={PLANTED: 2.0}, **change)  # type: ignore[arg-type]
    rows = _compare(SyntheticRun(seed=1), new)
    assert {r.mark for r in rows} == {"not-comparable"}
    assert {r.reason for r in rows} == {reason}


def _table_text(outcome: object) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None, force_terminal=False)
    console.print(format_compare_table(outcome.verdict))  # type: ignore[attr-defined]
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_golden_compare_table(tmp_path: Path) -> None:
    outcome = render_compare(GOLDEN_BASE, GOLDEN_NEW, tmp_path, metrics=["init_duration_ms"])
    text = _table_text(outcome)
    golden = (DATA / "compare-golden.txt").read_text(encoding="utf-8")
    assert text == golden, "compare table changed; if intended, regenerate the golden file"
    assert outcome.verdict.regressions == 1
    assert outcome.verdict.not_comparable == 2  # nodejs 512 MB only in base, 1024 MB only in new
    assert outcome.verdict.insufficient == 1  # nodejs 128 MB has 3 cold starts in the new run
    assert outcome.path.name == f"compare-{GOLDEN_BASE.name}--{GOLDEN_NEW.name}.html"


def test_cli_exit_codes(bench_cli: Callable, workdir: Path) -> None:
    result = bench_cli("compare", str(GOLDEN_BASE), str(GOLDEN_NEW), "--reports", "reports")
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.output
    assert (workdir / "reports" / f"compare-{GOLDEN_BASE.name}--{GOLDEN_NEW.name}.html").exists()

    result = bench_cli("compare", str(GOLDEN_BASE), str(GOLDEN_BASE), "--reports", "reports")
    assert result.exit_code == 0, result.output

    # An AWS run against a local one: every row not comparable is not a pass.
    result = bench_cli("compare", str(GOLDEN_BASE), str(DATA / "minimal-run"))
    assert result.exit_code == 2, result.output
    assert "NOTHING COULD BE JUDGED" in result.output

    result = bench_cli("compare", str(GOLDEN_BASE), str(workdir / "nope"))
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_any_directory_following_the_format_can_be_compared(tmp_path: Path) -> None:
    # The hand-written minimal run (another writer, AWS target) against itself.
    minimal = DATA / "minimal-run"
    copy = tmp_path / "copy"
    shutil.copytree(minimal, copy)
    metrics = ["init_duration_ms", "client_latency_ms", "warm_duration_ms"]
    outcome = render_compare(minimal, copy, tmp_path / "reports", metrics=metrics)
    marks = {r.metric: r.mark for r in outcome.verdict.rows}
    assert marks == {"init_duration_ms": "unchanged", "client_latency_ms": "unchanged",
                     "warm_duration_ms": "insufficient"}  # fmt: skip
    assert outcome.verdict.regressions == 0


def test_compare_of_written_runs_flags_the_planted_cell(tmp_path: Path) -> None:
    base = write_run(tmp_path, seed=5, cold=60, warm=0)
    new = write_run(tmp_path, seed=6, cold=60, warm=0, init_factor={PLANTED: 1.25})
    outcome = render_compare(base, new, tmp_path / "reports", metrics=["init_duration_ms"])
    assert [r.cell for r in outcome.verdict.rows if r.mark == "regression"] == [PLANTED]
    assert PLANTED in outcome.path.read_text(encoding="utf-8")


def test_a_difference_on_a_contended_cell_is_not_called_a_regression() -> None:
    base = SyntheticRun(seed=1, cold=60)
    slower = SyntheticRun(seed=2, cold=60, init_factor={PLANTED: 1.25})
    base_df, new_df = invocations_frame(base), invocations_frame(slower)
    base_df["contention"] = [[] for _ in range(len(base_df))]
    # Another run shared the host while the new run measured the planted cell.
    new_df["contention"] = [["host-busy"] if c == PLANTED else [] for c in new_df["cell"]]
    rows = compare_runs(
        base_df, new_df, manifest(base, base_df), manifest(slower, new_df),
        metrics=["init_duration_ms"], factor=1.1, alpha=0.002,
    )  # fmt: skip
    planted = next(r for r in rows if r.cell == PLANTED)
    assert planted.mark == "contended"
    assert "not judged, new contended: host busy beyond the reserve" in planted.reason
    assert planted.ratio > 1.1  # the figures are still shown
    assert not [r for r in rows if r.mark == "regression"]
    assert planted.set_aside == "regression"
    others = [r for r in rows if r.cell != PLANTED]
    assert {r.mark for r in others} <= {"unchanged", "large-not-significant"}
    assert all("contended" not in r.reason for r in others)


def test_compare_says_which_matrix_settings_differ(tmp_path: Path) -> None:
    base = write_run(tmp_path, seed=5, cold=40, warm=0, burst=8)
    new = write_run(tmp_path, seed=6, cold=40, warm=0, burst=1, name="renamed")
    outcome = render_compare(base, new, tmp_path / "reports", metrics=["init_duration_ms"])
    assert outcome.matrix_changes == ["burst: 8 -> 1"]  # the name is not a setting
    text = _table_text(outcome)
    assert "matrix settings that differ (base -> new): burst: 8 -> 1" in text
    assert "matrices differ (name aside): burst: 8 -&gt; 1" in outcome.path.read_text()
    same = render_compare(base, base, tmp_path / "reports", metrics=["init_duration_ms"])
    assert same.matrix_changes == [] and "matrix settings" not in _table_text(same)


def test_a_report_only_metric_is_judged_and_shown_but_never_fails(tmp_path: Path) -> None:
    base = write_run(tmp_path, seed=5, cold=60, warm=0)
    new = write_run(tmp_path, seed=6, cold=60, warm=0, init_factor={PLANTED: 1.25})
    outcome = render_compare(base, new, tmp_path / "reports", metrics=["duration_ms"],
                             report_only=["init_duration_ms"])  # fmt: skip
    regressed = [(r.cell, r.metric) for r in outcome.rows if r.mark == "regression"]
    assert regressed == [(PLANTED, "init_duration_ms")]
    assert (outcome.regressions, outcome.reported_regressions) == (0, 1)
    assert outcome.judged > 0 and outcome.exit_code == 0
    text = " ".join(_table_text(outcome).split())
    assert "reported, not gated: init_duration_ms (1 regression(s) there)" in text
    assert "Reported, not gated: init_duration_ms (1 regression there)" in (
        outcome.path.read_text(encoding="utf-8"))
    # The same planted slowdown gates when it is a --metric.
    gated = render_compare(base, new, tmp_path / "reports",
                           metrics=["init_duration_ms", "duration_ms"])  # fmt: skip
    assert gated.exit_code == 1


def test_report_only_needs_a_gating_metric_and_no_overlap(bench_cli: Callable) -> None:
    both = bench_cli("compare", str(GOLDEN_BASE), str(GOLDEN_NEW), "--metric",
                     "init_duration_ms", "--report-only", "init_duration_ms")  # fmt: skip
    assert both.exit_code == 2 and "also given as --metric" in both.output
    unknown = bench_cli("compare", str(GOLDEN_BASE), str(GOLDEN_NEW), "--report-only", "p99")
    assert unknown.exit_code == 2 and "--metric p99: unknown metric" in unknown.output


def test_a_contended_regression_keeps_the_comparison_from_passing() -> None:
    from bench.compare import CompareRow, Verdict
    from bench.errors import EXIT_OK, EXIT_RUN_FAILED

    def verdict(*rows: CompareRow) -> Verdict:
        return Verdict(rows=list(rows), base_id="a", new_id="b", metrics=["init_duration_ms"],
                       factor=1.1, alpha=0.002)  # fmt: skip

    fine = CompareRow("c1", "init_duration_ms", "unchanged", "within the factor")
    faster = CompareRow("c2", "init_duration_ms", "contended", "x", set_aside="improvement")
    slower = CompareRow("c3", "init_duration_ms", "contended", "x", set_aside="regression")
    assert verdict(fine, faster).exit_code == EXIT_OK
    slow = verdict(fine, faster, slower)
    assert (slow.hidden_regressions, slow.exit_code) == (1, EXIT_RUN_FAILED)
    from bench.report import format_compare_table

    assert "1 would be regression(s): NOT PASSED" in format_compare_table(slow).title
    assert "would be" not in format_compare_table(verdict(fine, faster)).title
