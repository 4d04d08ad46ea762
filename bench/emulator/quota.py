"""AWS-quota mode: token buckets with AWS's published request rates.

GetFunction has its own 100 req/s; every other Lambda control-plane call shares 15 req/s
per account and region; CloudWatch Logs FilterLogEvents is 5 TPS. Invoke is data plane
and never counted here. Each throttle is counted per API so a caller can prove it stayed
inside the limits.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float  # bucket size: how far a client may run ahead of the rate
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# Which bucket an API draws from; None means unlimited here.
LAMBDA_CONTROL = "lambda-control-plane"
BUCKETS: dict[str, tuple[float, float]] = {
    # name: (rate per second, burst)
    LAMBDA_CONTROL: (15.0, 3.0),
    "GetFunction": (100.0, 10.0),
    "FilterLogEvents": (5.0, 2.0),
}


def bucket_for(service: str, api: str) -> str | None:
    if api in BUCKETS:
        return api
    if service == "lambda" and api != "Invoke":
        return LAMBDA_CONTROL
    return None


class QuotaLimiter:
    """Answers "may this call go through?" and counts the ones that may not."""

    def __init__(self, enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self._buckets = {name: TokenBucket(rate, burst) for name, (rate, burst) in BUCKETS.items()}
        self._lock = threading.Lock()
        self.throttles: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()  # every call, throttled or not

    def allow(self, service: str, api: str) -> bool:
        """`service` is "lambda" or "logs", `api` the operation name ("GetFunction")."""
        with self._lock:
            self.requests[api] += 1
        if not self.enabled:
            return True
        name = bucket_for(service, api)
        if name is None:
            return True
        with self._lock:
            if self._buckets[name].take(self._clock()):
                return True
            self.throttles[api] += 1
            return False
