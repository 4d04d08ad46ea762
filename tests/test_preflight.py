"""Preflight: what a matrix needs on this machine is checked before anything is deployed,
and a tool that fails says its own error."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import InputError

NODE_MATRIX = """\
name: nonode
runtimes: [nodejs22.x]
memory_mb: [128]
package: {size_mb: [0]}
cold_starts: 2
burst: 2
warm_invocations: 1
timeout_s: 10
budget_usd: 0.05
"""


def _closed_port() -> int:
    """A loopback port nothing listens on: a package index that refuses at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_nodejs_matrix_without_node_stops_before_deploying_with_the_targets_message(
    tmp_path: Path,
) -> None:
    """No node on PATH, no Node cached for coldbench, and a package index that cannot be
    reached (a closed loopback port; no pip configuration file): the run stops before any
    function exists, with the local target's reason and no run directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    (tmp_path / "m.yaml").write_text(NODE_MATRIX)
    repo = Path(__file__).resolve().parents[1]
    env = {
        "PATH": str(bin_dir), "HOME": str(tmp_path), "PYTHONPATH": str(repo),
        "BENCH_RUNTIMES_DIR": str(tmp_path / "runtimes"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"), "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": f"http://127.0.0.1:{_closed_port()}/simple", "NO_COLOR": "1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "m.yaml"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    (error,) = [x for x in done.stderr.splitlines() if x.startswith("bench: error:")]
    assert "nodejs22.x cannot run here" in error, done.stderr
    assert "node is not on PATH" in error
    assert "ServiceException" not in done.stderr + done.stdout
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())
    assert "deployed" not in done.stdout  # progress never started


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not found: install Node.js")
def test_an_npm_failure_shows_npms_error_not_its_log_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.fixtures.toolchain import npm_install

    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{_closed_port()}/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_userconfig", str(tmp_path / "npmrc"))
    with pytest.raises(InputError) as info:
        npm_install("x86_64", ("left-pad@1.3.0",), tmp_path / "prefix")
    message = str(info.value)
    assert "code ECONNREFUSED" in message, message
    assert "complete log" not in message
    assert "\n" not in message


def test_npm_error_picks_the_error_lines() -> None:
    from bench.fixtures.toolchain import npm_error

    text = (
        "npm error code E404\n"
        "npm error 404 Not Found - GET https://registry.npmjs.org/nope-nope - Not found\n"
        "npm error 404\n"
        "npm error A complete log of this run can be found in: /root/.npm/_logs/x.log\n"
    )
    assert npm_error(text) == (
        "code E404; 404 Not Found - GET https://registry.npmjs.org/nope-nope - Not found; 404"
    )
