"""What passes between the harness and the driver function, both ways, as JSON.

A plan: {"plan": {"function", "payloads" (base64), "mode" (burst | sequential | ping),
"start_at_ns" (epoch ns: when a burst's gate opens), "run_start_epoch_ns" (the run's start
on the wall clock, so send times are relative to it like a client-driven run's)}}. The
answer: {"outcomes": [...], "driver_skew_ms"}. Part of the driver's package: imports only
the standard library and bench.burst.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, fields
from typing import Any

from bench.burst import InvokeOutcome

MODES = ("burst", "sequential", "ping")
MAX_PAYLOADS = 1000  # a round is never wider than Matrix.burst allows


class PlanError(ValueError):
    """A plan the driver refuses (it never trusts its event)."""


def encode_plan(
    *, function: str, payloads: list[bytes], mode: str, start_at_ns: int, run_start_epoch_ns: int
) -> bytes:
    import json

    plan = {
        "function": function,
        "payloads": [base64.b64encode(p).decode("ascii") for p in payloads],
        "mode": mode,
        "start_at_ns": start_at_ns,
        "run_start_epoch_ns": run_start_epoch_ns,
    }
    return json.dumps({"plan": plan}).encode()


def decode_plan(event: Any) -> dict[str, Any]:
    plan = event.get("plan") if isinstance(event, dict) else None
    if not isinstance(plan, dict):
        raise PlanError("expected {'plan': {...}}")
    if plan.get("mode") not in MODES:
        raise PlanError(f"mode must be one of {', '.join(MODES)}")
    if plan["mode"] == "ping":
        return plan
    if not isinstance(plan.get("function"), str) or not plan["function"]:
        raise PlanError("function must be a function name")
    payloads = plan.get("payloads")
    if not isinstance(payloads, list) or not 1 <= len(payloads) <= MAX_PAYLOADS:
        raise PlanError(f"payloads must list 1 to {MAX_PAYLOADS} base64 strings")
    try:
        plan["payloads"] = [base64.b64decode(p, validate=True) for p in payloads]
    except (TypeError, ValueError):
        raise PlanError("payloads must be base64") from None
    for key in ("start_at_ns", "run_start_epoch_ns"):
        if not isinstance(plan.get(key), int) or isinstance(plan.get(key), bool):
            raise PlanError(f"{key} must be an integer (epoch ns)")
    return plan


def encode_outcome(outcome: InvokeOutcome) -> dict[str, Any]:
    out = asdict(outcome)
    out["body"] = base64.b64encode(outcome.body).decode("ascii")
    return out


_FIELDS = {f.name for f in fields(InvokeOutcome)}


def decode_outcome(data: Any) -> InvokeOutcome:
    if not isinstance(data, dict) or not set(data) <= _FIELDS:
        raise PlanError("not an outcome")
    values = dict(data)
    values["body"] = base64.b64decode(values.get("body") or "")
    return InvokeOutcome(**values)
