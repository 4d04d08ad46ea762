"""The results directory: writer contract, crash tolerance, resume, and the loader."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bench.errors import InputError, ResultsFormatError
from bench.results import (
    INVOCATION_KEYS,
    SCHEMA_VERSION,
    RunWriter,
    invocations_frame,
    load_run,
    new_run_id,
)

DOCS = Path(__file__).resolve().parents[1] / "docs/results-format.md"
RUN_ID = "20261127T140212Z-demo-3fa9c1"


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {key: None for key in INVOCATION_KEYS}
    base.update(
        run=RUN_ID, cell="python3.12-512mb-x86_64-inert-5mb", runtime="python3.12",
        memory_mb=512, architecture="x86_64", package_mb=5.0, package_kind="inert",
        phase="cold", round=1, seq=1, request_id="r-1", client_send_ns=1_000,
        client_latency_ms=210.5, status="success", duration_ms=8.4, billed_duration_ms=179,
        init_duration_ms=170.13, max_memory_used_mb=66, memory_size_mb=512, sandbox_id="sb-1",
        sandbox_invocation=1, init_to_invoke_gap_ms=2.5, start_type="cold",
        report_sources=["tail"], launch_skew_ms=0.8,
    )
    base.update(overrides)
    if "request_id" not in overrides:  # one request id per invocation, as Lambda gives
        first = (base["phase"], base["round"]) == ("cold", 1)
        base["request_id"] = f"r-{base['seq']}" if first else \
            f"r-{base['phase']}-{base['round']}-{base['seq']}"
    return base


def manifest(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "run_id": RUN_ID,
                           "status": "running", "matrix_name": "demo", "cells": {}}
    doc.update(overrides)
    return doc


def test_invocation_keys_match_the_documented_table() -> None:
    if not DOCS.exists():
        pytest.skip(f"{DOCS} not found")
    text = DOCS.read_text()
    table = text.split("## invocations.jsonl", 1)[1].split("\n## ", 1)[0]
    documented: list[str] = []
    for row in re.findall(r"^\| ([^|]+) \|", table, flags=re.MULTILINE):
        if row.strip() in ("key", "---"):
            continue
        documented.extend(name.strip() for name in row.split(","))
    assert tuple(documented) == INVOCATION_KEYS


def test_new_run_id_format() -> None:
    when = datetime(2026, 11, 27, 15, 2, 12, tzinfo=timezone(timedelta(hours=1)))
    assert new_run_id("demo", when, "3fa9c1") == RUN_ID
    generated = new_run_id("a-very-long-matrix-name-kept-whole")
    assert re.fullmatch(r"\d{8}T\d{6}Z-a-very-long-matrix-name-kept-whole-[0-9a-f]{6}", generated)
    assert new_run_id("x") != new_run_id("x")


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record())
        writer.append_invocation(record(
            phase="warm", round=0, seq=1, request_id="r-2", init_duration_ms=None,
            billed_duration_ms=3, sandbox_invocation=2, start_type="warm",
            report_sources=["tail", "cloudwatch"], launch_skew_ms=None,
        ))
        writer.append_invocation(record(
            phase="cold", round=2, seq=1, request_id=None, status="throttled",
            error_type="TooManyRequestsException", duration_ms=None, billed_duration_ms=None,
            init_duration_ms=None, max_memory_used_mb=None, memory_size_mb=None,
            sandbox_id=None, sandbox_invocation=None, init_to_invoke_gap_ms=None,
            start_type="unknown", report_sources=[],
        ))
        writer.append_event("throttle", "cold invoke throttled", cell="c1")
        writer.append_report_line("tail", "r-1", "REPORT RequestId: r-1\tDuration: 1 ms\n"
                                  "XRAY TraceId: 1-a")
    run = load_run(tmp_path / RUN_ID)
    df = run.invocations
    assert list(df.columns) == list(INVOCATION_KEYS)
    assert len(df) == 3
    assert run.status == "partial"  # "running" reads as partial
    assert run.skipped_lines == 0
    assert str(df["round"].dtype) == "int64"
    assert str(df["init_duration_ms"].dtype) == "float64"
    assert str(df["billed_duration_ms"].dtype) == "float64"
    assert df["init_duration_ms"].tolist()[0] == 170.13
    assert math.isnan(df["init_duration_ms"].tolist()[1])
    assert df["request_id"].tolist() == ["r-1", "r-2", None]
    assert df["request_id"].dtype == object  # not pandas' inferred str dtype (None -> NaN)
    assert df["report_sources"].tolist()[1] == ["tail", "cloudwatch"]
    assert run.events[0]["kind"] == "throttle" and run.events[0]["cell"] == "c1"
    audit = (tmp_path / RUN_ID / "report-lines.log").read_text().splitlines()
    assert audit == ["tail\tr-1\tREPORT RequestId: r-1\tDuration: 1 ms\\nXRAY TraceId: 1-a"]
    source, rid, line = audit[0].split("\t", 2)
    assert (source, rid, line.replace("\\n", "\n")) == (
        "tail", "r-1", "REPORT RequestId: r-1\tDuration: 1 ms\nXRAY TraceId: 1-a"
    )
    saved = json.loads((tmp_path / RUN_ID / "manifest.json").read_text())
    assert saved["schema_version"] == 1 and saved["run_id"] == RUN_ID


def test_create_refuses_an_existing_directory(tmp_path: Path) -> None:
    RunWriter.create(tmp_path, RUN_ID).close()
    with pytest.raises(InputError, match="already exists"):
        RunWriter.create(tmp_path, RUN_ID)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("seq"), "missing keys \\['seq'\\]"),
        (lambda r: r.update(extra=1), "unknown keys \\['extra'\\]"),
        (lambda r: r.update(status="ok"), "status is 'ok'"),
        (lambda r: r.update(duration_ms=float("nan")), "not JSON-serialisable"),
    ],
)
def test_append_invocation_checks_the_contract(tmp_path: Path, change: Any, message: str) -> None:
    bad = record()
    change(bad)
    with RunWriter.create(tmp_path, RUN_ID) as writer, pytest.raises(
        ResultsFormatError, match=message
    ):
        writer.append_invocation(bad)
    assert (tmp_path / RUN_ID / "invocations.jsonl").read_text() == ""


def test_manifest_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        for i in range(5):
            writer.write_manifest(manifest(step=i))
        with pytest.raises(ResultsFormatError):
            writer.write_manifest(manifest(bad={1, 2}))  # a set is not JSON
        with pytest.raises(ResultsFormatError, match="status 'finished'"):
            writer.write_manifest(manifest(status="finished"))
        with pytest.raises(ResultsFormatError, match="schema_version 2"):
            writer.write_manifest(manifest(schema_version=2))
    names = sorted(p.name for p in (tmp_path / RUN_ID).iterdir())
    assert names == ["events.jsonl", "invocations.jsonl", "manifest.json", "report-lines.log"]
    assert json.loads((tmp_path / RUN_ID / "manifest.json").read_text())["step"] == 4


def test_rewrite_invocations_replaces_the_file(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record())
        merged = record(report_sources=["tail", "cloudwatch"])
        assert writer.rewrite_invocations([merged, record(seq=2)]) == 2
        writer.append_invocation(record(seq=3))  # appends still work afterwards
    df = load_run(tmp_path / RUN_ID).invocations
    assert df["seq"].tolist() == [1, 2, 3]
    assert df["report_sources"].tolist()[0] == ["tail", "cloudwatch"]


def test_trailing_partial_line_is_skipped_and_counted(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record())
        writer.append_invocation(record(seq=2))
    path = tmp_path / RUN_ID / "invocations.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps(record(seq=3))[:57])  # the crash hit mid-write
    run = load_run(tmp_path / RUN_ID)
    assert run.invocations["seq"].tolist() == [1, 2]
    assert run.skipped_lines == 1


def test_corrupt_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
    lines = [json.dumps(record(seq=i)) for i in range(1, 5)]
    lines[1] = lines[1][:30]
    (tmp_path / RUN_ID / "invocations.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ResultsFormatError, match=r"invocations\.jsonl:2: not valid JSON"):
        load_run(tmp_path / RUN_ID)


def test_record_with_wrong_keys_on_load_names_the_record(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
    bad = record()
    del bad["launch_skew_ms"]
    (tmp_path / RUN_ID / "invocations.jsonl").write_text(
        json.dumps(record()) + "\n" + json.dumps(bad) + "\n"
    )
    with pytest.raises(ResultsFormatError, match=r"record 2: missing keys \['launch_skew_ms'\]"):
        load_run(tmp_path / RUN_ID)


def test_non_numeric_value_in_a_numeric_column(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
    (tmp_path / RUN_ID / "invocations.jsonl").write_text(
        json.dumps(record(duration_ms="8.4 ms")) + "\n"
    )
    with pytest.raises(ResultsFormatError, match="duration_ms holds a non-numeric value"):
        load_run(tmp_path / RUN_ID)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "manifest.json: missing"),
        ("{not json", "manifest.json: not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"run_id": RUN_ID}), "schema_version missing"),
        (json.dumps({"schema_version": 2}), "newer than this coldbench supports"),
        (json.dumps({"schema_version": 0}), "older than this coldbench supports"),
        (json.dumps({"schema_version": 1, "status": "done"}), "status 'done'"),
    ],
)
def test_bad_manifests_are_one_line_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    run_dir = tmp_path / RUN_ID
    run_dir.mkdir()
    if content is not None:
        (run_dir / "manifest.json").write_text(content)
    with pytest.raises(ResultsFormatError, match=re.escape(message)) as info:
        load_run(run_dir)
    assert "\n" not in str(info.value)
    assert str(run_dir) in str(info.value)


def test_missing_invocations_file_is_refused_or_named_when_lenient(tmp_path: Path) -> None:
    run_dir = tmp_path / RUN_ID
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps(manifest(status="aborted")))
    with pytest.raises(ResultsFormatError, match=r"invocations\.jsonl: missing; every run writes "
                       r"one .*--lenient to report") as caught:
        load_run(run_dir)
    assert "\n" not in str(caught.value)
    run = load_run(run_dir, lenient=True)
    assert run.status == "aborted"
    assert len(run.invocations) == 0
    assert list(run.invocations.columns) == list(INVOCATION_KEYS)
    assert run.dropped == ["invocations.jsonl: missing; every run writes one (empty when "
                           "nothing ran)"]


def test_open_existing_resumes_after_a_partial_tail(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record())
    path = tmp_path / RUN_ID / "invocations.jsonl"
    with path.open("a") as handle:
        handle.write('{"run": "half a rec')
    with RunWriter.open_existing(tmp_path, RUN_ID) as writer:
        writer.append_invocation(record(seq=2))
        writer.write_manifest(manifest(status="complete"))
    run = load_run(tmp_path / RUN_ID)
    assert run.invocations["seq"].tolist() == [1, 2]
    assert run.skipped_lines == 0
    assert run.status == "complete"
    with pytest.raises(InputError, match="is complete; nothing to resume"):
        RunWriter.open_existing(tmp_path, RUN_ID)


def test_open_existing_of_a_missing_run(tmp_path: Path) -> None:
    with pytest.raises(ResultsFormatError, match="not a run directory"):
        RunWriter.open_existing(tmp_path, RUN_ID)


WRITER_SCRIPT = """
import sys, time
from pathlib import Path
from bench.results import RunWriter
sys.path.insert(0, {tests!r})
from test_results import manifest, record
w = RunWriter.create(Path({root!r}), {run_id!r})
w.write_manifest(manifest())
i = 0
while True:
    i += 1
    w.append_invocation(record(seq=i, sandbox_id="x" * 2000))
    w.append_event("retry", "r" * 500)
    if i % 50 == 0:
        w.write_manifest(manifest(step=i))
"""


def test_kill_9_mid_run_leaves_a_readable_partial_run(tmp_path: Path) -> None:
    script = WRITER_SCRIPT.format(
        tests=str(Path(__file__).parent), root=str(tmp_path), run_id=RUN_ID
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    invocations = tmp_path / RUN_ID / "invocations.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if invocations.exists() and invocations.stat().st_size > 400_000:
                break
            if proc.poll() is not None:
                pytest.fail(f"writer exited early with {proc.returncode}")
            time.sleep(0.01)  # polling a real condition, with a deadline
        else:
            pytest.fail("writer produced too little in 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = load_run(tmp_path / RUN_ID)
    seqs = run.invocations["seq"].tolist()
    assert len(seqs) >= 150
    assert seqs == list(range(1, len(seqs) + 1))
    assert run.status == "partial"
    assert run.skipped_lines in (0, 1, 2)
    assert run.manifest["step"] >= 50


def test_invocations_frame_matches_load_run(tmp_path: Path) -> None:
    records = [record(seq=i, init_duration_ms=None if i % 2 else 100.0 + i) for i in range(1, 6)]
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        for r in records:
            writer.append_invocation(r)
    loaded = load_run(tmp_path / RUN_ID).invocations
    direct = invocations_frame(records)
    assert loaded.equals(direct)


def test_many_records_span_chunks_and_keep_order(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        for i in range(1, 12_001):
            writer.append_invocation(record(seq=i, client_send_ns=i * 1000,
                                            sandbox_id="s" * 400))  # ~5 MB: more than a chunk
    started = time.perf_counter()
    df = load_run(tmp_path / RUN_ID).invocations
    elapsed = time.perf_counter() - started
    print(f"loaded {len(df)} records in {elapsed:.2f}s")
    assert (tmp_path / RUN_ID / "invocations.jsonl").stat().st_size > 4 << 20
    assert df["seq"].tolist() == list(range(1, 12_001))
    assert int(df["client_send_ns"].iloc[-1]) == 12_000_000


def test_utc_timestamp_in_events(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.append_event("warning", "w")
        with pytest.raises(ResultsFormatError, match="kind 'oops'"):
            writer.append_event("oops", "x")
    event = json.loads((tmp_path / RUN_ID / "events.jsonl").read_text())
    ts = datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - ts).total_seconds()) < 60


@pytest.mark.parametrize("chunk_bytes", [64, 1500, 4 << 20])
def test_chunk_boundaries_do_not_change_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr("bench.results.reader._CHUNK_BYTES", chunk_bytes)
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        for i in range(1, 41):
            writer.append_invocation(record(seq=i, sandbox_id="s" * (i * 37)))
    path = tmp_path / RUN_ID / "invocations.jsonl"
    good = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"run": "cut off')
    run = load_run(tmp_path / RUN_ID)
    assert run.invocations["seq"].tolist() == list(range(1, 41))
    assert run.skipped_lines == 1
    lines = good.split(b"\n")
    lines[29] = b'{"run": oops}'
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ResultsFormatError, match=r"invocations\.jsonl:30: not valid JSON"):
        load_run(tmp_path / RUN_ID)


def test_a_complete_but_corrupt_last_line_is_not_a_partial_tail(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record())
    path = tmp_path / RUN_ID / "invocations.jsonl"
    with path.open("a") as handle:
        handle.write("not json at all\n")  # it has its newline: no crash wrote this
    with pytest.raises(ResultsFormatError, match=r"invocations\.jsonl:2: not valid JSON"):
        load_run(tmp_path / RUN_ID)


def test_a_line_longer_than_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.results.reader._CHUNK_BYTES", 256)
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record(seq=1, error_type="E" * 5000))
        writer.append_invocation(record(seq=2))
    df = load_run(tmp_path / RUN_ID).invocations
    assert df["seq"].tolist() == [1, 2]
    assert df["error_type"].tolist()[0] == "E" * 5000


def test_columns_are_typed_the_same_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bench.results.reader._CHUNK_BYTES", 64)  # about one record per chunk
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
        writer.append_invocation(record(seq=1, cell="b-cell", error_type="E1"))
        writer.append_invocation(record(seq=2, cell="a-cell", memory_mb=1024))
        writer.append_invocation(record(seq=3, cell="b-cell", memory_mb=None))
    df = load_run(tmp_path / RUN_ID).invocations
    assert str(df["seq"].dtype) == "int64"
    # One null in a later chunk makes the whole column float, as in a single chunk.
    assert str(df["memory_mb"].dtype) == "float64"
    assert df["memory_mb"].tolist()[:2] == [512.0, 1024.0] and math.isnan(df["memory_mb"][2])
    assert df["cell"].dtype == "category"
    assert list(df["cell"].cat.categories) == ["a-cell", "b-cell"]  # sorted, not first-seen
    assert df["cell"].tolist() == ["b-cell", "a-cell", "b-cell"]
    assert df["error_type"].tolist()[0] == "E1" and df["error_type"].isna().tolist()[1:] == [
        True, True
    ]
    assert [cell for cell, _ in df.groupby("cell", sort=True, observed=True)] == [
        "a-cell", "b-cell"
    ]
    assert df["report_sources"].tolist() == [["tail"]] * 3


def test_non_text_value_in_a_text_column(tmp_path: Path) -> None:
    with RunWriter.create(tmp_path, RUN_ID) as writer:
        writer.write_manifest(manifest())
    (tmp_path / RUN_ID / "invocations.jsonl").write_text(
        json.dumps(record(runtime=["python3.12"])) + "\n"
    )
    with pytest.raises(ResultsFormatError, match="runtime holds a non-text value"):
        load_run(tmp_path / RUN_ID)
