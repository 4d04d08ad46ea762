"""Each sandbox isolated as Lambda isolates it, shown with a hostile handler over real HTTP.

The handler (handlers/hostile/hostile.py) tries to read the host's and the endpoint's
secrets, another function's environment, code and Runtime API, to fill /tmp, to exhaust
processes, threads and descriptors, and to leave a daemon behind. Each probe carries a
positive control (its own process is visible, its own Runtime API port answers, /tmp
takes bytes up to its size) so that a probe that did nothing cannot pass.
"""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.emulator import isolation
from bench.emulator.contracts import SandboxSettings

HOSTILE = Path(__file__).resolve().parent / "handlers" / "hostile" / "hostile.py"
HANDLER = "hostile.handler"


def _package() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("hostile.py", HOSTILE.read_text())
    return buf.getvalue()


@pytest.fixture
def jailed(make_api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    support = isolation.probe()
    if not support.available:
        pytest.skip(f"sandboxes cannot be isolated on this host: {support.reason}")
    from bench.emulator.sandbox import SandboxManager

    # Secrets of the host, set before any sandbox exists: none may be seen from inside.
    kit_canary = f"host-canary-{secrets.token_hex(8)}"
    monkeypatch.setenv("COLDBENCH_HOST_CANARY", kit_canary)
    kit = make_api(
        sandboxes_factory=SandboxManager,
        sandbox_settings=SandboxSettings(cpu_limits="off", isolation="on"),
        pending_delay_s=0.01,
        update_delay_s=0.01,
    )
    kit.host_canary = kit_canary
    kit.package = _package()
    yield kit


def _create(kit: Any, name: str, **overrides: Any) -> None:
    params: dict[str, Any] = {"Code": {"ZipFile": kit.package}, "Handler": HANDLER, "Timeout": 60}
    params.update(overrides)
    kit.create(name, **params)


def _invoke(kit: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    response = kit.lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def _host_pids_with(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_an_unprivileged_user_on_read_only_code_of_its_own(jailed: Any) -> None:
    _create(jailed, "who")
    seen = _invoke(jailed, "who", {"action": "identity"})
    assert seen["uid"] != 0 and seen["gid"] != 0
    assert seen["caps"] == 0  # no capability at all
    assert seen["task_root"] == "/var/task"
    assert seen["code_write_errno"] in (errno.EROFS, errno.EACCES)
    assert seen["code_listing"] == ["hostile.py"]


def test_no_host_process_environment_or_endpoint_credential_is_visible(jailed: Any) -> None:
    emulator = jailed.emulator
    _create(jailed, "snoop")
    needles = [jailed.host_canary, emulator.secret_access_key, emulator.access_key_id]
    # The emulator runs in this test's process: its environ and memory are the targets.
    me = os.getpid()
    host_paths = [f"/proc/{me}/environ", f"/proc/{me}/mem", str(emulator._state_dir)]
    seen = _invoke(
        jailed,
        "snoop",
        {"action": "scan", "needles": needles, "paths": host_paths, "ports": [9001, emulator.port]},
    )
    assert seen["pid"] in seen["pids"]  # control: the scan sees its own process
    assert max(seen["pids"]) < 100, seen["pids"]  # a fresh PID namespace: the sandbox's own
    assert seen["hits"] == []
    assert all(value != "readable" for value in seen["paths"].values()), seen["paths"]
    # Its own Runtime API answers (control); the endpoint, and with it the control API, does not.
    assert seen["open_ports"] == [9001]


def test_another_functions_environment_code_and_runtime_api_are_out_of_reach(jailed: Any) -> None:
    victim_secret = f"victim-{secrets.token_hex(8)}"
    _create(jailed, "victim", Environment={"Variables": {"VICTIM_SECRET": victim_secret}})
    _create(jailed, "thief")
    before = _invoke(jailed, "victim", {"action": "identity"})  # warm, parked on GET /next
    victim_code = jailed.emulator._state_dir / "functions" / "victim"
    assert any(victim_code.rglob("hostile.py"))  # control: the code is there on the host
    seen = _invoke(
        jailed,
        "thief",
        {
            "action": "scan",
            "needles": [victim_secret],
            "paths": [str(p) for p in victim_code.rglob("hostile.py")],
            "ports": list(range(1, 65536)),
        },
    )
    assert seen["hits"] == []
    assert all(value != "readable" for value in seen["paths"].values()), seen["paths"]
    assert seen["open_ports"] == [9001]  # its own Runtime API only, no other sandbox's
    # The victim's sandbox still gets its own events.
    assert _invoke(jailed, "victim", {"action": "identity"}) == before


def test_tmp_is_private_sized_by_ephemeral_storage_and_gone_with_the_sandbox(jailed: Any) -> None:
    name = f"secret-{secrets.token_hex(6)}"
    _create(jailed, "writer", EphemeralStorage={"Size": 600})
    _create(jailed, "reader")
    assert name in _invoke(jailed, "writer", {"action": "tmp_write", "name": name, "content": "s"})[
        "tmp"
    ]
    assert name in _invoke(jailed, "writer", {"action": "tmp_list"})["tmp"]  # control: kept warm
    assert not Path("/tmp", name).exists()  # not the host's /tmp
    # A fresh /tmp holds nothing but the mount points of host paths bound under /tmp (a
    # checkout under /tmp, say); never another sandbox's files.
    fresh = _invoke(jailed, "reader", {"action": "tmp_list"})["tmp"]
    assert name not in fresh  # nor another's
    filled = _invoke(jailed, "writer", {"action": "tmp_fill"})
    print(f"/tmp of a 600 MB EphemeralStorage took {filled['written'] / 2**20:.0f} MB")
    assert filled["errno"] == filled["enospc"]
    assert 584 * 2**20 <= filled["written"] <= 600 * 2**20
    default = _invoke(jailed, "reader", {"action": "tmp_fill"})
    assert 496 * 2**20 <= default["written"] <= 512 * 2**20  # 512 MB when not configured
    jailed.lam.update_function_configuration(FunctionName="writer", Description="new sandbox")
    jailed.wait_state("writer", "LastUpdateStatus", "Successful")
    assert _invoke(jailed, "writer", {"action": "tmp_list"})["tmp"] == fresh


def test_processes_threads_and_descriptors_are_limited_to_lambdas_1024(jailed: Any) -> None:
    _create(jailed, "bomb", MemorySize=1024)
    seen = _invoke(jailed, "bomb", {"action": "limits"})
    print(f"limits reached: {seen}")
    # The runtime's own threads count too, so a little under 1,024 are left to the handler.
    assert 900 <= seen["threads"] < 1024 and seen["thread_error"]
    assert 900 <= seen["processes"] < 1024 and seen["process_errno"] == errno.EAGAIN
    assert 1000 <= seen["files"] < 1024 and seen["files_errno"] == errno.EMFILE


def test_a_daemon_that_escapes_its_session_dies_with_the_function(jailed: Any) -> None:
    marker = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(10**6)}"  # sleep's argument
    _create(jailed, "escapee")
    assert _invoke(jailed, "escapee", {"action": "escape", "marker": marker})["seen"]
    assert _host_pids_with(marker)  # control: it is running on this host
    jailed.lam.delete_function(FunctionName="escapee")
    deadline = time.monotonic() + 5
    while _host_pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _host_pids_with(marker) == []


def _unisolated(make_api: Any, **settings: Any) -> Any:
    from bench.emulator.sandbox import SandboxManager

    kit = make_api(
        sandboxes_factory=SandboxManager,
        # isolation=off stands for a host without bubblewrap or user namespaces.
        sandbox_settings=SandboxSettings(cpu_limits="off", isolation="off", **settings),
        pending_delay_s=0.01,
        update_delay_s=0.01,
    )
    kit.package = _package()
    return kit


def test_where_sandboxes_are_not_isolated_only_vouched_code_runs(make_api: Any) -> None:
    import hashlib

    from botocore.exceptions import ClientError

    kit = _unisolated(make_api)
    assert kit.emulator.info()["isolation"] == {
        "isolated": False, "mode": "none", "reason": "isolation=off", "allow_unisolated": False,
    }  # fmt: skip
    _create(kit, "foreign")
    with pytest.raises(ClientError) as refused:
        _invoke(kit, "foreign", {"action": "identity"})
    message = refused.value.response["Error"]["Message"]
    assert "not isolated on this host (isolation=off)" in message
    assert "--allow-unisolated" in message and "allow_unisolated: true" in message
    # A package the harness generated and vouched for runs, with the disclosure above.
    kit.emulator.trust_code(hashlib.sha256(kit.package).hexdigest())
    assert _invoke(kit, "foreign", {"action": "identity"})["task_root"] != "/var/task"


def test_the_user_may_allow_unisolated_sandboxes_explicitly(make_api: Any) -> None:
    kit = _unisolated(make_api, allow_unisolated=True)
    assert kit.emulator.info()["isolation"]["allow_unisolated"] is True
    _create(kit, "allowed")
    assert _invoke(kit, "allowed", {"action": "identity"})["task_root"] != "/var/task"


def test_a_host_without_bubblewrap_is_named_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    isolation.probe.cache_clear()
    try:
        support = isolation.probe()
    finally:
        isolation.probe.cache_clear()
    assert not support.available and support.mode == "none"
    assert support.reason == (
        "bwrap not found on PATH: install bubblewrap (Debian/Ubuntu: sudo apt-get install "
        "bubblewrap)"
    )


def test_emulator_info_tells_whether_sandboxes_are_isolated() -> None:
    from bench.emulator.app import emulator_info

    support = isolation.probe()
    described = emulator_info()["isolation"]
    assert described["isolated"] is support.available
    assert described["reason"] == (support.reason or None)
