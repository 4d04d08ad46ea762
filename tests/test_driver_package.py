"""The driver function's package: our own modules, whole (the handler imports nothing that
is not in it), the same bytes from build to build, and plans it never trusts."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench.driver.package import MODULES, build_driver_package
from bench.driver.wire import PlanError, decode_plan, encode_plan


def test_the_package_is_our_modules_and_imports_from_itself_alone(tmp_path: Path) -> None:
    first = build_driver_package(tmp_path / "a")
    second = build_driver_package(tmp_path / "b")
    assert first.sha256 == second.sha256  # the same sources give the same bytes
    with zipfile.ZipFile(first.zip_path) as archive:
        assert tuple(archive.namelist()) == MODULES
        archive.extractall(tmp_path / "unpacked")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(tmp_path / "unpacked")
    probe = (
        "import sys, bench.driver.handler as h; "
        "mods = [m.__file__ for n, m in sys.modules.items() if n.startswith('bench')]; "
        "print('\\n'.join(mods))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, cwd=tmp_path, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert loaded and all(p.startswith(str(tmp_path / "unpacked")) for p in loaded), loaded


@pytest.mark.parametrize(
    "event",
    [None, {}, {"plan": 3}, {"plan": {"mode": "fire"}},
     {"plan": {"mode": "burst", "function": "f", "payloads": ["%%%"], "start_at_ns": 1,
               "run_start_epoch_ns": 1}},
     {"plan": {"mode": "burst", "function": "f", "payloads": [], "start_at_ns": 1,
               "run_start_epoch_ns": 1}},
     {"plan": {"mode": "burst", "function": "f", "payloads": ["e30="], "start_at_ns": "1",
               "run_start_epoch_ns": 1}}],
)  # fmt: skip
def test_a_plan_that_is_not_one_is_refused(event: object) -> None:
    with pytest.raises(PlanError):
        decode_plan(event)


def test_a_plan_goes_there_and_back() -> None:
    import json

    raw = encode_plan(function="bench-dev-abc123-00", payloads=[b'{"a": 1}', b"{}"],
                      mode="burst", start_at_ns=5, run_start_epoch_ns=2)  # fmt: skip
    plan = decode_plan(json.loads(raw))
    assert plan["payloads"] == [b'{"a": 1}', b"{}"] and plan["start_at_ns"] == 5


def test_a_driver_that_did_not_answer_gives_one_error_per_invocation() -> None:
    from bench.burst import InvokeOutcome
    from bench.driver.fleet import _answered, chunks

    assert [len(c) for c in chunks([b""] * 32, 16)] == [16, 16]
    assert [len(c) for c in chunks([b""] * 33, 16)] == [11, 11, 11]
    failed = InvokeOutcome(7, 3.0, "timeout", error_type="Client.ReadTimeout")
    answered = _answered(failed, 3)
    assert [(o.status, o.error_type, o.request_id) for o in answered] == [
        ("error", "Driver.Client.ReadTimeout", None)] * 3  # fmt: skip
