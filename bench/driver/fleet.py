"""The harness's side of `driver: lambda`: a cold round handed to driver invocations.

A round of N is split into ceil(N / DRIVER_WIDTH) plans of near-equal width, each with
the same start instant a little ahead (LEAD_S); the harness fires the plans at the driver
function as one burst of its own (bench.burst), each driver parks its invocations and
releases them at that instant, and the outcomes come back in the usual shape. Every
outcome carries its driver's `driver_skew_ms`; their spread over a round is the skew
between the round's drivers.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from bench.burst import InvokeOutcome, fire_burst
from bench.driver.wire import PlanError, decode_outcome, encode_plan

# How many invocations one driver fires at once. Measured with benchmarks/driver_width.py
# (one barrier's launch skew against its width, on a shared 2-core host: median 0.4 ms at
# 4, 0.6 at 8, 1.9 at 16, 1.2 at 32, 2.7 at 64, noisy): the skew grows with the width, and
# 16 keeps it near 2 ms on a driver's single vCPU while a round of 1,000 needs 63 drivers.
DRIVER_WIDTH = 16
# How far ahead a round's start instant is set: time for the plans to reach the drivers.
LEAD_S = 1.0
MAX_LEAD_S = 10.0


def chunks(payloads: list[bytes], width: int) -> list[list[bytes]]:
    """Near-equal parts of at most `width` each, in order."""
    if not payloads:
        return []
    parts = math.ceil(len(payloads) / width)
    size, extra = divmod(len(payloads), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(payloads[start:end])
        start = end
    return out


@dataclass
class DriverFleet:
    client: Any  # the harness's Lambda client for invoking the driver
    function_name: str  # the driver function
    run_start_ns: int  # the recorder's perf_counter start of the run
    width: int = DRIVER_WIDTH
    lead_s: float = LEAD_S
    memory_mb: int = 1024
    rounds: int = 0  # cold rounds fired
    invocations: int = 0  # driver invocations that fired them (warm-ups and warm phase aside)
    max_skew_ms: float = 0.0  # the latest any driver released its gate after the instant

    def _run_start_epoch_ns(self) -> int:
        return time.time_ns() - (time.perf_counter_ns() - self.run_start_ns)

    def warm_up(self, drivers: int) -> None:
        """Start `drivers` driver environments at once, each with its client ready, so a
        round's plans find them warm; then set the lead from how long a plan takes to
        reach a warm driver and be answered (three times that, at least LEAD_S)."""
        ping = json.dumps({"plan": {"mode": "ping", "width": self.width}}).encode()
        start = self.run_start_ns
        fire_burst(self.client, self.function_name, [ping] * drivers, run_start_ns=start)
        warm = fire_burst(self.client, self.function_name, [ping] * drivers, run_start_ns=start)
        slowest_s = max(o.client_latency_ms for o in warm.outcomes) / 1000
        self.lead_s = min(MAX_LEAD_S, max(LEAD_S, 3 * slowest_s))

    def drivers_for(self, width: int) -> int:
        return len(chunks([b""] * width, self.width))

    def cold_round(self, function: str, payloads: list[bytes]) -> list[InvokeOutcome]:
        parts = chunks(payloads, self.width)
        start_at = time.time_ns() + int(self.lead_s * 1e9)
        plans = [
            encode_plan(
                function=function,
                payloads=part,
                mode="burst",
                start_at_ns=start_at,
                run_start_epoch_ns=self._run_start_epoch_ns(),
            )
            for part in parts
        ]
        fired = fire_burst(self.client, self.function_name, plans, run_start_ns=self.run_start_ns)
        outcomes: list[InvokeOutcome] = []
        for part, driver in zip(parts, fired.outcomes, strict=True):
            outcomes.extend(_answered(driver, len(part)))
        self.rounds += 1
        self.invocations += len(plans)
        late = max((o.driver_skew_ms or 0.0 for o in outcomes), default=0.0)
        self.max_skew_ms = max(self.max_skew_ms, late)
        if late > self.lead_s * 500:
            # The plans took longer than the lead to reach the drivers (a busy host, slow
            # drivers): set the next instant further ahead, so they start together again.
            self.lead_s = min(MAX_LEAD_S, self.lead_s + late / 1000)
        return outcomes

    def once(self, function: str, payload: bytes) -> InvokeOutcome:
        """One invocation (the warm phase), fired by a driver too."""
        plan = encode_plan(
            function=function,
            payloads=[payload],
            mode="sequential",
            start_at_ns=0,
            run_start_epoch_ns=self._run_start_epoch_ns(),
        )
        fired = fire_burst(self.client, self.function_name, [plan], run_start_ns=self.run_start_ns)
        return _answered(fired.outcomes[0], 1)[0]


def _answered(driver: InvokeOutcome, expected: int) -> list[InvokeOutcome]:
    """The driver's outcomes; where the driver itself failed, one error per invocation it
    was to fire (never invented figures: no latency, no request id)."""
    answer = driver.response or {}
    if driver.status == "success":
        try:
            outcomes = [decode_outcome(o) for o in answer.get("outcomes", [])]
        except (PlanError, TypeError, ValueError):
            outcomes = []
        if len(outcomes) == expected:
            return outcomes
    why = f"Driver.{driver.error_type or 'BadAnswer'}"
    return [
        InvokeOutcome(
            driver.client_send_ns, 0.0, "error", error_type=why, error_message=driver.error_message
        )
        for _ in range(expected)
    ]


def deploy_driver(lane: Any, *, recorder: Any, matrix: Any, regions: list[str]) -> DriverFleet:
    """The run's driver function in `lane`'s region, its role, and its environments warm
    for the widest round: the fleet that fires the lane's rounds."""
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from bench.deploy import FunctionSpec, deploy_function
    from bench.driver.package import build_driver_package
    from bench.naming import driver_name, resource_tags

    target = lane.target
    package = build_driver_package(Path(tempfile.gettempdir()) / "coldbench-driver")
    target.vouch_for(package.sha256)  # our own modules only
    name = driver_name(target.stage, recorder.run_rand)
    spec = FunctionSpec(
        name=name,
        cell_id="driver",
        runtime=package.runtime,
        handler=package.handler,
        memory_mb=target.driver_memory_mb,
        architecture="x86_64",
        timeout_s=min(900, matrix.timeout_s + int(LEAD_S) + 60),
        reserved_concurrency=None,
        role_arn=target.driver_role(regions),
        tags=resource_tags(
            run_id=recorder.run_id, stage=target.stage, cell_id="driver", created=datetime.now(UTC)
        ),
        zip_path=package.zip_path,
        zipped_bytes=package.zipped_bytes,
        sha256=package.sha256,
    )
    lane.driver_name = name
    deploy_function(lane.cp, spec)
    fleet = DriverFleet(
        client=target.lambda_client(max_pool=matrix.burst + 2),
        function_name=name,
        run_start_ns=recorder.run_start_ns,
        memory_mb=target.driver_memory_mb,
    )
    fleet.warm_up(fleet.drivers_for(matrix.burst))
    return fleet


def describe(fleets: dict[str, DriverFleet]) -> dict[str, Any]:
    """The manifest's `driver` section."""
    return {
        "mode": "lambda",
        "width": DRIVER_WIDTH,
        "memory_mb": {region: fleet.memory_mb for region, fleet in fleets.items()},
        "functions": {region: fleet.function_name for region, fleet in fleets.items()},
        "lead_ms": {region: round(fleet.lead_s * 1000) for region, fleet in fleets.items()},
        "rounds": {region: fleet.rounds for region, fleet in fleets.items()},
        "invocations": {region: fleet.invocations for region, fleet in fleets.items()},
        "max_skew_ms": {region: round(fleet.max_skew_ms, 3) for region, fleet in fleets.items()},
    }
