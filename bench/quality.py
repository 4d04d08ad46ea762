"""The measurement-quality verdict of a cell: were its numbers taken uncontended?

The target says, per invocation, what contended with it that it could not prevent (the
records' `contention`, from the local target's X-Bench-Contention header; null on AWS,
where every environment has its own CPU). A cell is `contended` when at least
CONTENDED_SHARE of the invocations the target judged were touched: a moment of someone
else's load does not condemn 30 samples, a second bench run on the same host does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

CONTENDED_SHARE = 0.1
REASON_TEXT = {
    "cpu-limits-off": "CPU limits off",
    "host-busy": "host busy beyond the reserve",
    "steal": "hypervisor steal",
    "run-queue": "run queue longer than the CPUs",
    "init-over-budget": "init used more CPU than admitted",
}


def verdict(contentions: Iterable[Any]) -> dict[str, Any]:
    """The manifest's per-cell `quality` from the cell's records' `contention` values:
    {verdict: ok|contended, reasons: [text], touched: n, judged: n}."""
    judged = touched = 0
    counts: Counter[str] = Counter()
    for value in contentions:
        if not isinstance(value, list | tuple):
            continue  # null: the target did not say
        judged += 1
        if value:
            touched += 1
            counts.update(str(code) for code in value)
    contended = judged > 0 and touched >= CONTENDED_SHARE * judged
    reasons = [
        f"{REASON_TEXT.get(code, code)} ({n} of {judged} invocations)"
        for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {
        "verdict": "contended" if contended else "ok",
        "reasons": reasons,
        "touched": touched,
        "judged": judged,
    }


def summary_text(quality: dict[str, Any] | None) -> str:
    """One line for tables: empty for an uncontended (or unjudged) cell."""
    if not quality or quality.get("verdict") != "contended":
        return ""
    return "contended: " + "; ".join(quality.get("reasons") or ["(no reason recorded)"])
