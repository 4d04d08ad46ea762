"""The keep-alive and warm-up sections of a run's report: their tables and the survival
chart with the published measurements as reference curves (bench.experiments.published)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from bench.experiments.survival import GapResult



def survival_chart(results: list[GapResult]) -> str:
    """The survival figure as the report's inline SVG."""
    from bench.report.charts import _style, _svg

    with _style():
        return _svg(survival_figure(results))


def survival_figure(results: list[GapResult]) -> Figure:
    """P(still warm) per gap with its 95% interval, one series per cell, over the published
    curves, each labelled with its source and year (log idle-time axis: seconds on the
    local target, minutes on AWS)."""
    from bench.experiments.published import REFERENCES
    from bench.report.charts import COLORS, _figure

    fig = _figure(7.5, 5.0)
    ax = fig.add_subplot()
    for i, ref in enumerate(REFERENCES):
        xs = [max(x, 0.5) for x, _ in ref.points]
        ax.plot(xs, [y for _, y in ref.points], color=COLORS[(i + 4) % len(COLORS)],
                label=f"reference: {ref.label}", linewidth=1.2, alpha=0.75,
                linestyle="--")  # fmt: skip
    cells = sorted({r.cell for r in results})
    for i, cell in enumerate(cells):
        rows = [r for r in results if r.cell == cell and r.p_warm is not None]
        xs = [r.idle_s for r in rows]
        ys = [float(r.p_warm or 0.0) for r in rows]
        low = [y - (r.ci or (y, y))[0] for y, r in zip(ys, rows, strict=True)]
        high = [(r.ci or (y, y))[1] - y for y, r in zip(ys, rows, strict=True)]
        ax.errorbar(xs, ys, yerr=[low, high], capsize=3, marker="o", ms=5, linewidth=1.8,
                    color=COLORS[i % len(COLORS)], label=f"this run: {cell}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("Idle time before the second burst (s, log scale)")
    ax.set_ylabel("P(still warm), 95% CI")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
    return fig


def keepalive_context(invocations: pd.DataFrame) -> dict[str, Any] | None:
    from bench.experiments.survival import CI_METHOD, survival

    results = survival(invocations)
    if not results:
        return None
    from bench.report.html import svg

    rows = []
    for r in results:
        ci = r.ci
        rows.append({
            "cell": r.cell, "idle_s": f"{r.idle_s:g}", "probes": r.probes, "trials": r.trials,
            "warm": r.warm, "unobserved": r.unobserved,
            "p_warm": "–" if r.p_warm is None else f"{r.p_warm:.2f}",
            "ci": "–" if ci is None else f"{ci[0]:.2f} – {ci[1]:.2f}",
        })  # fmt: skip
    from bench.experiments.published import REFERENCES

    return {
        "rows": rows,
        "ci_method": CI_METHOD,
        "chart": svg(survival_chart(results)),
        "references": [{"label": ref.label, "note": ref.note} for ref in REFERENCES],
    }


def experiment_context(manifest: dict[str, Any], invocations: pd.DataFrame) -> dict[str, Any]:
    """What the run page shows of the matrix's experiment (nothing for the cold-start one)."""
    kind = (manifest.get("matrix") or {}).get("experiment", "coldstart")
    section: dict[str, Any] = {"kind": kind, "keepalive": None, "warmup": None}
    if kind == "keepalive":
        section["keepalive"] = keepalive_context(invocations)
    elif kind == "warmup":
        from bench.experiments.warmup import warmup_context

        section["warmup"] = warmup_context(manifest, invocations)
    return section
