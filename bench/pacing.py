"""Pacing and retries for calls to AWS (or anything that throttles like it).

AWS shares some quotas across a whole account and region (15 control-plane requests/s for
Lambda, 5 FilterLogEvents/s for CloudWatch Logs), so one limiter is shared by every thread
of a run. Retries use exponential backoff with full jitter so that threads throttled
together do not retry together.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bench.aws_errors import error_code

T = TypeVar("T")

THROTTLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
CONFLICT_CODES = frozenset({"ResourceConflictException"})


class RateLimiter:
    """A thread-safe token bucket: `rate_per_s` tokens a second, at most `burst` saved up.

    A caller reserves its token under the lock and sleeps outside it, so waiting threads
    are released one slot apart instead of all waking at once and racing for one token.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self._clock = clock
        self._sleeper = sleeper
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        self._updated = now

    def acquire(self) -> float:
        """Block until a token is ours; return the seconds waited (0.0 when none)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1.0
            # A negative balance is a queue of reservations: ours is due when it refills.
            wait = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleeper(wait)
        return wait

    def try_acquire(self) -> bool:
        """Take a token if one is free right now, without waiting."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


def is_throttle(exc: BaseException) -> bool:
    """A throttling error from any AWS service (retry later, more slowly)."""
    return error_code(exc) in THROTTLE_CODES


def is_conflict(exc: BaseException) -> bool:
    """Lambda's ResourceConflictException: an update is still in progress."""
    return error_code(exc) in CONFLICT_CODES


def backoff_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_s, base_s * 2**(attempt-1))]."""
    ceiling = min(max_s, base_s * (2.0 ** min(attempt - 1, 60)))
    return rng.uniform(0.0, ceiling)


def retry_call(
    fn: Callable[[], T],
    *,
    retry_on: Callable[[Exception], bool],
    attempts: int = 8,
    base_s: float = 0.2,
    max_s: float = 5.0,
    on_retry: Callable[[Exception, int, float], None] | None = None,
    sleeper: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call `fn` until it succeeds, retrying errors that `retry_on` accepts.

    `on_retry(exc, attempt, delay_s)` runs before each sleep (log it, count it). The last
    error is re-raised unchanged once `attempts` calls have failed, or at once when
    `retry_on` says the error is not worth retrying.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    rng = rng or random.Random()
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not retry_on(exc):
                raise
            delay = backoff_delay(attempt, base_s=base_s, max_s=max_s, rng=rng)
            if on_retry is not None:
                on_retry(exc, attempt, delay)
            sleeper(delay)
            attempt += 1
