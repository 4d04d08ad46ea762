"""AWS-quota mode: token buckets at AWS's rates, throttles counted per API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.emulator.quota import QuotaLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=5.0, burst=2.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    assert not bucket.take(0.1)  # half a token
    assert bucket.take(0.2)
    # Over ten seconds no more than rate * time + burst calls get through.
    granted = sum(bucket.take(0.2 + i * 0.01) for i in range(1, 1001))
    assert granted <= 5 * 10 + 2


def test_limiter_shares_the_control_plane_bucket_and_spares_invoke() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(True, clock=clock)
    results = [limiter.allow("lambda", op) for op in
               ["CreateFunction", "UpdateFunctionConfiguration", "ListFunctions", "ListTags"]]
    assert results == [True, True, True, False]
    assert all(limiter.allow("lambda", "Invoke") for _ in range(100))
    assert all(limiter.allow("lambda", "GetFunction") for _ in range(10))
    assert not limiter.allow("lambda", "GetFunction")
    assert all(limiter.allow("logs", "DescribeLogStreams") for _ in range(50))
    assert limiter.throttles == {"ListTags": 1, "GetFunction": 1}
    clock.now += 1.0
    assert limiter.allow("lambda", "ListTags")


def test_disabled_limiter_never_throttles() -> None:
    limiter = QuotaLimiter(False)
    assert all(limiter.allow("lambda", "ListFunctions") for _ in range(1000))
    assert not limiter.throttles


def test_quota_mode_over_http(make_api: Any) -> None:
    api = make_api(quota_mode=True)
    api.create("q", wait=False)
    codes: list[str] = []
    started = time.monotonic()
    for _ in range(12):
        try:
            api.lam.list_functions()
            codes.append("ok")
        except ClientError as err:
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert err.response["Error"]["Code"] == "TooManyRequestsException"
            assert err.response["Reason"] == "CallerRateLimitExceeded"
            codes.append("throttled")
    elapsed = time.monotonic() - started
    allowed = codes.count("ok")
    # The burst (3) plus what the 15/s rate refilled while we were calling.
    assert allowed <= 3 + 15 * elapsed + 1
    assert "throttled" in codes
    api.logs.create_log_group(logGroupName="/g")
    logs_codes = []
    for _ in range(8):
        try:
            api.logs.filter_log_events(logGroupName="/g")
            logs_codes.append("ok")
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ThrottlingException"
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            logs_codes.append("throttled")
    assert "throttled" in logs_codes
    info = api.emulator.info()
    assert info["quota_mode"] is True
    assert info["throttles"]["ListFunctions"] == codes.count("throttled")
    assert info["throttles"]["FilterLogEvents"] == logs_codes.count("throttled")


def test_invoke_is_not_rate_limited_in_quota_mode(make_api: Any) -> None:
    api = make_api(quota_mode=True)
    api.create("inv-q", wait=False)
    deadline = time.monotonic() + 5
    while True:  # GetFunction has its own, larger bucket: poll it for Active
        if api.lam.get_function(FunctionName="inv-q")["Configuration"]["State"] == "Active":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for _ in range(30):
        assert api.lam.invoke(FunctionName="inv-q", Payload=b"{}")["StatusCode"] == 200
    assert "Invoke" not in api.emulator.info()["throttles"]


@pytest.mark.parametrize("quota_mode", [False])
def test_default_mode_reports_no_throttles(make_api: Any, quota_mode: bool) -> None:
    api = make_api(quota_mode=quota_mode)
    for _ in range(40):
        api.lam.list_functions()
    assert api.emulator.info()["throttles"] == {}
