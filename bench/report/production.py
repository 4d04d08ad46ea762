"""The production section of a run's page: the per-function figures `bench analyze` stored.

`bench analyze` computes them once (bench/analyze/summary.py) into the manifest's
`production.functions.<name>.summary`; this module only formats what is there and draws
the cold-start rate by hour, so the page and the terminal can never disagree.
"""

from __future__ import annotations

from typing import Any

from bench.report.charts import COLORS, _empty, _figure, _style, _svg
from bench.report.html import DASH, number, svg

PERCENTILES = ("p50", "p90", "p99")


def _pct(value: Any) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def _usd(value: Any) -> str:
    from bench.cost import usd

    return DASH if value is None else usd(value)


def _init_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name in PERCENTILES:
        figure = summary["init_duration_ms"][name]
        low, high = figure["ci"]
        if figure["ms"] is None:
            ci = DASH
        elif low is None or high is None:
            ci = "too few cold starts for one"
        else:
            ci = f"{number(low)} – {number(high)}"
        rows.append({"name": name, "ms": number(figure["ms"]), "ci": ci})
    return rows


def _memory(memory: dict[str, Any]) -> dict[str, str]:
    peak, size, share = memory["peak_used_mb"], memory["size_mb"], memory["peak_over_size"]
    return {
        "size": f"{size:,} MB",
        "peak": DASH if peak is None else f"{peak:,} MB",
        "p50": DASH if memory["p50_used_mb"] is None else f"{memory['p50_used_mb']:,} MB",
        "share": _pct(share),
        "headroom": DASH if peak is None else f"{size - peak:,} MB",
    }


def _cost(cost: dict[str, Any]) -> dict[str, str]:
    init, invoke = cost["init"] or 0.0, cost["invoke"] or 0.0
    total = init + invoke
    return {
        "init": _usd(cost["init"]),
        "invoke": _usd(cost["invoke"]),
        "total": _usd(total),
        "init_share": _pct(init / total) if total else DASH,
    }


def _hours(rates: list[float | None], calls: list[int]) -> list[str]:
    """The chart's bars in words: hour, rate, invocations (the hours with any)."""
    return [f"{h:02d}h {_pct(rate)} of {calls[h]:,}" for h, rate in enumerate(rates)
            if rate is not None]  # fmt: skip


def function_view(name: str, entry: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    """One function's figures as the page shows them."""
    summary = entry.get("summary") or {}
    lines = entry.get("lines") or {}
    view: dict[str, Any] = {
        "name": name,
        "log_group": entry.get("log_group") or DASH,
        "log_format": entry.get("log_format") or DASH,
        "status": cell.get("status") or DASH,
        "error": cell.get("error") or f"the cell is {cell.get('status') or 'not recorded'}",
        "malformed": lines.get("malformed", 0),
        "reports": lines.get("reports", 0),
        "invocations": summary.get("invocations", 0),
        "callouts": list(summary.get("callouts") or []),
    }
    if not view["invocations"]:
        return view
    env = summary["environments_per_minute"]
    view.update(
        start_types=list(summary["start_types"].items()),
        cold=summary["start_types"].get("cold", 0),
        rate=_pct(summary["cold_start_rate"]),
        init_n=summary["init_duration_ms"]["n"],
        init=_init_rows(summary),
        cold_duration_p50=number(summary["cold_duration_ms_p50"]),
        warm_duration_p50=number(summary["warm_duration_ms_p50"], 2),
        warm_duration_p99=number(summary["warm_duration_ms_p99"], 2),
        memory=_memory(summary["memory"]),
        cost=_cost(summary["cost_usd"]),
        errors=summary["errors"],
        timeouts=summary["timeouts"],
        environments=summary["environments"],
        env_peak=env["peak"],
        env_p50=env["p50"],
        minutes_active=env["minutes_active"],
        hours=_hours(summary["cold_start_rate_by_hour"], summary["invocations_by_hour"]),
        chart=svg(cold_rate_by_hour(
            summary["cold_start_rate_by_hour"], summary["invocations_by_hour"],
            summary["cold_start_rate"],
        )),
    )  # fmt: skip
    return view


def production_section(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The section's context, or None for a run that is not a `bench analyze` run."""
    production = manifest.get("production")
    if not isinstance(production, dict):
        return None
    cells = manifest.get("cells") or {}
    functions = production.get("functions") or {}
    window = production.get("window") or {}
    return {
        "window_start": window.get("start", DASH),
        "window_end": window.get("end", DASH),
        "reader": production.get("reader", DASH),
        "functions": [
            function_view(name, entry, cells.get(name) or {})
            for name, entry in sorted(functions.items())
        ],
    }


def _compact(count: int) -> str:
    """A bar's label in the width of a bar: 950, 9.5k, 95k, 9.5M."""
    for limit, unit in ((1_000_000, "M"), (1_000, "k")):
        if count >= limit:
            value = count / limit
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(count)


def cold_rate_by_hour(rates: list[float | None], calls: list[int], overall: float | None) -> str:
    """Cold-start rate per hour of day (UTC), a bar for each hour with invocations, the
    number of invocations above it; the dashed line is the rate over the whole window."""
    hours = [h for h, rate in enumerate(rates) if rate is not None]
    if not hours:
        return _empty("No invocation in the window.")
    with _style():
        fig = _figure(7, 2.3)
        ax = fig.add_subplot()
        values = [100 * (rates[h] or 0.0) for h in hours]
        bars = ax.bar(hours, values, width=0.8, color=COLORS[0])
        ax.bar_label(bars, [_compact(calls[h]) for h in hours], fontsize=6, padding=1)
        if overall is not None:
            ax.axhline(100 * overall, color=COLORS[1], linestyle="--", lw=1,
                       label=f"whole window {100 * overall:.1f}%")  # fmt: skip
            ax.legend(fontsize=7, loc="best")
        ax.set_xlim(-0.6, 23.6)
        ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=7)
        ax.set_xlabel("Hour of day (UTC); above each bar: its invocations (k = 1,000)")
        ax.set_ylabel("Cold starts (%)")
        ax.set_ylim(0, max(values) * 1.25 or 1.0)
        ax.grid(axis="x", visible=False)
        return _svg(fig)
