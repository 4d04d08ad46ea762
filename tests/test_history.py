"""History: runs grouped by matrix name, in start order, with regressions marked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.report import render_history
from tests.synthetic import SyntheticRun, default_cells, write_run

CELLS = default_cells()[:4]  # nodejs22.x at 128 and 512 MB, none and inert
SLOW = CELLS[2].id


def _night(day: int, **changes: object) -> SyntheticRun:
    settings: dict[str, object] = {"started": datetime(2026, 11, day, 3, 0, tzinfo=UTC)}
    settings.update(changes)
    return SyntheticRun(
        name="nightly", cells=CELLS, cold=40, warm=0, seed=day, **settings,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    # Written out of order on purpose: history sorts by the manifest's start time.
    write_run(root, _night(3, init_factor={SLOW: 1.4}))
    write_run(root, _night(1))
    write_run(root, _night(2))
    write_run(root, SyntheticRun(name="other", cells=CELLS[:1], cold=10, warm=0, seed=7))
    (root / "not-a-run").mkdir()
    return root


def test_one_page_per_matrix_name(results: Path, tmp_path: Path) -> None:
    paths = render_history(results, tmp_path / "reports")
    assert [p.name for p in paths] == ["history-nightly.html", "history-other.html"]


def test_runs_in_start_order_and_the_regression_marked(results: Path, tmp_path: Path) -> None:
    (page,) = render_history(results, tmp_path / "reports", name="nightly")
    html = page.read_text(encoding="utf-8")
    order = [html.index(f"2026-11-0{day}T03:00") for day in (1, 2, 3)]
    assert order == sorted(order)
    assert f'<td class="l mark-regression">{SLOW}</td>' in html
    assert html.count("l mark-regression") == 1
    # listed, not silently dropped
    assert "not-a-run: manifest.json: missing; not a run directory" in html
    assert html.count("<svg") == 1  # one chart for the one runtime
    again = render_history(results, tmp_path / "again", name="nightly")[0]
    assert again.read_bytes() == page.read_bytes()


def test_unknown_name_is_an_input_error(results: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--name nope: no run of that matrix"):
        render_history(results, tmp_path / "reports", name="nope")


def test_cli(bench_cli: Callable, results: Path, workdir: Path) -> None:
    result = bench_cli("history", str(results), "--name", "other", "--reports", "reports")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(Path("reports") / "history-other.html")


def test_runs_in_one_minute_are_told_apart_and_a_changed_matrix_is_marked(
    tmp_path: Path,
) -> None:
    root = tmp_path / "runs"
    minute = datetime(2026, 11, 5, 3, 0, 10, tzinfo=UTC)
    write_run(root, _night(5, started=minute))
    write_run(root, _night(6, started=minute.replace(second=40)))  # same settings
    write_run(root, _night(7, started=minute.replace(second=50), burst=1))  # burst changed
    (page,) = render_history(root, tmp_path / "reports", name="nightly")
    html = page.read_text(encoding="utf-8")
    labels = [SyntheticRun(seed=day).id().rsplit("-", 1)[-1] for day in (5, 6, 7)]
    assert len(set(labels)) == 3
    for second, rand in zip((10, 40, 50), labels, strict=True):
        assert f"2026-11-05 03:00:{second} {rand}" in html  # the chart's tick labels
    assert f"2026-11-05 03:00:50 {labels[2]} (matrix changed)" in html
    assert html.count(" (matrix changed) -->") == 1  # one tick label (an SVG comment)
    assert '<td class="l flag">burst: 10 -&gt; 1</td>' in html
    assert html.count('<td class="l">none</td>') >= 1  # the second run: same settings


def test_an_aborted_run_is_marked_and_neither_judged_nor_a_baseline(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root, _night(1))
    # Stopped early, and (for whatever reason) fast: judged as a baseline, it would make
    # the next normal run look like a regression.
    write_run(root, _night(2, status="aborted", init_factor={SLOW: 0.6}))
    write_run(root, _night(3))
    (page,) = render_history(root, tmp_path / "reports", name="nightly")
    html = page.read_text(encoding="utf-8")
    assert 'class="l mark-regression"' not in html
    assert "not judged (aborted)" in html
    # The same nights with the stop judged as a normal run would flag night 3: the check
    # above could fail.
    write_run(root / "control", _night(2, init_factor={SLOW: 0.6}))
    write_run(root / "control", _night(3))
    (control,) = render_history(root / "control", tmp_path / "control-reports", name="nightly")
    assert f'<td class="l mark-regression">{SLOW}</td>' in control.read_text(encoding="utf-8")
