"""cgroup detection and layout (v1 and v2) on fake hierarchies under a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.emulator import cgroups
from bench.emulator.errors import EmulatorError


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    return tmp_path


def test_without_cgroups_auto_runs_unthrottled_and_on_is_a_clear_error(fake_root):
    assert cgroups.detect("auto") is None
    assert cgroups.detect("off") is None
    with pytest.raises(EmulatorError, match="cpu_limits=on but no writable cgroup"):
        cgroups.detect("on")


def test_v2_layout_gets_quota_weight_and_memory_cap(fake_root, monkeypatch):
    monkeypatch.setattr(cgroups, "_own_path", lambda controller: "/" if controller == "" else None)
    (fake_root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (fake_root / "cgroup.subtree_control").write_text("")
    hierarchy = cgroups.detect("on")
    assert hierarchy is not None and hierarchy.version == 2
    assert (fake_root / "cgroup.subtree_control").read_text() == "+cpu +memory"
    group = cgroups.SandboxGroup(hierarchy, "sbx", 128)
    period = cgroups.CPU_PERIOD_US
    assert (group.cpu_dir / "cpu.max").read_text() == f"{period} {period}"  # INIT: one vCPU
    group.end_init()
    quota = int(period * 128 / 1769)
    assert (group.cpu_dir / "cpu.max").read_text() == f"{quota} {period}"
    assert int((group.mem_dir / "memory.max").read_text()) == (128 + 64) * 1024 * 1024
    assert (group.cpu_dir / "cpu.weight").read_text() == str(int(100 * 128 / 1769))


def test_v1_layout_and_share_caps(fake_root, monkeypatch):
    monkeypatch.setattr(cgroups, "_own_path", lambda controller: "/")
    for controller in ("cpu", "memory"):
        (fake_root / controller).mkdir()
    (fake_root / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    hierarchy = cgroups.detect("auto")
    assert hierarchy is not None and hierarchy.version == 1
    group = cgroups.SandboxGroup(hierarchy, "big", 10240)
    # 10240 MB would be 5.8 vCPUs; the quota follows it (the cap is 6).
    assert int((group.cpu_dir / "cpu.cfs_quota_us").read_text()) == int(
        cgroups.CPU_PERIOD_US * 10240 / 1769
    )
    assert cgroups.cpu_share(20_000) == cgroups.MAX_VCPUS
    assert int((group.mem_dir / "memory.limit_in_bytes").read_text()) == (10240 + 2560) * 2**20


def test_groups_of_a_dead_emulator_are_removed(fake_root, monkeypatch):
    monkeypatch.setattr(cgroups, "_own_path", lambda controller: "/")
    for controller in ("cpu", "memory"):
        (fake_root / controller).mkdir()
    (fake_root / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    # pid 2**22 + 1 is above the largest pid_max Linux allows: it cannot be alive.
    stale = fake_root / "cpu" / f"coldbench-{2**22 + 1}-abcdef"
    (stale / "sandbox").mkdir(parents=True)
    hierarchy = cgroups.detect("auto")
    assert hierarchy is not None
    assert not stale.exists()
    assert hierarchy.cpu_base.exists()  # our own stays
