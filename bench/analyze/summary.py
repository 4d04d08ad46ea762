"""Per-function production figures, accumulated record by record in bounded memory.

Counts and sums are constant-size; memory use is a histogram of whole megabytes; the
environments seen per minute need one counter per minute and one entry per environment;
the duration samples (for percentiles) are 8 bytes a value in flat arrays, never Python
objects. Nothing needs the records again once they are written.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.cost import init_invoke_cost
from bench.results.schema import START_TYPES

# Call-outs: memory this many times the peak use, and a cold-start rate this high
# (over at least MIN_INVOCATIONS), are worth a look.
OVERSIZED_FACTOR = 2.0
HIGH_COLD_RATE = 0.05
MIN_INVOCATIONS = 100
MINUTE_MS = 60_000
HOUR_MS = 3_600_000


@dataclass
class FunctionFigures:
    """Running totals of one function's production records."""

    name: str
    memory_mb: int
    architecture: str
    window_start_ms: int
    invocations: int = 0
    start_types: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    hour_calls: list[int] = field(default_factory=lambda: [0] * 24)
    hour_cold: list[int] = field(default_factory=lambda: [0] * 24)
    init_ms: array[float] = field(default_factory=lambda: array("d"))
    cold_duration_ms: array[float] = field(default_factory=lambda: array("d"))
    warm_duration_ms: array[float] = field(default_factory=lambda: array("d"))
    memory_used: Counter[int] = field(default_factory=Counter)
    memory_size_mb: int = 0
    init_usd: float = 0.0
    invoke_usd: float = 0.0
    environments: int = 0
    per_minute: Counter[int] = field(default_factory=Counter)
    _last_minute: dict[str, int] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        self.invocations += 1
        start, status = record["start_type"], record["status"]
        self.start_types[start] += 1
        self.statuses[status] += 1
        at_ms = self.window_start_ms + record["client_send_ns"] // 1_000_000
        hour = (at_ms // HOUR_MS) % 24
        self.hour_calls[hour] += 1
        duration = record["duration_ms"]
        if start == "cold":
            self.hour_cold[hour] += 1
            if status == "success" and record["init_duration_ms"] is not None:
                self.init_ms.append(record["init_duration_ms"])
            if duration is not None:
                self.cold_duration_ms.append(duration)
        elif start == "warm" and duration is not None and status == "success":
            self.warm_duration_ms.append(duration)
        used, size = record["max_memory_used_mb"], record["memory_size_mb"]
        if used is not None:
            self.memory_used[int(used)] += 1
        if size is not None:
            self.memory_size_mb = max(self.memory_size_mb, int(size))
        billed = record["billed_duration_ms"]
        if billed is not None and duration is not None and size is not None:
            init, invoke = init_invoke_cost(
                billed, duration, record["init_duration_ms"], size, self.architecture
            )
            self.init_usd += init
            self.invoke_usd += invoke
        stream = record["sandbox_id"]
        minute = at_ms // MINUTE_MS
        last = self._last_minute.get(stream)
        if last is None:
            self.environments += 1
        if last != minute:  # lines come in time order: a stream counts once a minute
            self._last_minute[stream] = minute
            self.per_minute[minute] += 1

    # ---------------------------------------------------------------- the figures

    def summary(self) -> dict[str, Any]:
        """The figures as the manifest's `production.functions.<name>` stores them."""
        import numpy as np

        from bench.stats import quantile_ci

        init = np.frombuffer(self.init_ms, dtype=float) if self.init_ms else np.empty(0)
        cold = self.start_types["cold"]
        rate = cold / self.invocations if self.invocations else None
        percentiles: dict[str, Any] = {}
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            value = float(np.percentile(init, q * 100)) if len(init) else None
            low, high = quantile_ci(init, q)
            percentiles[name] = {"ms": _r(value), "ci": [_r(low), _r(high)]}
        peak = max(self.memory_used) if self.memory_used else None
        size = self.memory_size_mb or self.memory_mb
        minutes = sorted(self.per_minute.values())
        return {
            "invocations": self.invocations,
            "start_types": {k: self.start_types[k] for k in START_TYPES},
            "cold_start_rate": _r(rate, 6),
            "cold_start_rate_by_hour": [
                _r(self.hour_cold[h] / self.hour_calls[h], 6) if self.hour_calls[h] else None
                for h in range(24)
            ],
            "invocations_by_hour": list(self.hour_calls),
            "init_duration_ms": {"n": len(init), **percentiles},
            "cold_duration_ms_p50": _median(self.cold_duration_ms),
            "warm_duration_ms_p50": _median(self.warm_duration_ms),
            "warm_duration_ms_p99": _quantile(self.warm_duration_ms, 99),
            "memory": {
                "size_mb": size,
                "peak_used_mb": peak,
                "p50_used_mb": _histogram_median(self.memory_used),
                "peak_over_size": _r(peak / size, 4) if peak is not None and size else None,
            },
            "cost_usd": {"init": _r(self.init_usd, 8), "invoke": _r(self.invoke_usd, 8)},
            "errors": self.statuses["error"],
            "timeouts": self.statuses["timeout"],
            "environments": self.environments,
            "environments_per_minute": {
                "peak": minutes[-1] if minutes else 0,
                "p50": minutes[len(minutes) // 2] if minutes else 0,
                "minutes_active": len(minutes),
            },
            "callouts": self.callouts(rate, peak, size),
        }

    def callouts(self, rate: float | None, peak: int | None, size: int) -> list[str]:
        notes = []
        if peak is not None and peak > 0 and size >= OVERSIZED_FACTOR * peak and size > 128:
            notes.append(
                f"memory {size} MB is {size / peak:.1f}x the peak use of {peak} MB "
                f"(call-out at {OVERSIZED_FACTOR:g}x)"
            )
        if rate is not None and self.invocations >= MIN_INVOCATIONS and rate >= HIGH_COLD_RATE:
            notes.append(
                f"cold-start rate {100 * rate:.1f}% ({self.start_types['cold']} of "
                f"{self.invocations}; call-out at {100 * HIGH_COLD_RATE:g}%)"
            )
        return notes


def _r(value: float | None, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _quantile(values: array[float], q: float) -> float | None:
    import numpy as np

    if not values:
        return None
    return _r(float(np.percentile(np.frombuffer(values, dtype=float), q)))


def _median(values: array[float]) -> float | None:
    return _quantile(values, 50)


def _histogram_median(counts: Counter[int]) -> int | None:
    total = sum(counts.values())
    if not total:
        return None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if 2 * seen >= total:
            return value
    return None
