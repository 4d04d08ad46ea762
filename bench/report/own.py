"""The report's sections on what a function did and what its cold start costs a caller:
the split of the cold start (bench.split), the memory recommendation, and the errors.

Built from the loaded run alone, for the run template's own sections.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench.report import charts
from bench.report.html import number, svg
from bench.report.load import LoadedRun


def _ci(row: dict[str, Any], figure: str) -> str:
    low, high = row[f"{figure}_ci_low"], row[f"{figure}_ci_high"]
    if math.isnan(float(low)):
        return "–"
    return f"{number(low)} – {number(high)}"


def _errors(loaded: LoadedRun) -> list[dict[str, Any]]:
    """Per cell with a failed invocation: how many failed at init and at invoke, and the
    commonest error type with its first message."""
    inv = loaded.invocations
    if inv.empty:
        return []
    failed = inv[inv["status"].astype(str).isin(["error", "timeout"])]
    cells = loaded.manifest.get("cells") or {}
    rows = []
    for cell, group in failed.groupby("cell", sort=True, observed=True):
        types = Counter(
            str(t) if isinstance(t, str) else s
            for t, s in zip(group["error_type"], group["status"].astype(str), strict=True)
        )
        kind, count = types.most_common(1)[0]
        messages = [m for m in group["error_message"] if isinstance(m, str) and m]
        phases = group["error_phase"].astype(object)
        rows.append({
            "cell": str(cell),
            "status": (cells.get(str(cell)) or {}).get("status", "?"),
            "failed": len(group),
            "invocations": int((inv["cell"] == cell).sum()),
            "init": int((phases == "init").sum()),
            "invoke": int((phases != "init").sum()),
            "types": ", ".join(f"{t} × {n}" for t, n in types.most_common()),
            "top": f"{kind} × {count}",
            "message": messages[0][:300] if messages else "",
        })  # fmt: skip
    return rows


def own_sections(loaded: LoadedRun, cold_share: float | None) -> dict[str, Any]:
    """Context of the split, recommendation and error sections."""
    from bench.split import DEFAULT_COLD_SHARE, cold_split, recommend

    share = DEFAULT_COLD_SHARE if cold_share is None else cold_share
    split = cold_split(loaded.invocations)
    rows = []
    for record in split.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        cis = {f"{f}_ci": _ci(row, f) for f in ("init", "first", "warm", "caller")}
        rows.append({**row, **cis})
    via: Counter[str] = Counter()
    if not loaded.invocations.empty:
        via = Counter(str(v) for v in loaded.invocations["invoke_via"] if isinstance(v, str))
    return {
        "split": rows,
        "split_chart": svg(charts.cold_split_by_memory(split)) if rows else "",
        "recommendations": recommend(split, share),
        "cold_share": share,
        "errors": _errors(loaded),
        "invoke_via": sorted(via.items()),
    }
