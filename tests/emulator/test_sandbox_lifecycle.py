"""SandboxManager semantics: scale-out, reuse, retirement, throttling, environment, failures."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from typing import Any

import pytest

from bench.emulator.contracts import Throttled
from bench.emulator.eviction import EvictionPolicy
from bench.emulator.runtimes import resolve

INIT = "Init Duration: "
EXPECTED_ENV = {
    "_HANDLER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
    "LANG",
    "PATH",
    "PYTHONPATH",
}


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1].startswith("Z")  # a zombie is gone, if unreaped
    except FileNotFoundError:
        return True


async def _until(condition: Any, deadline_s: float = 5.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


def test_concurrent_invokes_scale_out_and_warm_ones_are_reused(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        first = await asyncio.gather(
            *(sandbox_kit.invoke(m, spec, {"action": "sleep", "s": 0.3}) for _ in range(8))
        )
        ids = {json.loads(r.payload)["sandbox_id"] for _, r in first}
        assert len(ids) == 8
        for rid, r in first:
            assert r.function_error is None
            assert INIT in sink.report_for(rid)
        again = await asyncio.gather(*(sandbox_kit.invoke(m, spec, {}) for _ in range(8)))
        for rid, r in again:
            assert json.loads(r.payload)["sandbox_id"] in ids
            assert INIT not in sink.report_for(rid)
        assert m.info().sandboxes_started == 8

    run_sandboxes(scenario)


def test_retire_makes_the_next_invoke_cold_and_stops_the_old_process(run_sandboxes, sandbox_kit):
    old, new = sandbox_kit.spec(), sandbox_kit.spec(revision_id="rev-2")

    async def scenario(m, sink):
        _, r1 = await sandbox_kit.invoke(m, old, {})
        before = json.loads(r1.payload)
        m.retire(old.name, keep_revision="rev-2")
        rid, r2 = await sandbox_kit.invoke(m, new, {})
        assert json.loads(r2.payload)["sandbox_id"] != before["sandbox_id"]
        assert INIT in sink.report_for(rid)
        assert await _until(lambda: _gone(before["pid"]))

    run_sandboxes(scenario, isolation="off")  # checks the host pid the handler reports


def test_reserved_concurrency_one_with_two_concurrent_throttles_exactly_one(
    run_sandboxes, sandbox_kit
):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        outcomes = await asyncio.gather(
            *(sandbox_kit.invoke(m, spec, {"action": "sleep", "s": 0.3}, 1) for _ in range(2)),
            return_exceptions=True,
        )
        throttled = [o for o in outcomes if isinstance(o, Throttled)]
        assert len(throttled) == 1, outcomes
        assert throttled[0].reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        with pytest.raises(Throttled):
            await sandbox_kit.invoke(m, spec, {}, 0)

    run_sandboxes(scenario)


def test_environment_is_built_from_scratch(run_sandboxes, sandbox_kit, monkeypatch):
    monkeypatch.setenv("COLDBENCH_HOST_CANARY", "leaked")
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        _, r = await sandbox_kit.invoke(m, spec, {"env": True})
        return json.loads(r.payload)["env"]

    env = run_sandboxes(scenario)
    assert "COLDBENCH_HOST_CANARY" not in env
    assert env["FUNCTION_OWN"] == "yes"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1769"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].split("/")[3].startswith("[$LATEST]")
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["TZ"] == "UTC" and env["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    # Exactly Lambda's variables, ours and the function's; the runtime itself adds the trace
    # id, and CPython's locale coercion may add LC_CTYPE.
    assert set(env) - {"LC_CTYPE"} == EXPECTED_ENV | {"FUNCTION_OWN", "_X_AMZN_TRACE_ID"}


def test_timeout_kills_the_sandbox_and_reports_status_timeout(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec(timeout_s=1)

    async def scenario(m, sink):
        _, warm = await sandbox_kit.invoke(m, spec, {})
        pid = json.loads(warm.payload)["pid"]
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "sleep", "s": 30})
        doc = json.loads(r.payload)
        assert r.function_error == "Unhandled"
        assert doc["errorType"] == "Sandbox.Timedout"
        assert doc["errorMessage"].endswith(f"{rid} Task timed out after 1.00 seconds")
        report = sink.report_for(rid)
        assert report.endswith("\tStatus: timeout\t\n")
        assert 1000 <= float(report.split("Duration: ")[1].split(" ms")[0]) < 1500
        assert _gone(pid)
        rid2, _ = await sandbox_kit.invoke(m, spec, {})
        assert INIT in sink.report_for(rid2)

    run_sandboxes(scenario, isolation="off")  # checks the host pid the handler reports


def test_import_error_gives_init_report_and_unhandled(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec(handler="broken.handler", code_dir=sandbox_kit.handlers / "broken")

    async def scenario(m, sink):
        rid, r = await sandbox_kit.invoke(m, spec, {})
        assert r.function_error == "Unhandled"
        assert json.loads(r.payload)["errorType"] == "Runtime.ImportModuleError"
        (init_report,) = sink.lines_starting("INIT_REPORT ")
        assert init_report.endswith(
            "\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\n"
        )
        assert "Error Type: Runtime.ImportModuleError" in sink.report_for(rid)

    run_sandboxes(scenario)


@pytest.mark.parametrize("cpu_limits", ["off", "auto"])  # our RSS watch; the cgroup cap
def test_exceeding_memory_is_out_of_memory(run_sandboxes, sandbox_kit, cpu_limits):
    spec = sandbox_kit.spec(memory_mb=128)

    async def scenario(m, sink):
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "alloc", "mb": 300})
        assert r.function_error == "Unhandled"
        assert json.loads(r.payload)["errorType"] == "Runtime.OutOfMemory"
        assert sink.report_for(rid).endswith("\tStatus: error\tError Type: Runtime.OutOfMemory\t\n")

    run_sandboxes(scenario, cpu_limits=cpu_limits)


def test_handler_exception_is_unhandled_and_the_sandbox_stays_warm(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "raise", "message": "nope"})
        doc = json.loads(r.payload)
        assert (r.function_error, doc["errorType"], doc["errorMessage"]) == (
            "Unhandled",
            "ValueError",
            "nope",
        )
        assert "Status:" not in sink.report_for(rid)
        rid2, r2 = await sandbox_kit.invoke(m, spec, {})
        assert r2.function_error is None and INIT not in sink.report_for(rid2)

    run_sandboxes(scenario)


def test_output_lands_between_start_and_end_and_tail_ends_with_report(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()
    lines = [f"line {i} " + "y" * 200 for i in range(40)]

    async def scenario(m, sink):
        await sandbox_kit.invoke(m, spec, {})
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "print", "lines": lines})
        msgs = sink.messages()
        start = msgs.index(f"START RequestId: {rid} Version: $LATEST\n")
        end = msgs.index(f"END RequestId: {rid}\n")
        assert msgs[start + 1 : end] == [line + "\n" for line in lines]
        assert r.log_tail is not None and len(r.log_tail.encode()) <= 4096
        assert r.log_tail.endswith(sink.report_for(rid))

    run_sandboxes(scenario)


def test_json_log_format_records(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec(log_format="JSON")

    async def scenario(m, sink):
        rid1, _ = await sandbox_kit.invoke(m, spec, {})
        rid2, _ = await sandbox_kit.invoke(m, spec, {})
        records = [json.loads(x) for x in sink.messages() if x.startswith('{"time"')]
        kinds = [x["type"] for x in records]
        assert kinds[0] == "platform.initStart" and kinds.count("platform.report") == 2
        reports = {
            x["record"]["requestId"]: x["record"] for x in records if x["type"] == "platform.report"
        }
        assert reports[rid1]["metrics"]["initDurationMs"] > 0
        assert "initDurationMs" not in reports[rid2]["metrics"]
        assert reports[rid2]["status"] == "success"

    run_sandboxes(scenario)


def test_response_over_6_mb_is_an_error(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        _, r = await sandbox_kit.invoke(m, spec, {"action": "big", "bytes": 6 * 1024 * 1024 + 10})
        assert r.function_error == "Unhandled"
        assert json.loads(r.payload)["errorType"] == "Function.ResponseSizeTooLarge"

    run_sandboxes(scenario)


def test_idle_sandboxes_are_evicted(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        _, r = await sandbox_kit.invoke(m, spec, {})
        pid = json.loads(r.payload)["pid"]
        assert await _until(lambda: m.info().sandboxes_live == 0)
        assert await _until(lambda: _gone(pid))

    # isolation off: the test checks the host pid the handler reports
    run_sandboxes(scenario, eviction=EvictionPolicy(idle_timeout_s=0.2), isolation="off")


def test_shutdown_leaves_no_process_and_no_cgroup(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()
    seen: dict[str, Any] = {}

    async def scenario(m, sink):
        results = await asyncio.gather(*(sandbox_kit.invoke(m, spec, {}) for _ in range(3)))
        seen["pids"] = [json.loads(r.payload)["pid"] for _, r in results]
        seen["info"] = m.info()
        seen["hierarchy"] = m._hierarchy

    # isolation off: the test checks the host pid the handler reports
    run_sandboxes(scenario, cpu_limits="auto", isolation="off")
    # Reaped, not just dead: no /proc entry, not even a zombie's.
    assert [pid for pid in seen["pids"] if os.path.exists(f"/proc/{pid}")] == []
    if seen["hierarchy"] is None:
        pytest.skip("no writable cgroups here: only the process half of this test ran")
    assert not seen["hierarchy"].cpu_base.exists()
    assert not seen["hierarchy"].memory_base.exists()


def test_node_runtime_through_our_bootstrap(run_sandboxes, sandbox_kit):
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the nodejs runtime cannot be tested")
    spec = sandbox_kit.spec(
        runtime="nodejs22.x", handler="index.handler", code_dir=sandbox_kit.handlers / "node"
    )

    async def scenario(m, sink):
        rid1, r1 = await sandbox_kit.invoke(m, spec, {"echo": "hi", "env": True})
        rid2, r2 = await sandbox_kit.invoke(m, spec, {"action": "raise", "message": "bad"})
        doc1 = json.loads(r1.payload)
        assert doc1["echo"] == "hi" and "COLDBENCH_HOST_CANARY" not in doc1["env"]
        assert INIT in sink.report_for(rid1) and INIT not in sink.report_for(rid2)
        assert r2.function_error == "Unhandled"
        assert json.loads(r2.payload)["errorType"] == "TypeError"
        # Real Node 22 where it could be had, else a substitution that says why not.
        expected = resolve("nodejs22.x").substitution
        assert m.info().runtime_substitutions.get("nodejs22.x") == expected

    run_sandboxes(scenario)


def test_init_phase_limit_times_out_the_sandbox(run_sandboxes, sandbox_kit, monkeypatch):
    from bench.emulator import environment

    monkeypatch.setattr(environment, "INIT_LIMIT_S", 0.5)  # the real limit is 10 s
    spec = sandbox_kit.spec(handler="slowinit.handler", code_dir=sandbox_kit.handlers / "slowinit")

    async def scenario(m, sink):
        rid, r = await sandbox_kit.invoke(m, spec, {})
        assert r.function_error == "Unhandled"
        assert json.loads(r.payload)["errorType"] == "Sandbox.Timedout"
        (init_report,) = sink.lines_starting("INIT_REPORT ")
        assert init_report.endswith("\tPhase: init\tStatus: timeout\n")
        assert 500 <= float(init_report.split("Init Duration: ")[1].split(" ms")[0]) < 1500
        assert sink.report_for(rid).endswith("\tStatus: timeout\t\n")

    run_sandboxes(scenario)


def test_sandbox_work_never_exceeds_the_hosts_capacity(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec(memory_mb=1769)

    async def scenario(m, sink):
        host = m.info().host_cpus
        n = host + 1  # one vCPU each: one more sandbox than the host has cores
        results = await asyncio.gather(
            *(sandbox_kit.invoke(m, spec, {"action": "sleep", "s": 0.2}) for _ in range(n))
        )
        return n, [r for _, r in results], m.info()

    n, results, info = run_sandboxes(scenario)
    assert all(r.function_error is None for r in results)
    assert info.sandbox_capacity_vcpus == info.host_cpus - info.host_reserve_vcpus
    # Never more admitted than the capacity, so some of them waited, and said so.
    assert info.max_cpu_share * info.host_cpus <= info.sandbox_capacity_vcpus + 1e-6
    assert info.admitted == n and info.admitted_after_wait >= 1
    assert sum(r.queued_ms > 0 for r in results) == info.admitted_after_wait
    assert info.oversubscription_events == 0


def test_work_bigger_than_the_host_runs_alone_and_is_counted(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec(memory_mb=10240)  # 5.8 vCPUs

    async def scenario(m, sink):
        _, result = await sandbox_kit.invoke(m, spec, {})
        return result, m.info()

    result, info = run_sandboxes(scenario)
    if info.sandbox_capacity_vcpus >= 10240 / 1769:
        pytest.skip(f"{info.host_cpus} CPUs can give a 10 GB sandbox its share")
    assert result.function_error is None and result.queued_ms == 0.0
    assert info.oversubscription_events == 1
    assert info.max_cpu_share * info.host_cpus == pytest.approx(info.sandbox_capacity_vcpus)


def test_java_runtime_through_our_bootstrap(run_sandboxes, sandbox_kit, tmp_path):
    import subprocess

    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac and java) on PATH: the java runtime cannot be tested")
    source = sandbox_kit.handlers / "java" / "src" / "sbx" / "Echo.java"
    subprocess.run(["javac", "--release", "17", "-d", str(tmp_path), str(source)], check=True)
    tmp_path.chmod(0o755)  # as the emulator stores code: readable by the sandbox's own user
    spec = sandbox_kit.spec(runtime="java21", handler="sbx.Echo::handle", code_dir=tmp_path)

    async def scenario(m, sink):
        rid1, r1 = await sandbox_kit.invoke(m, spec, {"n": 1})
        rid2, r2 = await sandbox_kit.invoke(m, spec, {"n": "raise"})
        assert json.loads(r1.payload)["event"] == {"n": 1}
        assert INIT in sink.report_for(rid1)
        assert 'handling {"n": 1}\n' in sink.messages()
        assert r2.function_error == "Unhandled"
        assert json.loads(r2.payload)["errorType"] == "java.lang.IllegalStateException"
        assert INIT not in sink.report_for(rid2)
        missing = sandbox_kit.spec(
            runtime="java21", handler="sbx.Nope::handle", code_dir=tmp_path, name="sbx-missing"
        )
        _, r3 = await sandbox_kit.invoke(m, missing, {})
        assert json.loads(r3.payload)["errorType"] == "Runtime.ClassNotFound"
        assert m.info().runtime_substitutions.get("java21") == resolve("java21").substitution

    run_sandboxes(scenario)


def test_a_sandbox_that_dies_while_idle_leaves_the_pool(run_sandboxes, sandbox_kit):
    import signal

    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        _, r = await sandbox_kit.invoke(m, spec, {})
        first = json.loads(r.payload)
        os.kill(first["pid"], signal.SIGKILL)
        assert await _until(lambda: m.info().sandboxes_live == 0)
        rid, r2 = await sandbox_kit.invoke(m, spec, {})
        assert r2.function_error is None
        assert json.loads(r2.payload)["sandbox_id"] != first["sandbox_id"]
        assert INIT in sink.report_for(rid)

    run_sandboxes(scenario, isolation="off")  # checks the host pid the handler reports


def test_runtime_exiting_mid_invoke_is_runtime_exit_error(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "exit", "code": 3})
        doc = json.loads(r.payload)
        assert (r.function_error, doc["errorType"]) == ("Unhandled", "Runtime.ExitError")
        assert doc["errorMessage"] == (
            f"RequestId: {rid} Error: Runtime exited with error: exit status 3"
        )
        assert sink.report_for(rid).endswith("\tStatus: error\tError Type: Runtime.ExitError\t\n")

    run_sandboxes(scenario)


def test_the_kernel_cap_catches_what_the_watch_misses(run_sandboxes, sandbox_kit, monkeypatch):
    from bench.emulator import cgroups, environment

    probe = cgroups.detect("auto")
    if probe is None:
        pytest.skip("no writable cgroups: the kernel memory cap is not in use here")
    probe.remove()
    monkeypatch.setattr(environment, "OOM_POLL_S", 60.0)  # our own watch never ticks
    spec = sandbox_kit.spec(memory_mb=128)

    async def scenario(m, sink):
        rid, r = await sandbox_kit.invoke(m, spec, {"action": "alloc", "mb": 400})
        assert json.loads(r.payload)["errorType"] == "Runtime.OutOfMemory"
        assert sink.report_for(rid).endswith("\tStatus: error\tError Type: Runtime.OutOfMemory\t\n")

    run_sandboxes(scenario, cpu_limits="on")
