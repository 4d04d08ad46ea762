"""The page of a `bench analyze` run: per function, the production figures `bench analyze`
stored, with the right values for REPORT lines served by the local target; offline and
byte-identical like every report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cost import init_invoke_cost, usd
from bench.report import render_run
from bench.results import START_TYPES
from tests import test_analyze
from tests.test_analyze import INIT_START, create, seed, text_report
from tests.test_report import links_of

target = test_analyze.target  # the local target over real HTTP, as bench analyze's tests use it

START, END = "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"
HOUR_MS = 3_600_000


def _environment(base: int, index: int, warm: int) -> tuple[list[tuple[int, str]], list[dict]]:
    """One environment's lines from `base` ms, and what each REPORT says (the truth)."""
    init, duration = 150.0 + 10 * index, 10.0 + index
    lines = [(base, INIT_START)]
    truth = [{"init": init, "duration": duration, "used": 80, "status": "success"}]
    lines.append((base + int(init + duration) + 5,
                  text_report(f"c{index}", duration, init=init, used=80)))  # fmt: skip
    for i in range(warm):
        status = "error" if (index, i) in ((1, 3), (6, 7)) else None
        if (index, i) == (2, 5):
            status = "timeout"
            lines.append((base + 1_999 + i * 5_000, f"RequestId: w{index}-{i} Error: Task "
                          "timed out after 3.00 seconds"))  # fmt: skip
        used = 100 if (index, i) == (3, 1) else 60
        duration = 2.0 + i / 10
        report = text_report(f"w{index}-{i}", duration, used=used, status=status)
        lines.append((base + 2_000 + i * 5_000, report))
        truth.append({"init": None, "duration": duration, "used": used,
                      "status": status or "success"})  # fmt: skip
    return lines, truth


def seed_production(target: Any) -> list[dict[str, Any]]:
    """orders-api: five environments started together in the first hour (12 warm calls
    each), three in the second (20 each); two errors, one timeout, peak 100 of 512 MB."""
    group = create(target, "orders-api")
    create(target, "quiet")  # no invocation in the window
    truth: list[dict[str, Any]] = []
    for index in range(8):
        hour, warm = (0, 12) if index < 5 else (1, 20)
        base = hour * HOUR_MS + 60_000 + (index % 5) * 1_000
        lines, said = _environment(base, index, warm)
        seed(target, group, f"2026/01/01/[$LATEST]{index:032d}", lines)
        truth += said
    return truth


@pytest.fixture
def analyzed(target: Any, tmp_path: Path, bench_cli: Any) -> dict[str, Any]:
    truth = seed_production(target)
    result = bench_cli(
        "analyze", "--function", "orders-api", "--function", "quiet", "--start", START,
        "--end", END, "--reader", "filter", "--endpoint-url", target.endpoint_url,
        "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "results").iterdir()
    page = Path(re.search(r"report: (\S+)", result.output)[1])  # type: ignore[index]
    return {"truth": truth, "run_dir": run_dir, "page": page, "output": result.output}


def _text(html: str) -> str:
    """The page's words, tags dropped and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_analyze_writes_the_page_and_it_shows_the_production_figures(
    analyzed: dict[str, Any],
) -> None:
    page, truth = analyzed["page"], analyzed["truth"]
    run_dir = analyzed["run_dir"]
    assert page == run_dir.parent.parent / "reports" / f"{run_dir.name}.html"
    html = page.read_text(encoding="utf-8")
    text = _text(html)
    cold = [t for t in truth if t["init"] is not None]
    warm = [t for t in truth if t["init"] is None and t["status"] == "success"]
    assert len(truth) == 128 and len(cold) == 8
    # The overview row: invocations, cold, rate, init p50, durations, memory, cost, errors.
    inits = np.array([t["init"] for t in cold])
    init_usd = invoke_usd = 0.0
    for t in truth:
        billed = int(t["duration"] + (t["init"] or 0)) + 1
        split = init_invoke_cost(billed, t["duration"], t["init"], 512, "x86_64")
        init_usd, invoke_usd = init_usd + split[0], invoke_usd + split[1]
    row = (f"orders-api 128 8 6.2% {np.percentile(inits, 50):.1f} "
           f"{np.median([t['duration'] for t in cold]):.1f} "
           f"{np.median([t['duration'] for t in warm]):.2f} 100 MB / 512 MB "
           f"{usd(init_usd)} {usd(invoke_usd)} 2 1 5 2 call-outs ")  # fmt: skip
    assert row in text, text[text.find("orders-api 128"):][:300]
    # The function's own section.
    starts = " ".join(f"{kind} {({'cold': 8, 'warm': 120}).get(kind, 0)}" for kind in START_TYPES)
    for words in (
        "Call-out: memory 512 MB is 5.1x the peak use of 100 MB (call-out at 2x)",
        "Call-out: cold-start rate 6.2% (8 of 128; call-out at 5%)",
        f"Invocations 128 {starts} Cold-start rate 6.2% Errors 2 Timeouts 1",
        "Init Duration (8 cold starts)",
        f"p90 {np.percentile(inits, 90):.1f} ms 95% CI: too few cold starts for one",
        f"p99 {np.percentile(inits, 99):.1f} ms 95% CI: too few cold starts for one",
        "Memory Size 512 MB Peak used 100 MB (19.5% of the size) Median used 60 MB "
        "Headroom at peak 412 MB",
        f"INIT {usd(init_usd)} ({100 * init_usd / (init_usd + invoke_usd):.1f}%) "
        f"Invoke {usd(invoke_usd)} Total {usd(init_usd + invoke_usd)}",
        "Environments seen 8 Per minute, peak 5",
        # By hour of day: 5 of 65 in the first hour, 3 of 63 in the second.
        "00h 7.7% of 65 · 01h 4.8% of 63.",
        "quiet · /aws/lambda/quiet", "No invocation in the window.",
    ):  # fmt: skip
        assert words in text, words
    # The p50's CI is two of the measured values around the median.
    ci = re.search(r"p50 ([\d.]+) ms 95% CI: ([\d.]+) – ([\d.]+)", text)
    assert ci is not None
    low, high = float(ci[2]), float(ci[3])
    assert low < float(ci[1]) < high and {low, high} <= set(inits.tolist())
    # Stored figures and page agree: the page formats the manifest, it computes nothing.
    manifest = json.loads((analyzed["run_dir"] / "manifest.json").read_text())
    summary = manifest["production"]["functions"]["orders-api"]["summary"]
    assert summary["init_duration_ms"]["p50"]["ci"] == [low, high]
    # The hour chart is an inline SVG; the benchmark charts have no place here.
    assert re.search(r'Cold-start rate by hour of day \(UTC\)</h4>\s*<div class="chart"><svg', html)
    assert "Cold vs warm client latency" not in html and "Init Duration by memory" not in html
    # The terminal says where the page is.
    assert f"report: {page}" in analyzed["output"]


def test_production_page_is_offline_and_byte_identical(
    analyzed: dict[str, Any], tmp_path: Path
) -> None:
    first = render_run(analyzed["run_dir"], tmp_path / "again").read_bytes()
    assert first == analyzed["page"].read_bytes()
    assert render_run(analyzed["run_dir"], tmp_path / "third").read_bytes() == first
    html = first.decode("utf-8")
    links = links_of(html).links
    external = [v for _, _, v in links if v.lower().startswith(("http:", "https:", "//"))]
    assert external == []
    assert {v.split(",")[0] for _, _, v in links if not v.startswith("#")} == {
        "data:text/csv;base64"
    }


def test_production_page_asks_chromium_for_nothing_online(
    analyzed: dict[str, Any], tmp_path: Path
) -> None:
    from tests.test_report_chromium import _render_in_chromium

    png, requested = _render_in_chromium(analyzed["page"], tmp_path / "browser")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert requested == []


def test_a_page_that_cannot_be_written_leaves_the_run_stored(
    target: Any, tmp_path: Path, bench_cli: Any,
) -> None:  # fmt: skip
    seed_production(target)
    blocked = tmp_path / "reports"
    blocked.write_text("a file where the reports directory should be")
    result = bench_cli(
        "analyze", "--function", "orders-api", "--start", START, "--end", END, "--reader",
        "filter", "--endpoint-url", target.endpoint_url, "--results", str(tmp_path / "results"),
        "--reports", str(blocked),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "results").iterdir()
    said = " ".join(result.output.split())  # the terminal wraps the long note
    assert f"retry: bench report {run_dir}" in said
    assert "report not rendered (FileExistsError" in said and "report: " not in said
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"


def test_hour_bars_are_labelled_in_the_width_of_a_bar() -> None:
    from bench.report.production import _compact

    counts = (0, 950, 9_499, 35_000, 1_250_000, 12_000_000)
    assert [_compact(n) for n in counts] == ["0", "950", "9.5k", "35k", "1.2M", "12M"]


def test_a_benchmark_run_has_no_production_section(tmp_path: Path) -> None:
    from tests.synthetic import SyntheticRun, write_run

    run = write_run(tmp_path / "results", SyntheticRun(seed=3, cold=8, warm=2))
    html = render_run(run, tmp_path / "reports").read_text(encoding="utf-8")
    assert "Production: what callers met" not in html
    assert "Init Duration by memory" in html and "Cold vs warm client latency" in html


def test_a_function_not_read_completely_says_so(analyzed: dict[str, Any], tmp_path: Path) -> None:
    run_dir = analyzed["run_dir"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["status"] = "partial"
    manifest["cells"]["orders-api"].update(status="failed", error="reading /aws/lambda/"
                                           "orders-api: ThrottlingException: Rate exceeded")
    manifest["cells"]["quiet"]["status"] = "pending"  # stopped before it was read
    del manifest["production"]["functions"]["quiet"]["summary"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    text = _text(render_run(run_dir, tmp_path / "partial").read_text(encoding="utf-8"))
    assert "PARTIAL RUN" in text
    assert ("Not read completely: reading /aws/lambda/orders-api: ThrottlingException: Rate "
            "exceeded") in text  # fmt: skip
    assert "orders-api 128 8 6.2%" in text  # what was read is still shown
    assert "quiet 0 not read: the cell is pending" in text
