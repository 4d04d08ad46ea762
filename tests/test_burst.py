"""Bursts and single invokes against the emulator over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.burst import fire_burst, invoke_once
from bench.classify import bench_event, tail_report
from bench.deploy import ControlPlane, FunctionSpec, bump, deploy_function
from bench.matrix import Cell
from bench.naming import resource_tags
from bench.pacing import RateLimiter
from bench.target import Target, open_local_target

CELL = Cell(
    runtime="python3.12", memory_mb=128, architecture="x86_64", package_mb=0.0, package_kind="none"
)


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[Target, ControlPlane, str]]:
    """One python function with reserved concurrency 3 on a fresh emulator."""
    from bench.fixtures import build_artifact

    artifact = build_artifact(CELL)
    with open_local_target(function_timeout_s=10) as target:
        cp = ControlPlane.from_target(target, RateLimiter(50))
        name = "bench-test-abcdef-00"
        deploy_function(
            cp,
            FunctionSpec.for_cell(
                CELL,
                artifact,
                name=name,
                timeout_s=10,
                reserved_concurrency=3,
                role_arn=str(target.role_arn),
                tags=resource_tags(
                    run_id="r", stage="test", cell_id=CELL.id, created=datetime.now(UTC)
                ),
            ),
        )
        yield target, cp, name


def _payloads(n: int, round_: int) -> list[bytes]:
    return [bench_event("run", CELL.id, round_, seq) for seq in range(1, n + 1)]


def test_deployed_function_is_tagged_reserved_and_logged(
    deployed: tuple[Target, ControlPlane, str],
) -> None:
    _, cp, name = deployed
    fn = cp.lambda_client.get_function(FunctionName=name)
    assert fn["Configuration"]["State"] == "Active"
    assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 3
    tags = cp.lambda_client.list_tags(Resource=fn["Configuration"]["FunctionArn"])["Tags"]
    assert tags["bench:stage"] == "test" and tags["bench:cell"] == CELL.id
    groups = cp.logs_client.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")
    (group,) = groups["logGroups"]
    assert group["retentionInDays"] == 3


def test_a_burst_after_a_bump_lands_on_fresh_sandboxes(
    deployed: tuple[Target, ControlPlane, str],
) -> None:
    target, cp, name = deployed
    client = target.lambda_client(max_pool=3)
    bump(cp, name, "burst-1")
    start = time.perf_counter_ns()
    result = fire_burst(client, name, _payloads(3, 1), run_start_ns=start)
    assert [o.status for o in result.outcomes] == ["success"] * 3, result.outcomes
    sandboxes = {o.response["sandbox_id"] for o in result.outcomes}
    assert len(sandboxes) == 3
    assert all(o.response["invocation"] == 1 for o in result.outcomes)
    assert len({o.request_id for o in result.outcomes}) == 3
    assert 0 <= result.launch_skew_ms < 1000
    assert all(o.launch_skew_ms == result.launch_skew_ms for o in result.outcomes)
    assert all(o.client_send_ns >= 0 and o.client_latency_ms > 0 for o in result.outcomes)
    for outcome in result.outcomes:
        found = tail_report(outcome)
        assert found is not None, outcome.tail_lines
        report, raw = found
        assert report.request_id == outcome.request_id
        assert report.init_duration_ms is not None and raw.startswith("REPORT")
    # Without a bump, the next invoke reuses one of those sandboxes.
    again = invoke_once(client, name, _payloads(1, 0)[0], run_start_ns=start)
    assert again.response["sandbox_id"] in sandboxes
    assert again.response["invocation"] == 2
    report, _ = tail_report(again)
    assert report.init_duration_ms is None
    assert again.queued_ms is not None  # the single-invoke path reads the header too


def test_inits_beyond_the_hosts_capacity_wait_and_the_wait_is_not_init(
    deployed: tuple[Target, ControlPlane, str],
) -> None:
    from bench.emulator.cgroups import INIT_MIN_VCPUS

    target, cp, name = deployed
    admission = target.emulator_info()["admission"]
    bump(cp, name, "burst-queue")
    result = fire_burst(target.lambda_client(3), name, _payloads(3, 4), run_start_ns=0)
    assert [o.status for o in result.outcomes] == ["success"] * 3, result.outcomes
    queued = [o.queued_ms for o in result.outcomes]
    assert all(q is not None and q >= 0 for q in queued), queued
    if admission["sandbox_capacity_vcpus"] < 3 * INIT_MIN_VCPUS:  # not all three fit at once
        assert max(queued) > 0, queued
    for outcome in result.outcomes:
        report, _ = tail_report(outcome)
        # The wait is part of what the client saw, and of neither Init nor Duration.
        spent = report.init_duration_ms + report.duration_ms + outcome.queued_ms
        assert spent <= outcome.client_latency_ms, (spent, outcome.client_latency_ms)
    after = target.emulator_info()["admission"]
    assert after["admitted"] >= admission["admitted"] + 3


def test_throttles_are_recorded_and_never_retried(
    deployed: tuple[Target, ControlPlane, str],
) -> None:
    target, cp, name = deployed
    client = target.lambda_client(max_pool=6)
    bump(cp, name, "burst-2")
    before = _invocation_count(cp, name)
    result = fire_burst(client, name, _payloads(6, 2), run_start_ns=time.perf_counter_ns())
    statuses = [o.status for o in result.outcomes]
    throttled = [o for o in result.outcomes if o.status == "throttled"]
    # Reserved concurrency 3: at most 3 run at once, so some of the 6 must be refused.
    assert throttled, statuses
    assert all(o.error_type == "TooManyRequestsException" for o in throttled)
    assert all(o.response is None and o.tail_lines == [] for o in throttled)
    served = [o for o in result.outcomes if o.status == "success"]
    assert len(served) + len(throttled) == 6
    # No SDK retry: exactly one START line per served invocation reached the logs.
    assert _invocation_count(cp, name) - before == len(served)


def _invocation_count(cp: ControlPlane, name: str) -> int:
    events = cp.logs_client.filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern='"START RequestId"'
    )["events"]
    return len(events)


def test_errors_of_the_call_are_outcomes_not_exceptions(
    deployed: tuple[Target, ControlPlane, str],
) -> None:
    target, _, _ = deployed
    client = target.lambda_client(max_pool=1)
    missing = invoke_once(client, "bench-test-nope-00", b"{}", run_start_ns=0)
    assert missing.status == "error" and missing.error_type == "ResourceNotFoundException"


def test_the_fixture_rejects_an_event_without_the_bench_key(
    deployed: tuple[Target, ControlPlane, str],
) -> None:
    target, _, name = deployed
    outcome = invoke_once(
        target.lambda_client(1), name, json.dumps({"x": 1}).encode(), run_start_ns=0
    )
    assert outcome.status == "error" and outcome.error_type == "InvalidEvent", outcome
    assert outcome.request_id is not None


def test_behind_a_proxy_the_gate_lets_botocore_send(
    deployed: tuple[Target, ControlPlane, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.burst

    monkeypatch.setattr(bench.burst, "_proxied", lambda client: True)
    target, cp, name = deployed
    bump(cp, name, "burst-proxy")
    result = fire_burst(target.lambda_client(3), name, _payloads(3, 3), run_start_ns=0)
    assert [o.status for o in result.outcomes] == ["success"] * 3
    assert len({o.response["sandbox_id"] for o in result.outcomes}) == 3
    assert result.launch_skew_ms >= 0


def test_proxy_detection_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from bench.burst import _proxied

    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        endpoint_url="https://lambda.example.test",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    for key in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(key, raising=False)
    assert not _proxied(client)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert _proxied(client)
    monkeypatch.setenv("NO_PROXY", "lambda.example.test")
    assert not _proxied(client)


def test_a_round_of_one_opens_its_connection_before_the_clock_starts(
    deployed: tuple[Target, ControlPlane, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold round of one goes through the same gate as a burst (run.py): a slow
    connection set-up (TLS across the internet, here 400 ms added to the connect) ends
    before the release, where client latency starts, as in a burst."""
    import bench.burst

    target, cp, name = deployed
    original = bench.burst._RawSender.__init__
    connects: list[int] = []

    def slow_connect(self: Any, request: Any, timeout_s: float) -> None:
        time.sleep(0.4)
        connects.append(time.perf_counter_ns())
        original(self, request, timeout_s)

    monkeypatch.setattr(bench.burst._RawSender, "__init__", slow_connect)
    bump(cp, name, "round-of-one")
    start = time.perf_counter_ns()
    (outcome,) = fire_burst(target.lambda_client(), name, _payloads(1, 7),
                            run_start_ns=start).outcomes  # fmt: skip
    assert outcome.status == "success" and outcome.response["invocation"] == 1
    # The 400 ms connect finished before the release, from which client latency runs.
    assert connects and connects[0] - start <= outcome.client_send_ns
    assert outcome.client_send_ns >= 400e6
    assert outcome.launch_skew_ms == 0.0
