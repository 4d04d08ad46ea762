"""Per-run report: self-contained, deterministic, first-screen facts, any conforming dir."""

from __future__ import annotations

import base64
import io
import json
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from bench.errors import ResultsFormatError
from bench.report import format_summary_table, render_run
from bench.report.load import load_run
from bench.stats import cell_summary
from tests.synthetic import SyntheticRun, default_cells, write_run

MINIMAL = Path(__file__).parent / "data" / "minimal-run"


class _Links(HTMLParser):
    """Every src and href attribute (any namespace prefix, e.g. xlink:href), and SVGs."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.svgs += tag == "svg"
        for name, value in attrs:
            if name.split(":")[-1] in ("src", "href"):
                self.links.append((tag, name, value or ""))


def links_of(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _small(**changes: object) -> SyntheticRun:
    return SyntheticRun(cells=default_cells()[:2], cold=6, warm=0, burst=6, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    return write_run(root, SyntheticRun(seed=4, cold=30, warm=10, throttles_per_cell=1))


@pytest.fixture(scope="module")
def rendered(synthetic_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_run(synthetic_run, tmp_path_factory.mktemp("reports"))


def test_no_http_in_any_src_or_href(rendered: Path) -> None:
    parsed = links_of(rendered.read_text(encoding="utf-8"))
    assert parsed.svgs >= 4, "the four charts are inline SVG"
    assert parsed.links, "expected at least the CSV download link and the SVG glyph references"
    external = [link for link in parsed.links if "http://" in link[2].lower()
                or "https://" in link[2].lower()]  # fmt: skip
    assert external == []
    assert {value.split(",")[0] for _, _, value in parsed.links if not value.startswith("#")} == {
        "data:text/csv;base64"
    }


def test_the_same_results_render_to_identical_bytes(synthetic_run: Path, tmp_path: Path) -> None:
    first = render_run(synthetic_run, tmp_path / "a").read_bytes()
    second = render_run(synthetic_run, tmp_path / "b").read_bytes()
    assert first == second
    other = write_run(tmp_path / "other", SyntheticRun(seed=5, cold=30, warm=10))
    assert render_run(other, tmp_path / "c").read_bytes() != first


def test_csv_download_holds_the_cell_table(rendered: Path) -> None:
    html = rendered.read_text(encoding="utf-8")
    uri = next(v for _, n, v in links_of(html).links if v.startswith("data:text/csv"))
    text = base64.b64decode(uri.split(",", 1)[1]).decode()
    lines = text.strip().split("\n")
    assert lines[0].startswith("cell,runtime,memory_mb")
    assert len(lines) == 1 + 12
    assert "python3.12-512mb-x86_64-inert-5mb" in text


def test_first_screen_says_what_ran(rendered: Path) -> None:
    html = rendered.read_text(encoding="utf-8")
    assert "these numbers describe this machine (the embedded emulator), not AWS" in html
    assert "on (cgroups)" in html and "python3.12 on CPython 3.11.7" in html
    assert "PARTIAL RUN" not in html
    assert "<dt>throttled</dt><dd class=\"flag\">12</dd>" in html


@pytest.mark.parametrize(("status", "banner"), [("partial", "PARTIAL RUN"),
                                                 ("aborted", "ABORTED RUN"),
                                                 ("running", "RUN STILL RUNNING")])  # fmt: skip
def test_an_unfinished_run_is_marked(tmp_path: Path, status: str, banner: str) -> None:
    run = write_run(tmp_path, _small(status=status))
    html = render_run(run, tmp_path / "reports").read_text(encoding="utf-8")
    assert f'<div class="banner bad">{banner}' in html


def test_local_run_without_cpu_limits_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path, _small(cpu_limits=False))
    html = render_run(run, tmp_path / "reports").read_text(encoding="utf-8")
    assert "CPU limits were OFF" in html


def test_local_run_without_isolation_says_so_on_its_first_screen(tmp_path: Path) -> None:
    reason = "bwrap not found on PATH: install bubblewrap"
    unisolated = {"isolated": False, "mode": "none", "reason": reason, "allow_unisolated": True}
    html = render_run(
        write_run(tmp_path, _small(isolation=unisolated)), tmp_path / "reports"
    ).read_text(encoding="utf-8")
    assert f"Sandboxes were NOT isolated from this machine ({reason})" in html
    isolated = {"isolated": True, "mode": "root", "reason": None, "allow_unisolated": False}
    other = tmp_path / "isolated"
    html = render_run(
        write_run(other, _small(isolation=isolated, seed=1)), other / "reports"
    ).read_text(encoding="utf-8")
    assert "NOT isolated" not in html and "on (bubblewrap namespaces, root)" in html


def test_minimal_hand_written_run_from_another_writer(
    bench_cli: Callable, workdir: Path
) -> None:
    result = bench_cli("report", str(MINIMAL), "--reports", "reports")
    assert result.exit_code == 0, result.output
    page = workdir / "reports" / "20261127T090000Z-minimal-0a0b0c.html"
    assert result.output.strip() == str(Path("reports") / page.name)
    html = page.read_text(encoding="utf-8")
    assert "RUN STILL RUNNING" in html  # status running reads as partial
    assert "not AWS" not in html  # an AWS target
    assert "eu-central-1" in html
    assert "1 (partial trailing records)" in html
    loaded = load_run(MINIMAL)
    assert (loaded.status, loaded.skipped_lines, len(loaded.invocations)) == ("partial", 1, 9)


def test_bad_input_is_one_line_exit_2(bench_cli: Callable, workdir: Path) -> None:
    run = workdir / "results" / "broken"
    shutil.copytree(MINIMAL, run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 2}))
    result = bench_cli("report", str(run))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "schema_version 2 is newer than this coldbench supports" in result.output

    result = bench_cli("report", str(workdir / "results" / "missing"))
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_a_broken_line_inside_the_file_names_its_number(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(MINIMAL, run)
    lines = (run / "invocations.jsonl").read_text().split("\n")
    lines[2] = lines[2][:40]
    (run / "invocations.jsonl").write_text("\n".join(lines))
    with pytest.raises(ResultsFormatError, match=r"invocations.jsonl:3: not valid JSON"):
        load_run(run)


def test_a_record_without_its_cell_is_rejected(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(MINIMAL, run)
    lines = (run / "invocations.jsonl").read_text().split("\n")
    record = json.loads(lines[0])
    del record["runtime"]
    lines[0] = json.dumps(record)
    (run / "invocations.jsonl").write_text("\n".join(lines))
    with pytest.raises(ResultsFormatError, match=r"record 1: missing keys \['runtime'\]"):
        load_run(run)


def test_summary_table_for_the_terminal(synthetic_run: Path) -> None:
    summary = cell_summary(load_run(synthetic_run).invocations)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(format_summary_table(summary))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert text.count("x86_64") == 12
    first = summary.iloc[0]
    assert f"{first['init_p50']:,.0f}" in text
    assert f"{first['n_cold']}/{first['n_warm']}" in text


def test_requirements_cells_show_the_versions_installed(tmp_path: Path) -> None:
    import json

    run = write_run(tmp_path, _small())
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    cell_id = sorted(manifest["cells"])[0]
    manifest["cells"][cell_id]["package_kind"] = "requirements"
    manifest["cells"][cell_id]["artifact"].update(
        built_for="cp312 manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux2014_x86_64",
        requirements_resolved={"numpy": {"version": "2.4.6", "wheel": "cp312-cp312-x"}},
    )
    path.write_text(json.dumps(manifest))
    html = render_run(run, tmp_path / "reports").read_text(encoding="utf-8")
    assert "<h2>Requirements installed</h2>" in html
    assert f'<td class="l">{cell_id}</td>' in html and '<td class="l">numpy 2.4.6</td>' in html


def test_milliseconds_drop_their_decimals_from_a_second_up() -> None:
    from bench.report.html import ms

    assert [ms(173.34), ms(999.94), ms(1532.44), ms(12345.6), ms(1.754, 2), ms(float("nan"))] == [
        "173.3", "999.9", "1,532", "12,346", "1.75", "–",
    ]  # fmt: skip
