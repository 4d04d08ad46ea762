"""RateLimiter and retry_call: pacing is asserted on a fake clock, never by sleeping."""

from __future__ import annotations

import random
import threading
import time

import pytest
from botocore.exceptions import ClientError

from bench.pacing import RateLimiter, backoff_delay, is_conflict, is_throttle, retry_call


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "SomeOperation")


def test_burst_is_free_then_one_token_per_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=3, clock=clock, sleeper=clock.sleep)
    waits = [limiter.acquire() for _ in range(8)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.2] * 5)
    assert clock.now - 1000.0 == pytest.approx(1.0)


def test_never_more_than_burst_plus_rate_times_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=2, clock=clock, sleeper=clock.sleep)
    granted: list[float] = []
    for i in range(60):
        limiter.acquire()
        granted.append(clock())
        if i % 7 == 0:
            clock.sleep(0.13)  # the caller does some work between calls
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            window = granted[j] - start
            assert j - i + 1 <= 2 + 5.0 * window + 1e-9


def test_idle_time_refills_only_up_to_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, burst=2, clock=clock, sleeper=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    clock.sleep(60.0)  # a long idle period must not bank 120 tokens
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]


def test_try_acquire_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, burst=1, clock=clock, sleeper=clock.sleep)
    assert limiter.try_acquire() is True
    assert limiter.try_acquire() is False
    clock.now += 0.24
    assert limiter.try_acquire() is False
    clock.now += 0.02
    assert limiter.try_acquire() is True
    assert clock.sleeps == []


def test_concurrent_callers_get_distinct_slots() -> None:
    # The clock never moves and the sleeper only records: each thread's reserved wait
    # shows which slot it got. A race would hand two threads the same slot.
    clock = FakeClock()
    limiter = RateLimiter(10.0, burst=1, clock=clock, sleeper=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            w = limiter.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots = sorted(round(w * 10.0) for w in waits)
    assert slots == list(range(200))


def test_real_clock_threads_are_paced() -> None:
    limiter = RateLimiter(200.0, burst=1)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 tokens at 200/s with one banked: at least 39 intervals of 5 ms.
    assert max(stamps) - start >= 39 / 200.0 - 0.005


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(1.0, burst=0)


def test_throttle_and_conflict_codes() -> None:
    for code in ("TooManyRequestsException", "ThrottlingException", "Throttling",
                 "RequestLimitExceeded"):
        assert is_throttle(client_error(code)), code
        assert not is_conflict(client_error(code)), code
    assert is_conflict(client_error("ResourceConflictException"))
    assert not is_throttle(client_error("ResourceConflictException"))
    assert not is_throttle(client_error("AccessDeniedException"))
    assert not is_throttle(ValueError("Throttling"))


def test_retry_succeeds_after_throttles_with_jittered_backoff() -> None:
    calls = {"n": 0}
    retries: list[tuple[str, int, float]] = []
    slept: list[float] = []

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise client_error("ThrottlingException")
        return "ok"

    result = retry_call(
        flaky,
        retry_on=is_throttle,
        base_s=0.2,
        max_s=5.0,
        on_retry=lambda e, n, d: retries.append((type(e).__name__, n, d)),
        sleeper=slept.append,
        rng=random.Random(7),
    )
    assert result == "ok"
    assert calls["n"] == 4
    assert [n for _, n, _ in retries] == [1, 2, 3]
    assert [d for _, _, d in retries] == slept
    for attempt, delay in enumerate(slept, start=1):
        assert 0.0 <= delay <= 0.2 * 2 ** (attempt - 1)


def test_retry_gives_up_after_attempts_with_the_last_error() -> None:
    calls = {"n": 0}

    def always() -> None:
        calls["n"] += 1
        raise client_error("TooManyRequestsException")

    with pytest.raises(ClientError) as info:
        retry_call(always, retry_on=is_throttle, attempts=3, sleeper=lambda s: None)
    assert calls["n"] == 3
    assert info.value.response["Error"]["Code"] == "TooManyRequestsException"


def test_retry_does_not_retry_other_errors() -> None:
    calls = {"n": 0}

    def denied() -> None:
        calls["n"] += 1
        raise client_error("AccessDeniedException")

    with pytest.raises(ClientError):
        retry_call(denied, retry_on=is_throttle, sleeper=lambda s: pytest.fail("slept"))
    assert calls["n"] == 1


def test_backoff_is_capped_and_seeded() -> None:
    a = [backoff_delay(n, base_s=0.2, max_s=5.0, rng=random.Random(1)) for n in range(1, 80)]
    b = [backoff_delay(n, base_s=0.2, max_s=5.0, rng=random.Random(1)) for n in range(1, 80)]
    assert a == b
    assert max(a) <= 5.0
    assert len(set(a)) > 1
