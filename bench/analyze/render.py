"""What `bench analyze` prints: one table of the functions' production figures, then the
call-outs with the number behind each, then what was read and where it was stored.
Pure: returns renderables; the CLI prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.analyze import AnalyzeOutcome


def _num(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _init(entry: dict[str, Any], key: str) -> str:
    figure = entry["init_duration_ms"][key]
    low, high = figure["ci"]
    ci = f" [{_num(low)}–{_num(high)}]" if low is not None and high is not None else ""
    return _num(figure["ms"]) + ci


def format_analysis(outcome: AnalyzeOutcome) -> list[Any]:
    from rich.table import Table

    from bench.cost import usd

    table = Table(
        title=f"Production cold starts, {outcome.window['start']} .. {outcome.window['end']} "
        f"({outcome.reader})",
        title_justify="left",
        caption="Init Duration in ms with the 95% CI of each percentile; memory: peak Max "
        "Memory Used / Memory Size; env/min: distinct environments seen in a minute (peak).",
        caption_justify="left",
    )
    longest = max((len(name) for name in outcome.functions), default=8)
    table.add_column("function", overflow="fold", min_width=min(40, longest))
    for name in ("calls", "cold", "rate", "init p50", "init p90", "init p99", "cold dur\np50",
                 "warm dur\np50", "memory", "init $", "invoke $", "errors", "timeouts",
                 "env/min"):  # fmt: skip
        table.add_column(name, justify="right", no_wrap=True)
    notes: list[str] = []
    for name, entry in sorted(outcome.functions.items()):
        s = entry.get("summary")
        if not s:
            continue
        memory = s["memory"]
        table.add_row(
            name, str(s["invocations"]), str(s["start_types"]["cold"]),
            _pct(s["cold_start_rate"]), _init(s, "p50"), _init(s, "p90"), _init(s, "p99"),
            _num(s["cold_duration_ms_p50"], 1), _num(s["warm_duration_ms_p50"], 2),
            f"{_num(memory['peak_used_mb'])}/{memory['size_mb']} MB",
            usd(s["cost_usd"]["init"] or 0.0), usd(s["cost_usd"]["invoke"] or 0.0),
            str(s["errors"]), str(s["timeouts"]), str(s["environments_per_minute"]["peak"]),
        )  # fmt: skip
        notes += [f"{name}: {callout}" for callout in s["callouts"]]
        lines = entry.get("lines", {})
        if lines.get("malformed"):
            notes.append(f"{name}: {lines['malformed']} malformed line(s) counted and left out "
                         "(events.jsonl, report-lines.log)")  # fmt: skip
        hours = [f"{h:02d}h {_pct(r)}" for h, r in enumerate(s["cold_start_rate_by_hour"])
                 if r is not None]  # fmt: skip
        if hours:
            notes.append(f"{name}: cold-start rate by hour (UTC): {', '.join(hours)}")
    shown = [table, *notes, *outcome.notes, f"status: {outcome.status}",
             f"results: {outcome.run_dir}"]  # fmt: skip
    if outcome.report_path is not None:
        shown.append(f"report: {outcome.report_path}")
    return shown
