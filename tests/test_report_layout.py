"""The run report as a 1280x900 browser window shows it (headless Chromium): every
per-cell column header inside the window's width, and no chart legend on the data.

The page is measured by a script added to a copy of the report (the report itself holds
none): it writes the measurements into the DOM, which Chromium's --dump-dom prints.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bench.report import render_run
from tests.synthetic import SyntheticRun, write_run
from tests.test_report_chromium import _chromium, _dead_port

MEASURE = """
<script>
(function () {
  function box(el) { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            width: r.width, height: r.height}; }
  function overlap(a, b) { return a.left < b.right && b.left < a.right &&
                                  a.top < b.bottom && b.top < a.bottom; }
  const out = {viewport: document.documentElement.clientWidth, headers: [], charts: []};
  for (const th of document.querySelectorAll("table.cells tr:first-child th")) {
    out.headers.push(Object.assign({text: th.textContent.trim(), title: th.title}, box(th)));
  }
  document.querySelectorAll("div.chart svg").forEach(function (svg, i) {
    const chart = {index: i, width: box(svg).width, legends: 0, bars: 0, overlaps: []};
    const axes = Array.from(svg.querySelectorAll("g[id^='axes_']"));
    const legends = Array.from(svg.querySelectorAll("g[id^='legend_']"));
    chart.legends = legends.length;
    for (const ax of axes) {
      const kids = Array.from(ax.children);
      const background = kids.find(k => k.id.startsWith("patch_"));
      const drawn = /^(patch_|line2d_|LineCollection|PathCollection)/i;
      const data = kids.filter(k => k !== background && drawn.test(k.id));
      chart.bars += data.filter(k => k.id.startsWith("patch_")).length;
      for (const legend of legends) {
        const lb = box(legend);
        const on = (what) => chart.overlaps.push(legend.id + " on " + what);
        if (background && overlap(lb, box(background))) on("axes " + ax.id);
        for (const d of data) if (overlap(lb, box(d))) on(d.id);
      }
    }
    out.charts.push(chart);
  });
  const pre = document.createElement("pre"); pre.id = "measured";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>
"""


def _measure(page: Path, tmp: Path) -> dict:
    measured = tmp / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        f"--user-data-dir={tmp / 'profile'}", "--window-size=1280,900", "--hide-scrollbars",
        f"--proxy-server=127.0.0.1:{_dead_port()}", "--proxy-bypass-list=<-loopback>",
        "--dump-dom", measured.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"no measurements in the dumped DOM: {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">").replace("&quot;", '"'))  # fmt: skip


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("layout")
    # 12 cells with long ids and flagged rows: the widest the table gets in a usual run.
    run = write_run(tmp / "results", SyntheticRun(seed=9, cold=8, warm=4))
    return _measure(render_run(run, tmp / "reports"), tmp)


def test_every_per_cell_header_is_inside_a_1280_px_window(measured: dict) -> None:
    headers = measured["headers"]
    assert [h["text"] for h in headers][-1] == "flag"
    assert len(headers) >= 18, [h["text"] for h in headers]
    width = measured["viewport"]
    assert width <= 1280
    outside = [(h["text"], round(h["right"])) for h in headers
               if h["left"] < 0 or h["right"] > width or h["width"] <= 0]  # fmt: skip
    assert outside == [], f"headers beyond the {width} px window: {outside}"


def test_every_per_cell_column_is_explained(measured: dict) -> None:
    unexplained = [h["text"] for h in measured["headers"] if len(h["title"]) < 20]
    assert unexplained == []


def test_no_legend_sits_on_the_data(measured: dict) -> None:
    charts = measured["charts"]
    assert len(charts) >= 4
    assert sum(c["legends"] for c in charts) >= 3  # the check looked at real legends
    assert any(c["bars"] > 0 for c in charts)  # ... and at real bars
    assert [o for c in charts for o in c["overlaps"]] == []


def test_charts_use_the_page_width(measured: dict) -> None:
    for chart in measured["charts"]:
        assert chart["width"] >= 0.9 * (measured["viewport"] - 40), chart
