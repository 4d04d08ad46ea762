"""Readers refuse what no run can produce: a one-line error (exit 2) by default, or with
--lenient a report that names every record left out and why; never a changed number."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from bench.errors import ResultsFormatError
from bench.results import load_run, read_records
from tests.synthetic import SyntheticRun, default_cells, write_run

CELL = default_cells()[0].id


def _run(root: Path) -> Path:
    return write_run(root, SyntheticRun(cells=default_cells()[:1], cold=10, warm=0, burst=5))


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    text = (run_dir / "invocations.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _rewrite(run_dir: Path, lines: list[str]) -> None:
    (run_dir / "invocations.jsonl").write_text("".join(line + "\n" for line in lines))


def _with_record(run_dir: Path, index: int, raw: str) -> None:
    """Replace record `index` (0-based) by the raw JSON text `raw`."""
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    lines[index] = raw
    _rewrite(run_dir, lines)


def _changed(record: dict[str, Any], **fields: Any) -> str:
    return json.dumps({**record, **fields})


def _bad_values(run_dir: Path) -> dict[str, tuple[str, str]]:
    first = _lines(run_dir)[2]
    return {
        "infinity": (re.sub(r'"init_duration_ms": [^,]+', '"init_duration_ms": Infinity',
                            json.dumps(first)), "init_duration_ms is inf, not a number"),
        "huge": (re.sub(r'"init_duration_ms": [^,]+', '"init_duration_ms": 1e400',
                        json.dumps(first)), "init_duration_ms is inf, not a number"),
        "nan": (re.sub(r'"duration_ms": [^,]+', '"duration_ms": NaN', json.dumps(first)),
                "duration_ms is nan, not a number"),
        "negative": (_changed(first, init_duration_ms=-1000.0),
                     "init_duration_ms is -1000, below zero"),
        "memory": (_changed(first, max_memory_used_mb=-5), "max_memory_used_mb is -5, below zero"),
        "memory-size": (_changed(first, memory_size_mb=64), "memory_size_mb is 64, outside"),
        "other-run": (_changed(first, run="20261127T000000Z-other-abcdef"),
                      "run is '20261127T000000Z-other-abcdef', not this run's"),
        "duplicate": (_changed(first, request_id=_lines(run_dir)[0]["request_id"]),
                      "again (first in record 1)"),
    }  # fmt: skip


KINDS = ["infinity", "huge", "nan", "negative", "memory", "memory-size", "other-run", "duplicate"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_no_run_can_produce_is_one_line_exit_2(
    kind: str, workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    run_dir = _run(workdir / "results")
    raw, why = _bad_values(run_dir)[kind]
    _with_record(run_dir, 2, raw)
    before = (run_dir / "invocations.jsonl").read_bytes()
    result = bench_cli("report", str(run_dir))
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1, message
    assert f"{run_dir}/invocations.jsonl: record 3: " in message
    assert why in message and "--lenient" in message
    assert not list((workdir / "reports").iterdir())  # no report from refused data
    assert (run_dir / "invocations.jsonl").read_bytes() == before


@pytest.mark.parametrize("kind", KINDS)
def test_lenient_names_what_it_left_out_and_changes_no_number(
    kind: str, workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    run_dir = _run(workdir / "results")
    good = load_run(run_dir).invocations
    raw, why = _bad_values(run_dir)[kind]
    _with_record(run_dir, 2, raw)
    loaded = load_run(run_dir, lenient=True)
    assert len(loaded.dropped) == 1 and why in loaded.dropped[0]
    assert loaded.dropped[0].startswith("invocations.jsonl: record 3 left out: ")
    kept = loaded.invocations
    assert len(kept) == len(good) - 1
    expected = good.drop(index=2).reset_index(drop=True)
    assert kept["init_duration_ms"].tolist() == pytest.approx(
        expected["init_duration_ms"].tolist(), nan_ok=True
    )
    assert kept["request_id"].tolist() == expected["request_id"].tolist()
    result = bench_cli("report", str(run_dir), "--lenient")
    assert result.exit_code == 0, result.output
    html = Path(result.output.strip()).read_text()
    assert "Records left out (--lenient)" in html
    assert "record 3 left out" in html


def test_another_runs_records_appended_are_refused_not_mixed_in(tmp_path: Path) -> None:
    """n 12 -> 24 and a median x10 was the failure: the file of another run appended."""
    run_dir = _run(tmp_path / "a")
    other = write_run(tmp_path / "b", SyntheticRun(cells=default_cells()[:1], cold=10, warm=0,
                                                   burst=5, seed=9, init_factor={CELL: 10.0}))
    with (run_dir / "invocations.jsonl").open("a") as handle:
        handle.write((other / "invocations.jsonl").read_text())
    with pytest.raises(ResultsFormatError, match=r"record 11: run is '.*-synth-.*', not this"):
        load_run(run_dir)
    loaded = load_run(run_dir, lenient=True)
    assert len(loaded.invocations) == 10 and len(loaded.dropped) == 10


def test_two_problems_in_one_record_are_both_named(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    first = _lines(run_dir)[4]
    _with_record(run_dir, 4, _changed(first, duration_ms=-1.0, run="x"))
    loaded = load_run(run_dir, lenient=True)
    assert loaded.dropped == [
        "invocations.jsonl: record 5 left out: duration_ms is -1, below zero; "
        f"run is 'x', not this run's {run_dir.name}"
    ]


def test_an_empty_file_of_a_complete_run_is_refused(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    run_dir = _run(workdir / "results")
    (run_dir / "invocations.jsonl").write_text("")
    result = bench_cli("report", str(run_dir))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"bench: error: {run_dir}/invocations.jsonl: no records, but the manifest says the "
        "run is complete; pass --lenient to report the run as it is"
    )
    result = bench_cli("report", str(run_dir), "--lenient")
    assert result.exit_code == 0, result.output
    html = Path(result.output.strip()).read_text()
    assert "no records, but the manifest says the run is complete" in html


def test_an_empty_file_of_a_run_that_measured_nothing_is_fine(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, SyntheticRun(cells=default_cells()[:1], cold=1, warm=0,
                                               status="aborted"))  # fmt: skip
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for cell in manifest["cells"].values():
        cell["status"] = "pending"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    (run_dir / "invocations.jsonl").write_text("")
    loaded = load_run(run_dir)
    assert len(loaded.invocations) == 0 and loaded.dropped == []


def test_a_missing_file_is_refused(workdir: Path, bench_cli: Callable[..., Result]) -> None:
    run_dir = _run(workdir / "results")
    (run_dir / "invocations.jsonl").unlink()
    result = bench_cli("report", str(run_dir))
    assert result.exit_code == 2
    assert "invocations.jsonl: missing; every run writes one" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_compare_refuses_and_lenient_names_the_records(
    workdir: Path, bench_cli: Callable[..., Result]
) -> None:
    base = _run(workdir / "results")
    new = write_run(workdir / "results", SyntheticRun(cells=default_cells()[:1], cold=10,
                                                      warm=0, burst=5, seed=3))  # fmt: skip
    _with_record(new, 1, _changed(_lines(new)[1], init_duration_ms=-1000.0))
    result = bench_cli("compare", str(base), str(new))
    assert result.exit_code == 2
    assert f"{new}/invocations.jsonl: record 2: init_duration_ms is -1000" in result.output
    result = bench_cli("compare", str(base), str(new), "--lenient")
    assert result.exit_code in (0, 1), result.output
    html = Path(result.output.strip().splitlines()[-1]).read_text()
    assert "record 2 left out: init_duration_ms is -1000, below zero" in html


def test_read_records_names_a_corrupt_middle_line(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    lines[4] = lines[4][:40]
    _rewrite(run_dir, lines)
    with pytest.raises(ResultsFormatError, match=r"invocations\.jsonl:5: not valid JSON"):
        read_records(run_dir)


def test_read_records_skips_and_counts_a_partial_tail(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    with (run_dir / "invocations.jsonl").open("a") as handle:
        handle.write('{"run": "cut')
    records, partial = read_records(run_dir)
    assert len(records) == 10 and partial == 1
