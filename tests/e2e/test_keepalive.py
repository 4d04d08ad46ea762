"""experiment: keepalive on the local target, with its eviction policy: the fixed idle
timeout gives P(warm) 1 below it and 0 above, the halving model's survival is measured
inside its binomial interval, gaps run at the same time, and an interrupted run resumes."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from scipy.stats import binom

pytestmark = pytest.mark.e2e


def _matrix(path: Path, *, gaps: list[float], n: int, reps: int, eviction: str) -> Path:
    path.write_text(
        "name: keep\n"
        f"target: {{kind: local, eviction: {eviction}}}\n"
        "runtimes: [python3.12]\nmemory_mb: [128]\npackage: {size_mb: [0]}\n"
        f"experiment: keepalive\nidle_s: {gaps}\nenvironments: {n}\nrepetitions: {reps}\n"
    )
    return path


def _console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None)


def _run(matrix: Path, tmp: Path, **options: Any) -> Any:
    from bench.run import RunOptions, run_matrix

    opts = RunOptions(matrix_path=matrix, results_root=tmp / "results",
                      reports_root=tmp / "reports", **options)  # fmt: skip
    return run_matrix(opts, console=_console())


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]


def _warming_bursts(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Per probe, one record of its warming burst per distinct environment (sandbox id)."""
    bursts: dict[tuple[float, int], list[dict[str, Any]]] = {}
    for r in records:
        if r["probe_burst"] == 1:
            bursts.setdefault((r["idle_s"], r["round"]), []).append(r)
    return [list({r["sandbox_id"]: r for r in b}.values()) for b in bursts.values()]


def _survival(run_dir: Path) -> dict[float, Any]:
    from bench.experiments.survival import survival
    from bench.results import load_run

    return {r.idle_s: r for r in survival(load_run(run_dir).invocations)}


def test_fixed_idle_timeout_warm_below_cold_above(tmp_path: Path) -> None:
    matrix = _matrix(tmp_path / "k.yaml", gaps=[1, 5], n=4, reps=3,
                     eviction="{idle_timeout_s: 3}")  # fmt: skip
    outcome = _run(matrix, tmp_path)
    assert outcome.status == "complete"
    records = _records(outcome.run_dir)
    assert len(records) == 2 * 3 * 2 * 4
    assert {(r["idle_s"], r["probe_burst"]) for r in records} == {
        (1, 1), (1, 2), (5, 1), (5, 2)}
    # every probe's warming burst started four distinct environments (fresh ones: all cold)
    for burst in _warming_bursts(records):
        assert len(burst) == 4 and all(r["init_duration_ms"] for r in burst)
    found = _survival(outcome.run_dir)
    one, five = found[1], found[5]
    print(f"gap 1: {one.warm}/{one.trials} warm, {one.unobserved} unobserved; "
          f"gap 5: {five.warm}/{five.trials}, {five.unobserved} unobserved")
    # 12 environments warmed per gap; at 1 s every one the second burst reached was warm
    # (one it did not reach, because an answer came back first, is unobserved, not a trial)
    assert one.trials + one.unobserved == 12 and one.unobserved < one.trials
    assert (one.warm, one.p_warm) == (one.trials, 1.0)
    assert (five.warm, five.trials, five.p_warm) == (0, 12, 0.0)  # every one started again
    low, high = found[5].ci
    assert low == 0.0 and 0.2 < high < 0.3  # exact interval of 0 in 12
    html = outcome.report_path.read_text()
    assert "P(still warm)" in html and "SeBS, Jan 2020" in html


def test_halving_model_survival_inside_the_binomial_interval(tmp_path: Path) -> None:
    from bench.emulator.eviction import EvictionPolicy

    # warm_s 3: an environment idles the gap plus up to its warming burst's spread of
    # answers (cold starts, under a second here), still inside warm_s at the 1 s gap
    model = EvictionPolicy(halving_warm_s=3, halving_half_life_s=2)
    matrix = _matrix(tmp_path / "k.yaml", gaps=[1, 5, 7], n=4, reps=3,
                     eviction="{halving: {warm_s: 3, half_life_s: 2}, seed: 1}")  # fmt: skip
    outcome = _run(matrix, tmp_path)
    assert outcome.status == "complete"
    found = _survival(outcome.run_dir)
    assert sorted(found) == [1, 5, 7]
    for gap, result in found.items():
        p = model.survival(gap)
        low, high = binom.interval(0.95, result.trials, p)
        print(f"gap {gap}: {result.warm}/{result.trials} warm ({result.unobserved} unobserved), "
              f"model {p:.3f} -> [{low}, {high}]")
        assert result.trials + result.unobserved == 12
        assert low <= result.warm <= high


def test_gaps_run_at_the_same_time(tmp_path: Path) -> None:
    gaps, reps = [2, 4, 6], 3
    matrix = _matrix(tmp_path / "k.yaml", gaps=gaps, n=2, reps=reps, eviction="{}")
    start = time.monotonic()
    outcome = _run(matrix, tmp_path)
    wall = time.monotonic() - start
    assert outcome.status == "complete"
    serial = sum(gaps) * reps  # the idle time alone, were the gaps run one after another
    records = _records(outcome.run_dir)
    first = min(r["client_send_ns"] for r in records) / 1e9
    last = max(r["client_send_ns"] / 1e9 + r["client_latency_ms"] / 1e3 for r in records)
    probing = last - first
    print(f"probing {probing:.1f} s, whole run {wall:.1f} s (deploy, collect, report and "
          f"teardown included); the gaps in series: {serial} s of idle time alone")
    # In parallel the probes take the longest gap times R (half the series here) plus the
    # bursts, which share this host's CPUs; in series they would take the whole sum.
    assert max(gaps) * reps <= probing < 0.7 * serial
    assert wall < serial  # fixed costs included, still under the series' idle time
    starts = [min(r["client_send_ns"] for r in records if r["idle_s"] == g) / 1e9 for g in gaps]
    assert max(starts) - first < 2.0  # every gap began at once, not after the previous one


def _probe_records(workdir: Path) -> list[dict[str, Any]]:
    files = list((workdir / "results").glob("*/invocations.jsonl"))
    if not files:
        return []
    return [json.loads(x) for x in files[0].read_text().splitlines() if x.endswith("}")]


def test_killed_between_probes_resumes_with_every_probe_once(
    tmp_path: Path, emulator: Any, emu: Any
) -> None:
    """SIGKILL of `bench run` once a probe is complete (its function and log group stay,
    as after a crash); --resume keeps the complete probes and runs the rest."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    body = ("name: keepres\nruntimes: [python3.12]\nmemory_mb: [128]\npackage: {size_mb: [0]}\n"
            "experiment: keepalive\nidle_s: [1, 2]\nenvironments: 2\nrepetitions: 3\n")
    (workdir / "k.yaml").write_text(emu.matrix(emulator, stage="keepres", body=body))
    env = emu.env(emulator)
    bench = [sys.executable, "-c", "from bench.cli import app; app()"]
    proc = subprocess.Popen([*bench, "run", "k.yaml"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while sum(r["probe_burst"] == 2 for r in _probe_records(workdir)) < 2:
            assert time.monotonic() < deadline, "no complete probe within 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    (run_dir,) = list((workdir / "results").iterdir())
    before = _records(run_dir)
    assert 4 <= len(before) < 2 * 3 * 2 * 2

    resumed = subprocess.run([*bench, "run", "--resume", run_dir.name], cwd=workdir, env=env,
                             capture_output=True, timeout=300, check=False)  # fmt: skip
    assert resumed.returncode == 0, (resumed.stdout.decode()[-2000:], resumed.stderr.decode())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    records = _records(run_dir)
    probes: dict[tuple[str, int, int], int] = {}
    for r in records:
        key = (r["cell"], r["round"], r["probe_burst"])
        probes[key] = probes.get(key, 0) + 1
    assert len(probes) == 2 * 3 * 2 and set(probes.values()) == {2}  # every probe once
    assert len(records) == 2 * 3 * 2 * 2
    # the probe complete before the kill was kept, not measured again
    from bench.experiments.keepalive import complete_probes

    done = complete_probes(before, 2)
    assert done
    kept = {r["request_id"] for r in before if (r["cell"], r["round"]) in done}
    assert kept <= {r["request_id"] for r in records}
    assert all("cloudwatch" in r["report_sources"] for r in records)


def test_survival_chart_opens_offline_with_its_references(tmp_path: Path) -> None:
    from bench.experiments.published import REFERENCES
    from tests.test_report_chromium import _render_in_chromium

    matrix = _matrix(tmp_path / "k.yaml", gaps=[0.5], n=1, reps=1, eviction="{}")
    outcome = _run(matrix, tmp_path)
    assert outcome.status == "complete"
    html = outcome.report_path.read_text()
    assert "How long warm stays warm" in html and "<svg" in html
    for ref in REFERENCES:
        assert ref.label in html  # named beside the chart too
    png, requested = _render_in_chromium(outcome.report_path, tmp_path / "browser")
    assert png.exists() and png.stat().st_size > 50_000
    assert requested == []  # nothing fetched: it opens offline
