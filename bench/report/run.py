"""The per-run report: one self-contained HTML file built from a results directory."""

from __future__ import annotations

import base64
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import charts, glossary
from bench.report.disclosure import local_disclosure
from bench.report.html import ms, number, render, svg
from bench.report.load import LoadedRun, load_run, matrix_name
from bench.report.production import production_section
from bench.report.regions import region_comparison
from bench.results.schema import START_TYPES, STATUSES

if TYPE_CHECKING:
    from collections.abc import Collection

    import pandas as pd
    from rich.console import RenderableType
    from rich.table import Table

STATUS_BANNERS = {
    "partial": "PARTIAL RUN: it did not finish every cell; the numbers cover only what ran.",
    "aborted": "ABORTED RUN: it was stopped early; the numbers cover only what ran.",
}
RUNNING_BANNER = (
    "RUN STILL RUNNING (or it crashed): read as partial; the numbers cover only what ran."
)
CI_METHOD = (
    "95% CI of the median: distribution-free, from order statistics (binomial, scipy.stats.binom);"
    " needs at least 6 cold starts."
)


def _runtimes_ran_on(local: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(runtime, what ran it, substituted) per runtime; older manifests name only the
    substitutions."""
    subs = local.get("runtime_substitutions") or {}
    rows = {runtime: (text, True) for runtime, text in subs.items()}
    for runtime, ran in (local.get("runtimes") or {}).items():
        if runtime not in rows and ran.get("real"):
            rows[runtime] = (f"{ran.get('runs_on')} ({ran.get('source')})", False)
    return [(runtime, text, substituted) for runtime, (text, substituted) in sorted(rows.items())]


def _isolation_fact(isolation: Any) -> str:
    """How the sandboxes were isolated; runs older than isolation did not record it."""
    if not isinstance(isolation, dict):
        return "not recorded"
    if isolation.get("isolated"):
        return f"on (bubblewrap namespaces, {isolation.get('mode')})"
    return f"OFF: {isolation.get('reason')}"


def _target_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    target = manifest["target"]
    local = target.get("local") or {}
    facts: dict[str, Any] = {"kind": target["kind"], "region": target.get("region") or "–"}
    if target["kind"] == "local":
        limits = local.get("cpu_limits")
        facts["cpu_limits"] = (
            "on (cgroups)" if limits is True
            else "OFF (unthrottled)" if limits is False
            else "not recorded"
        )  # fmt: skip
        facts["cgroup_version"] = local.get("cgroup_version")
        facts["isolation"] = _isolation_fact(local.get("isolation"))
        facts["host"] = f"{local.get('host_cpus', '?')} CPUs, {local.get('host_cpu_model', '?')}"
        facts["runtimes"] = _runtimes_ran_on(local)
        over = local.get("oversubscription") or {}
        facts["oversubscription"] = (
            f"{over.get('events', 0)} events, peak CPU share {over.get('max_cpu_share', '?')}"
            if over.get("events")
            else "none recorded"
        )
        admission = local.get("admission")
        facts["admission"] = (
            f"{admission.get('sandbox_capacity_vcpus')} CPUs for sandboxes "
            f"({admission.get('host_reserve_vcpus')} kept for the endpoint and driver); "
            f"{admission.get('admitted_after_wait', 0)} of {admission.get('admitted', 0)} "
            "inits and invocations waited for capacity"
            if isinstance(admission, dict)
            else "not recorded"
        )
    return facts


def _completeness(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    sources = manifest.get("completeness") or {}
    rows = []
    for source in sorted(k for k, v in sources.items() if isinstance(v, dict)):
        expected, matched = sources[source].get("expected"), sources[source].get("matched")
        share = f"{100 * matched / expected:.1f}%" if expected else "–"
        rows.append({"source": source, "expected": expected, "matched": matched, "share": share})
    return rows


def _failed_cells(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    cells = manifest.get("cells") or {}
    return [
        {"cell": cell_id, "status": info.get("status"), "error": info.get("error") or ""}
        for cell_id, info in sorted(cells.items())
        if info.get("status") != "complete"
    ]


def _requirements(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """What each requirements cell's package really installed, as its manifest records."""
    rows = []
    for cell_id, info in sorted((manifest.get("cells") or {}).items()):
        artifact = info.get("artifact") or {}
        if info.get("package_kind") != "requirements":
            continue
        rows.append({
            "cell": cell_id,
            "built_for": artifact.get("built_for") or "–",
            "installed": ", ".join(
                f"{name} {found.get('version', '?')}"
                for name, found in sorted((artifact.get("requirements_resolved") or {}).items())
            ) or "not recorded",
        })  # fmt: skip
    return rows


def _table_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for row in summary.to_dict("records"):
        # No break before the dash: a narrow column wraps the interval after its dash.
        ci = f"{ms(row['init_p50_ci_low'])}\u00a0– {ms(row['init_p50_ci_high'])}"
        rows.append({**{str(k): v for k, v in row.items()},
                     "ci": "–" if math.isnan(row["init_p50_ci_low"]) else ci})  # fmt: skip
    return rows


def _csv_uri(summary: pd.DataFrame) -> str:
    text = summary.to_csv(index=False, lineterminator="\n", float_format="%.3f")
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode("ascii")


def page_context(loaded: LoadedRun, summary: pd.DataFrame) -> dict[str, Any]:
    from bench.experiments.report import experiment_context

    manifest, inv = loaded.manifest, loaded.invocations
    running = manifest["status"] == "running"
    banner = RUNNING_BANNER if running else STATUS_BANNERS.get(loaded.status)
    starts = Counter(inv["start_type"].astype(str)) if len(inv) else Counter()
    statuses = Counter(inv["status"].astype(str)) if len(inv) else Counter()
    events = Counter(str(e.get("kind", "?")) for e in loaded.events)
    production = production_section(manifest)
    return {
        "run_id": loaded.run_id,
        "matrix_name": matrix_name(loaded.manifest),
        "status": manifest["status"],
        "banner": banner,
        "local_note": local_disclosure(manifest, len(inv)),
        "per_cell_columns": glossary.PER_CELL,
        "facts": glossary.FACTS,
        "started": manifest.get("started"),
        "finished": manifest.get("finished") or "–",
        "tool_version": (manifest.get("tool") or {}).get("version", "?"),
        "target": _target_facts(manifest),
        "records": len(inv),
        "start_types": [(k, starts.get(k, 0)) for k in START_TYPES],
        "statuses": [(k, statuses.get(k, 0)) for k in STATUSES],
        "events": sorted(events.items()),
        "completeness": _completeness(manifest),
        "disagreements": (manifest.get("completeness") or {}).get("disagreements", "–"),
        "failed_cells": _failed_cells(manifest),
        "requirements": _requirements(manifest),
        "skipped_lines": loaded.skipped_lines,
        "dropped": loaded.dropped,
        "cost": manifest.get("cost") or {},
        "rows": _table_rows(summary),
        "regions": region_comparison(manifest, summary),
        "unstable": int(summary["unstable"].sum()) if len(summary) else 0,
        "contended": int(summary["contended"].sum()) if len(summary) else 0,
        "ci_method": CI_METHOD,
        "csv_uri": _csv_uri(summary),
        "csv_name": f"{loaded.run_id}-cells.csv",
        "production": production,
        # A production run has no matrix to chart and no client latency: its own section.
        "charts": {} if production else {
            "by_memory": svg(charts.init_by_memory(summary)),
            "by_package": svg(charts.init_by_package(summary)),
            "ecdf": svg(charts.latency_ecdf(inv)),
            "breakdown": svg(charts.latency_breakdown(summary)),
        },
        "experiment": experiment_context(manifest, inv),
    }


def render_run(
    run_dir: Path, reports_dir: Path, *, lenient: bool = False, cold_share: float | None = None
) -> Path:
    """Write reports/<run_id>.html for one results directory; returns its path.
    `cold_share`: the mix the memory recommendation is made for (bench.split)."""
    from bench.report.own import own_sections
    from bench.stats import cell_summary

    loaded = load_run(Path(run_dir), lenient=lenient)
    summary = cell_summary(loaded.invocations)
    context = page_context(loaded, summary)
    context["own"] = own_sections(loaded, cold_share)
    html = render("run.html.j2", **context)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"{loaded.run_id}.html"
    path.write_text(html, encoding="utf-8")
    return path


def summary_table(run_dir: Path) -> RenderableType:
    """The per-cell summary of a run directory for the terminal: first what the local
    target could not do (the report banner's words), then the table, fitted to the width
    it is printed at."""
    from bench.report.terminal import summary_with_disclosure
    from bench.results import load_run as read_run
    from bench.stats import cell_summary

    loaded = read_run(Path(run_dir))
    summary = cell_summary(loaded.invocations)
    return summary_with_disclosure(
        local_disclosure(dict(loaded.manifest), len(loaded.invocations)),
        lambda drop: format_summary_table(summary, drop=drop),
    )


# The terminal table's columns after cell and flags, in the order they are dropped
# when the terminal is too narrow for all of them (least needed first).
SUMMARY_COLUMNS = {
    "cold/warm": "cold/\nwarm", "init p50": "init\np50", "95% CI": "95% CI",
    "init p99": "init\np99", "cold lat p50": "cold lat\np50", "warm p50": "warm\np50",
    "max MB": "max\nMB", "$/M": "$/M",
}  # fmt: skip
DROP_ORDER = ("$/M", "max MB", "warm p50", "init p99", "95% CI", "cold lat p50")


def format_summary_table(summary: pd.DataFrame, drop: Collection[str] = ()) -> Table:
    """Per-cell summary for the terminal (the driver prints it at the end of `bench run`);
    `drop` leaves out columns by their SUMMARY_COLUMNS name."""
    from rich.table import Table

    table = Table(title="Cold starts per cell (ms)", title_justify="left", padding=(0, 1))
    # Numbers never wrap; on a narrow terminal the cell id and the flags fold instead.
    table.add_column("cell", overflow="fold", min_width=14)
    table.add_column("flags", overflow="fold", min_width=14)  # before numbers: never cut
    shown = [name for name in SUMMARY_COLUMNS if name not in drop]
    for name in shown:
        table.add_column(SUMMARY_COLUMNS[name], justify="right", no_wrap=True)
    for row in summary.to_dict("records"):
        ci = (f"{number(row['init_p50_ci_low'], 0)}–{number(row['init_p50_ci_high'], 0)}"
              if not math.isnan(row["init_p50_ci_low"]) else "–")  # fmt: skip
        values = {
            "cold/warm": f"{row['n_cold']}/{row['n_warm']}",
            "init p50": number(row["init_p50"], 0), "95% CI": ci,
            "init p99": number(row["init_p99"], 0),
            "cold lat p50": number(row["cold_latency_p50"], 0),
            "warm p50": number(row["warm_duration_p50"], 2),
            "max MB": number(row["max_memory_used_mb"], 0),
            "$/M": number(row["cost_per_million_usd"], 2),
        }  # fmt: skip
        table.add_row(str(row["cell"]), _flags(row), *(values[name] for name in shown))
    return table


def _flags(row: dict[str, Any]) -> str:
    """Why a cell's numbers need care: unstable, contended, or both."""
    return "; ".join(x for x in (row["unstable_reason"], row.get("quality_reason")) if x)
