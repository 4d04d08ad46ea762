"""The account's unreserved pool: functions without a reservation share it, and an invoke
past it is throttled as AWS throttles it."""

from __future__ import annotations

import pytest

from bench.emulator.account import AccountSettings, UnreservedPool
from bench.emulator.errors import AwsError


def test_the_pool_is_the_limit_less_what_is_reserved_and_a_full_pool_throttles() -> None:
    pool = UnreservedPool(AccountSettings(concurrent_executions=10))
    for _ in range(7):
        pool.enter(reserved_total=3)
    with pytest.raises(AwsError) as info:
        pool.enter(reserved_total=3)
    error = info.value
    assert (error.code, error.status) == ("TooManyRequestsException", 429)
    assert error.body["Reason"] == "ConcurrentInvocationLimitExceeded"
    pool.leave()
    pool.enter(reserved_total=3)  # room again once one finished
    assert (pool.in_flight, pool.peak, pool.throttled) == (7, 7, 1)
