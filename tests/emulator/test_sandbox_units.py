"""Pure parts of the sandbox layer: platform lines, billing, and the Runtime API states."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from bench.emulator import platform_lines as pl
from bench.emulator.measure import billed_ms
from bench.emulator.runtime_api import MAX_RESPONSE_BYTES, Invocation, RuntimeApi

RID = "79b5e81f-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def test_report_line_has_lambdas_field_order_and_trailing_tab():
    cold = pl.Report(RID, 8.4, 179, 128, 66, init_duration_ms=170.126)
    assert pl.report(cold, json_format=False, epoch_ms=0) == (
        f"REPORT RequestId: {RID}\tDuration: 8.40 ms\tBilled Duration: 179 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 66 MB\tInit Duration: 170.13 ms\t\n"
    )
    timeout = pl.Report(RID, 1000.5, 1001, 128, 40, status="timeout")
    assert pl.report(timeout, json_format=False, epoch_ms=0).endswith(
        "Max Memory Used: 40 MB\tStatus: timeout\t\n"
    )
    oom = pl.Report(RID, 3.0, 3, 128, 129, status="error", error_type="Runtime.OutOfMemory")
    assert pl.report(oom, json_format=False, epoch_ms=0).endswith(
        "\tStatus: error\tError Type: Runtime.OutOfMemory\t\n"
    )


def test_json_report_leaves_optional_keys_out_on_warm_starts():
    warm = json.loads(
        pl.report(pl.Report(RID, 3.2, 4, 256, 124), json_format=True, epoch_ms=1772446273001)
    )
    assert warm == {
        "time": "2026-03-02T10:11:13.001Z",
        "type": "platform.report",
        "record": {
            "requestId": RID,
            "status": "success",
            "metrics": {
                "durationMs": 3.2,
                "billedDurationMs": 4,
                "memorySizeMB": 256,
                "maxMemoryUsedMB": 124,
            },
        },
    }
    cold = json.loads(
        pl.report(pl.Report(RID, 3.2, 4, 256, 124, 463.512), json_format=True, epoch_ms=0)
    )
    assert cold["record"]["metrics"]["initDurationMs"] == 463.512


def test_init_lines_and_stream_name():
    text = pl.init_start(
        "python:3.12.v7",
        "arn:aws:lambda:us-east-1::runtime:" + "a" * 64,
        json_format=False,
        epoch_ms=0,
        function_name="f",
        function_version="$LATEST",
        instance_id="i",
        memory_mb=128,
    )
    assert text == (
        "INIT_START Runtime Version: python:3.12.v7\tRuntime Version ARN: "
        "arn:aws:lambda:us-east-1::runtime:" + "a" * 64 + "\n"
    )
    assert pl.init_report(
        229.041, "error", "Runtime.ImportModuleError", json_format=False, epoch_ms=0
    ) == (
        "INIT_REPORT Init Duration: 229.04 ms\tPhase: init\t"
        "Status: error\tError Type: Runtime.ImportModuleError\n"
    )
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", pl.log_stream_name())
    assert (
        pl.timed_out(RID, 1, 0)
        == f"1970-01-01T00:00:00.000Z {RID} Task timed out after 1.00 seconds"
    )


@pytest.mark.parametrize(
    ("duration", "init", "billed"),
    [(8.4, None, 9), (8.4, 170.13, 179), (0.01, None, 1), (2.0, 3.0, 5)],
)
def test_billed_duration_rounds_up_to_the_ms_and_includes_init(duration, init, billed):
    assert billed_ms(duration, init) == billed


def test_runtime_api_states_and_limits():
    async def scenario():
        api = RuntimeApi()
        await api.start()
        base = f"http://{api.address}/2018-06-01/runtime"
        try:
            async with aiohttp.ClientSession() as http:
                inv = Invocation("req-1", b'{"a":1}', 123, "arn:f", "Root=1-x")
                api.dispatch(inv)
                async with http.get(f"{base}/invocation/next") as r:
                    assert r.status == 200 and await r.read() == b'{"a":1}'
                    assert r.headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
                    assert r.headers["Lambda-Runtime-Deadline-Ms"] == "123"
                assert api.init_settled.result() == "ready" and inv.handed_ns is not None
                async with http.post(f"{base}/init/error", data=b"{}") as r:
                    assert r.status == 403  # init is over
                async with http.post(f"{base}/invocation/other/response", data=b"1") as r:
                    assert r.status == 403  # not the open invocation
                async with http.post(f"{base}/invocation/req-1/response", data=b"42") as r:
                    assert r.status == 202
                assert inv.done.result().body == b"42"
                async with http.post(f"{base}/invocation/req-1/response", data=b"43") as r:
                    assert r.status == 403  # answered twice
                big = Invocation("req-2", b"{}", 0, "arn:f", "")
                api.dispatch(big)
                async with http.get(f"{base}/invocation/next") as r:
                    await r.read()
                body = b"x" * (MAX_RESPONSE_BYTES + 1)
                async with http.post(f"{base}/invocation/req-2/response", data=body) as r:
                    assert r.status == 413
                assert big.done.result().error_type == "Function.ResponseSizeTooLarge"
        finally:
            await api.close()

    asyncio.run(scenario())


def test_runtime_api_init_error_is_accepted_once_before_next():
    async def scenario():
        api = RuntimeApi()
        await api.start()
        url = f"http://{api.address}/2018-06-01/runtime/init/error"
        try:
            async with aiohttp.ClientSession() as http:
                headers = {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"}
                async with http.post(url, data=b'{"errorType":"x"}', headers=headers) as r:
                    assert r.status == 202
                async with http.post(url, data=b"{}", headers=headers) as r:
                    assert r.status == 403
        finally:
            await api.close()
        assert api.init_settled.result() == "error"
        assert api.init_error is not None
        assert api.init_error.error_type == "Runtime.ImportModuleError"

    asyncio.run(scenario())
