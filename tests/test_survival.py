"""P(still warm) per gap from keep-alive records, its exact binomial interval, and the
survival chart's reference curves with their sources."""

import re

import pandas as pd
import pytest

from bench.experiments.published import REFERENCES
from bench.experiments.report import survival_figure
from bench.experiments.survival import survival

NAN = float("nan")


def _probe(cell: str, gap: float, rep: int, first: list[str], second: list[tuple[str, float]]):
    rows = [dict(cell=cell, phase="probe", round=rep, idle_s=gap, probe_burst=1.0,
                 status="success", sandbox_id=s, init_duration_ms=90.0) for s in first]
    rows += [dict(cell=cell, phase="probe", round=rep, idle_s=gap, probe_burst=2.0,
                  status="success", sandbox_id=s, init_duration_ms=init) for s, init in second]
    return rows


def _frame() -> pd.DataFrame:
    rows = []
    for rep in (1, 2, 3):
        ids = [f"a{rep}{i}" for i in range(4)]
        rows += _probe("py-idle1s", 1, rep, ids, [(s, NAN) for s in ids])  # all reused
        rows += _probe("py-idle5s", 5, rep, ids, [(f"n{rep}{i}", 95.0) for i in range(4)])
    ids = ["m1", "m2", "m3", "m4"]
    # two reused; one new; one with the same id but an Init Duration is not warm
    rows += _probe("py-idle3s", 3, 1, ids, [("m1", NAN), ("m2", NAN), ("x", 80.0), ("m3", 70.0)])
    rows.append(dict(cell="py", phase="cold", round=1, idle_s=NAN, probe_burst=NAN,
                     status="success", sandbox_id="c", init_duration_ms=90.0))
    return pd.DataFrame(rows)


def test_survival_per_gap_with_exact_interval():
    found = {r.idle_s: r for r in survival(_frame())}
    assert sorted(found) == [1, 3, 5]
    assert {r.cell for r in found.values()} == {"py"}
    one, three, five = found[1], found[3], found[5]
    assert (one.probes, one.trials, one.warm, one.p_warm) == (3, 12, 12, 1.0)
    assert (three.trials, three.warm, three.p_warm) == (4, 2, 0.5)
    assert (five.warm, five.p_warm) == (0, 0.0)
    # Clopper-Pearson: 0 of 12 -> [0, 1 - 0.025^(1/12)]; 12 of 12 mirrors it
    assert five.ci == pytest.approx((0.0, 1 - 0.025 ** (1 / 12)))
    assert one.ci == pytest.approx((0.025 ** (1 / 12), 1.0))


def test_environments_are_the_trials_not_requests():
    ids = ["e1", "e2", "e3", "e4"]
    # an answer came back before the last request arrived: e1 served two, e4 was not reached
    # and nothing started, so what became of e4 is not known
    reused = _probe("py-idle1s", 1, 1, ids, [("e1", NAN), ("e2", NAN), ("e3", NAN), ("e1", NAN)])
    # two survived; e1 served a third request too, two environments started: e3 and e4 gone
    evicted = _probe("py-idle4s", 4, 1, ids, [("e1", NAN), ("e2", NAN), ("e1", NAN),
                                              ("n1", 90.0)])  # fmt: skip
    # a warming burst served by three environments: three trials, not four
    short = _probe("py-idle2s", 2, 1, ["e1", "e2", "e3", "e1"],
                   [("e1", NAN), ("e2", NAN), ("e3", NAN), ("s", NAN)])  # fmt: skip
    found = {r.idle_s: r for r in survival(pd.DataFrame(reused + evicted + short))}
    assert (found[1].trials, found[1].warm, found[1].unobserved) == (3, 3, 1)
    assert (found[4].trials, found[4].warm, found[4].unobserved) == (4, 2, 0)
    assert (found[2].trials, found[2].warm, found[2].unobserved, found[2].p_warm) == (3, 3, 0, 1)


def test_a_run_without_probes_has_no_survival():
    assert survival(_frame()[lambda f: f["phase"] == "cold"]) == []
    assert survival(pd.DataFrame()) == []


def test_chart_legend_names_every_reference_with_source_and_year():
    figure = survival_figure(survival(_frame()))
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    for ref in REFERENCES:
        assert f"reference: {ref.label}" in labels
        assert re.search(r"\b(19|20)\d\d\b", ref.label), ref.label  # the year is on the chart
    assert "this run: py" in labels
    assert len(REFERENCES) >= 4  # 2017, 2019, the 2020 article series, SeBS 2020
