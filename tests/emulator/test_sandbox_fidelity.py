"""Measurement fidelity: Init Duration, Max Memory Used and CPU share against ground truth."""

from __future__ import annotations

import json
import re
import statistics

import pytest

from bench.emulator import cgroups


def _field(report: str, name: str) -> float:
    match = re.search(rf"\t{name}: ([0-9.]+) (ms|MB)\t", report)
    assert match, f"{name} missing from {report!r}"
    return float(match.group(1))


def _init_start_ts(sink, stream_of_request: str) -> int:
    (ts,) = [
        t for _, s, t, m in sink.events if s == stream_of_request and m.startswith("INIT_START")
    ]
    return ts


def _stream_of(sink, request_id: str) -> str:
    (stream,) = {s for _, s, _, m in sink.events if m.startswith(f"START RequestId: {request_id}")}
    return stream


@pytest.mark.parametrize("cpu_limits", ["off", "auto"])
def test_init_duration_matches_the_handlers_own_init_timestamps(
    run_sandboxes, sandbox_kit, cpu_limits
):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        checked = []
        for i in range(7):
            m.retire(spec.name)  # every round cold
            rid, r = await sandbox_kit.invoke(m, spec, {"seq": i})
            doc = json.loads(r.payload)
            ts = _init_start_ts(sink, _stream_of(sink, rid))
            init_ms = _field(sink.report_for(rid), "Init Duration")
            # INIT_START is stamped at spawn, before the handler module starts importing.
            assert ts <= doc["init_start_ms"], (ts, doc)
            # spawn + Init Duration (first GET /next) lands just after the module's last line.
            gap = ts + init_ms - doc["init_end_ms"]
            checked.append(gap)
            # Never before the module finished (-1: INIT_START's timestamp is whole ms).
            assert gap >= -1.0, (gap, init_ms, doc)
        return checked

    gaps = run_sandboxes(scenario, cpu_limits=cpu_limits)
    print(f"cpu_limits={cpu_limits}: INIT_START + Init Duration - handler init end (ms): {gaps}")
    # The median, not every sample: on this shared 2-core host a sandbox can be descheduled
    # for a few ms between its last import and its GET /next, which is real, not our error.
    assert statistics.median(gaps) <= 5.0, gaps


def test_max_memory_used_sees_a_200_mb_allocation(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec(memory_mb=512)

    async def scenario(m, sink):
        rid0, _ = await sandbox_kit.invoke(m, spec, {})
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "alloc", "mb": 200})
        assert r.function_error is None
        return _field(sink.report_for(rid0), "Max Memory Used"), _field(
            sink.report_for(rid), "Max Memory Used"
        )

    before, after = run_sandboxes(scenario)
    print(f"Max Memory Used: {before} MB idle, {after} MB after allocating 200 MB")
    assert before < 100
    assert after >= 200


def test_cpu_share_follows_memory(run_sandboxes, sandbox_kit):
    hierarchy = cgroups.detect("auto")
    if hierarchy is None:
        pytest.skip("no writable cgroup v1/v2 hierarchy: CPU limits cannot be applied here")
    hierarchy.remove()
    small, full = sandbox_kit.spec(memory_mb=128), sandbox_kit.spec(name="sbx-full")
    event = {"action": "cpu", "rounds": 60_000}

    async def scenario(m, sink):
        inits = []
        for spec in (full, small):
            rid, _ = await sandbox_kit.invoke(m, spec, {})
            inits.append(_field(sink.report_for(rid), "Init Duration"))

        async def duration(spec) -> float:
            rid, r = await sandbox_kit.invoke(m, spec, event)
            assert r.function_error is None
            return _field(sink.report_for(rid), "Duration")

        # Best of five on the full CPU: the other work on this shared 2-core host can only
        # slow the unthrottled sandbox down, which would understate the ratio.
        fast = min([await duration(full) for _ in range(5)])
        return fast, await duration(small), inits, m.info()

    fast, slow, (init_full, init_small), info = run_sandboxes(scenario, cpu_limits="on")
    print(
        f"cpu-bound handler: {fast:.1f} ms at 1769 MB, {slow:.1f} ms at 128 MB "
        f"({slow / fast:.1f}x; the share ratio is {1769 / 128:.1f}x); "
        f"Init Duration {init_full:.1f} ms at 1769 MB, {init_small:.1f} ms at 128 MB"
    )
    assert info.cpu_limits and info.cgroup_version in (1, 2)
    assert slow >= 8 * fast
    # INIT runs with a full vCPU at any memory size (cgroups.INIT_MIN_VCPUS): a 128 MB
    # init is nowhere near 13.8x slower, unlike its invokes.
    assert init_small < 3 * init_full
