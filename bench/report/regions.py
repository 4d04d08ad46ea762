"""The run report's comparison of regions, cell by cell (a matrix with `regions`).

A cell measured in several regions has one id per region (`<cell>-<region>`); this puts
each cell's regions side by side: Init Duration and cold client latency medians, and each
region's Init Duration median over the first region's.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def region_comparison(manifest: dict[str, Any], summary: pd.DataFrame) -> dict[str, Any] | None:
    """{"regions": [...], "rows": [{"cell", "by_region": {region: figures}}]}, or None
    for a run of one region."""
    cells = manifest.get("cells") or {}
    listed = list(((manifest.get("target") or {}).get("regions") or {}).keys())
    if len(listed) < 2:
        return None
    figures = {str(r["cell"]): r for r in summary.to_dict("records")}
    rows: dict[str, dict[str, Any]] = {}
    for cell_id, entry in cells.items():
        region = entry.get("region")
        if region not in listed:
            continue
        base = cell_id.removesuffix(f"-{region}")
        row = figures.get(cell_id, {})
        rows.setdefault(base, {})[region] = {
            "init_p50": _value(row.get("init_p50")),
            "cold_latency_p50": _value(row.get("cold_latency_p50")),
            "n_cold": row.get("n_cold", 0),
        }
    out = []
    for base in sorted(rows):
        by_region = rows[base]
        first = (by_region.get(listed[0]) or {}).get("init_p50")
        for figures_of in by_region.values():
            value = figures_of["init_p50"]
            figures_of["ratio"] = value / first if value is not None and first else None
        out.append({"cell": base, "by_region": by_region})
    return {"regions": listed, "rows": out}


def _value(raw: Any) -> float | None:
    if raw is None:
        return None
    value = float(raw)
    return None if math.isnan(value) else value
