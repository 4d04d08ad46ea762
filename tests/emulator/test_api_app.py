"""The Emulator object itself: loopback only, lifecycle, facts for the manifest."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from bench.emulator.app import Emulator, emulator_info
from bench.emulator.errors import EmulatorError


def _listening_addresses(port: int) -> list[str]:
    """Local addresses listening on `port`, from /proc/net/tcp (IPv4) and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def test_binds_loopback_only(api_emulator: Any) -> None:
    assert api_emulator.endpoint_url == f"http://127.0.0.1:{api_emulator.port}"
    addresses = _listening_addresses(api_emulator.port)
    if not addresses:
        pytest.skip("/proc/net/tcp is not readable here: cannot inspect listening sockets")
    assert addresses == ["0100007F"]  # 127.0.0.1, little-endian hex


def test_each_emulator_has_fresh_credentials(make_api: Any) -> None:
    one, two = make_api().emulator, make_api().emulator
    assert one.access_key_id != two.access_key_id
    assert one.secret_access_key != two.secret_access_key
    assert one.access_key_id.startswith("AKIA") and len(one.access_key_id) == 20
    assert len(one.account_id) == 12 and one.account_id.isdigit()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        emulator = Emulator(port=port, state_dir=tmp_path)
        with pytest.raises(EmulatorError, match=f"127.0.0.1:{port}"):
            emulator.start()
        emulator.stop()


def test_stop_is_idempotent_and_shuts_the_sandboxes_down(make_api: Any) -> None:
    kit = make_api()
    fake = kit.fake
    kit.emulator.stop()
    kit.emulator.stop()
    assert fake.shut_down
    with pytest.raises(Exception):  # noqa: B017 - any connection error will do
        kit.lam.list_functions()


def test_stop_before_start_is_harmless(tmp_path: Path) -> None:
    Emulator(state_dir=tmp_path).stop()


def test_own_state_dir_is_removed_on_stop(make_api: Any) -> None:
    emulator = make_api(state_dir=None).emulator
    state = emulator._state_dir
    assert state is not None and (state / "functions").is_dir()
    emulator.stop()
    assert not state.exists()


def test_info_has_the_manifest_keys(api_emulator: Any) -> None:
    info = api_emulator.info()
    for key in ("cpu_limits", "cgroup_version", "host_cpus", "host_cpu_model",
                "runtime_substitutions", "oversubscription", "quota_mode", "throttles"):
        assert key in info, key
    assert set(info["oversubscription"]) == {"events", "max_cpu_share"}


def test_emulator_info_without_a_server() -> None:
    try:
        import bench.emulator.sandbox  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"bench.emulator.sandbox is not available: {exc}")
    info = emulator_info()
    assert isinstance(info["cpu_limits"], bool)
    assert info["host_cpus"] >= 1
    python = info["runtimes"]["python3.12"]
    assert python["runs_on"].startswith("CPython 3.") and python["binary"]
    assert python["real"] == (python["substitution"] is None)
    assert set(info["runtimes"]) >= {"nodejs22.x", "java21", "java25"}
    assert info["runtimes_dir"].endswith("runtimes")


def test_requests_are_counted_per_api(api: Any) -> None:
    api.lam.list_functions()
    api.lam.list_functions()
    api.logs.describe_log_groups()
    requests = api.emulator.info()["requests"]
    assert requests["ListFunctions"] == 2 and requests["DescribeLogGroups"] == 1


def test_a_body_over_the_servers_limit_is_a_413_in_aws_shape(
    make_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from bench.emulator import server

    monkeypatch.setattr(server, "CLIENT_MAX_SIZE", 64 * 1024)
    kit = make_api()
    with pytest.raises(ClientError) as err:
        kit.create("huge", wait=False, Description="x" * (128 * 1024))
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_bench_emulator_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", "from bench.cli import app; app()", "emulator", "--state-dir",
         str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    # Read the banner line by line: communicate() would bypass what readline() buffered.
    banner = [proc.stdout.readline() for _ in range(5)]
    assert banner[0].startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:"), banner
    assert any(line.startswith("export AWS_SECRET_ACCESS_KEY=") for line in banner), banner
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "every sandbox is gone" in out
