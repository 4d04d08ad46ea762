"""The report renders in headless Chromium, offline, and the page asks for nothing online."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from bench.report import render_run
from tests.synthetic import SyntheticRun, write_run

# Requests the browser makes for itself (time sync, spell-check dictionaries, account
# checks) carry this initiator; anything a page asks for carries the page's origin.
BROWSER_INITIATOR = "not an origin"


def _chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    print("chromium not installed (apt-get install chromium); skipping the browser test")
    pytest.skip("chromium not installed (apt-get install chromium)")


def _dead_port() -> int:
    # Bound and never listened on: a connection is refused, so nothing can leave this way.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _render_in_chromium(page: Path, tmp: Path) -> tuple[Path, list[str]]:
    """Screenshot `page` behind a dead proxy; return the PNG and the URLs the page requested."""
    png, netlog = tmp / "shot.png", tmp / "net.json"
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}", f"--screenshot={png}", "--window-size=1280,2000",
        f"--proxy-server=127.0.0.1:{_dead_port()}", "--proxy-bypass-list=<-loopback>",
        f"--log-net-log={netlog}", page.resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    log = json.loads(netlog.read_text())
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    starts = [
        event.get("params", {})
        for event in log["events"]
        if kinds.get(event["type"]) == "URL_REQUEST_START_JOB"
    ]
    # The end of a job carries only its error; the begin carries the URL and initiator.
    requested = [
        params["url"]
        for params in starts
        if "url" in params and params.get("initiator") != BROWSER_INITIATOR
    ]
    return png, requested


def test_report_renders_offline_with_no_network_request(tmp_path: Path) -> None:
    run = write_run(tmp_path / "results", SyntheticRun(seed=9, cold=20, warm=10))
    page = render_run(run, tmp_path / "reports")
    png, requested = _render_in_chromium(page, tmp_path / "report")
    assert png.exists(), "chromium wrote no screenshot"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 50_000, "the screenshot is nearly empty"
    assert requested == []


def test_the_request_check_sees_a_page_that_does_fetch(tmp_path: Path) -> None:
    # The same check on a page with an external image must catch it, or it proves nothing.
    page = tmp_path / "fetches.html"
    page.write_text('<html><body><img src="http://example.invalid/pixel.png"></body></html>')
    _, requested = _render_in_chromium(page, tmp_path / "control")
    assert requested == ["http://example.invalid/pixel.png"]
