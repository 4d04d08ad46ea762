"""The driver function's handler: fire a plan from inside the region, answer the outcomes.

It reaches Lambda as any function does: boto3 with the credentials and the endpoint the
platform put in its environment (AWS_ENDPOINT_URL_LAMBDA where the platform sets one), in
its own region (AWS_REGION). Nothing here asks which platform that is. A burst opens every
connection first and releases them together at the planned instant, exactly as the
harness does from its own machine (bench.burst, the same module); `driver_skew_ms` says
how late after that instant this driver's gate opened.
"""

from __future__ import annotations

import time
from typing import Any

from bench.burst import fire_burst, invoke_once
from bench.driver.wire import MAX_PAYLOADS, PlanError, decode_plan, encode_outcome

READ_TIMEOUT_S = 900  # Lambda's longest function timeout
_clients: dict[int, Any] = {}  # by pool size: a warm driver reuses its client


def _client(width: int) -> Any:
    size = max(width, 10)
    if size not in _clients:
        _clients[size] = _new_client(size)
    return _clients[size]


def _new_client(size: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},  # a retry would land warm
        read_timeout=READ_TIMEOUT_S,
        connect_timeout=10,
        max_pool_connections=size,
        tcp_keepalive=True,
    )
    return boto3.client("lambda", config=config)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        plan = decode_plan(event)
    except PlanError as exc:
        return {"error": f"bad plan: {exc}", "error_type": "Driver.BadPlan"}
    if plan["mode"] == "ping":  # a warm-up: have the client ready for the rounds
        width = plan.get("width")
        _client(width if isinstance(width, int) and 0 < width <= MAX_PAYLOADS else 10)
        return {"outcomes": [], "driver_skew_ms": None}
    payloads: list[bytes] = plan["payloads"]
    client = _client(len(payloads))
    # The run's start on this sandbox's monotonic clock: send times are relative to it.
    run_start_ns = time.perf_counter_ns() - (time.time_ns() - plan["run_start_epoch_ns"])
    if plan["mode"] == "sequential":
        outcomes = [
            invoke_once(client, plan["function"], p, run_start_ns=run_start_ns) for p in payloads
        ]
        return {"outcomes": [encode_outcome(o) for o in outcomes], "driver_skew_ms": None}
    result = fire_burst(
        client, plan["function"], payloads, run_start_ns=run_start_ns,
        release_at_epoch_ns=plan["start_at_ns"],
    )  # fmt: skip
    skew_ms = (result.released_epoch_ns - plan["start_at_ns"]) / 1e6
    for outcome in result.outcomes:
        outcome.driver_skew_ms = round(skew_ms, 3)
    return {"outcomes": [encode_outcome(o) for o in result.outcomes], "driver_skew_ms": skew_ms}
