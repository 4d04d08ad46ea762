"""Synthetic runs for tests and benchmarks: results directories that follow
docs/results-format.md, with seeded lognormal Init Durations and planted effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.matrix import Cell
from bench.results import START_TYPES, Manifest, RunWriter, new_manifest, utc_timestamp

DEFAULT_RUNTIMES = ("python3.12", "nodejs22.x")
DEFAULT_MEMORY = (128, 512, 1769)
DEFAULT_PACKAGES = ((0.0, "none"), (5.0, "inert"))
# Median Init Duration (ms) at 128 MB; more memory means more CPU and a faster init.
BASE_INIT_MS = {"python3.12": 150.0, "nodejs22.x": 180.0, "java21": 400.0}
PACKAGE_INIT_MS_PER_MB = {"none": 0.0, "inert": 0.5, "imported": 12.0}


def default_cells() -> list[Cell]:
    """Twelve cells: two runtimes x three memory sizes x two packages."""
    return [
        Cell(runtime=r, memory_mb=m, architecture="x86_64", package_mb=size, package_kind=kind)
        for r in DEFAULT_RUNTIMES
        for m in DEFAULT_MEMORY
        for size, kind in DEFAULT_PACKAGES
    ]


@dataclass
class SyntheticRun:
    """What to write; `init_factor` multiplies one cell's Init Durations (planted effect)."""

    name: str = "synth"
    cells: list[Cell] = field(default_factory=default_cells)
    cold: int = 40
    warm: int = 20
    burst: int = 10
    seed: int = 0
    sigma: float = 0.15
    init_factor: dict[str, float] = field(default_factory=dict)
    started: datetime = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)
    status: str = "complete"
    target_kind: str = "local"
    cpu_limits: bool = True
    isolation: dict[str, Any] | None = None  # target.local.isolation; None: not recorded
    tool_version: str = "0.1.0"
    throttles_per_cell: int = 0
    errors_per_cell: int = 0
    run_id: str | None = None

    def id(self) -> str:
        if self.run_id:
            return self.run_id
        suffix = f"{(self.seed * 2654435761) % 16**6:06x}"
        return f"{self.started:%Y%m%dT%H%M%SZ}-{self.name}-{suffix}"


def _cell_median(cell: Cell) -> float:
    base = BASE_INIT_MS.get(cell.runtime, 200.0)
    cpu = (128 / cell.memory_mb) ** 0.35  # diminishing returns from more CPU
    return base * (0.6 + 0.4 * cpu) + PACKAGE_INIT_MS_PER_MB[cell.package_kind] * cell.package_mb


def _cell_records(
    spec: SyntheticRun, cell: Cell, index: int, rng: np.random.Generator
) -> pd.DataFrame:
    n_cold, n_warm = spec.cold, spec.warm
    n_bad = spec.throttles_per_cell + spec.errors_per_cell
    n = n_cold + n_warm + n_bad
    phase = np.array(["cold"] * n_cold + ["warm"] * n_warm + ["cold"] * n_bad, dtype=object)
    cold = phase == "cold"
    is_cold_ok = np.zeros(n, dtype=bool)
    is_cold_ok[:n_cold] = True
    is_warm = np.zeros(n, dtype=bool)
    is_warm[n_cold : n_cold + n_warm] = True
    median = _cell_median(cell) * spec.init_factor.get(cell.id, 1.0)
    init = np.where(is_cold_ok, rng.lognormal(np.log(median), spec.sigma, n), np.nan)
    cold_duration = rng.lognormal(np.log(3.0), 0.3, n)
    duration = np.where(is_cold_ok, cold_duration, rng.lognormal(np.log(1.2), 0.3, n))
    overhead = rng.lognormal(np.log(25.0), 0.25, n)
    latency = np.where(is_cold_ok, init + duration + overhead, duration + overhead * 0.3)
    status = np.array(["success"] * (n_cold + n_warm) + ["throttled"] * spec.throttles_per_cell
                      + ["error"] * spec.errors_per_cell, dtype=object)  # fmt: skip
    bad = status != "success"
    throttled = status == "throttled"
    duration = np.where(throttled, np.nan, duration)
    billed = np.where(throttled, np.nan, np.ceil(np.nan_to_num(duration) + np.nan_to_num(init)))
    seq = np.arange(n)
    rounds = np.where(cold, seq // spec.burst + 1, 0)
    sandbox = np.where(is_warm, seq % spec.burst, seq)
    start_type = np.where(is_cold_ok, "cold", np.where(is_warm, "warm", "unknown"))
    sandbox_ids = np.array([f"sb{index}-{s}" for s in sandbox], dtype=object)
    request_ids = [f"{index:04x}{i:08x}-0000-4000-8000-{spec.seed:012x}" for i in range(n)]
    return pd.DataFrame({
        "run": spec.id(), "cell": cell.id, "runtime": cell.runtime, "memory_mb": cell.memory_mb,
        "architecture": cell.architecture, "package_mb": cell.package_mb,
        "package_kind": cell.package_kind, "phase": phase, "round": rounds,
        "seq": np.where(cold, seq % spec.burst + 1, seq - n_cold + 1),
        "request_id": np.where(throttled, None, np.array(request_ids, dtype=object)),
        "client_send_ns": (index * 10**9 + seq * 10**6).astype(np.int64),
        "client_latency_ms": np.round(latency, 3), "status": status,
        "error_type": np.where(throttled, "TooManyRequestsException",
                               np.where(bad, "Runtime.ExitError", None)),
        "duration_ms": np.round(duration, 2), "billed_duration_ms": billed,
        "init_duration_ms": np.round(init, 2), "restore_duration_ms": np.nan,
        "max_memory_used_mb": np.where(throttled, np.nan, 40 + index % 7 + cell.package_mb),
        "memory_size_mb": np.where(throttled, np.nan, float(cell.memory_mb)),
        "sandbox_id": np.where(throttled, None, sandbox_ids),
        "sandbox_invocation": np.where(is_warm, seq - n_cold + 2, np.where(throttled, np.nan, 1)),
        "init_to_invoke_gap_ms": np.where(is_cold_ok, 1.5, np.nan),
        "start_type": start_type,
        "report_sources": [[] if t else ["tail", "cloudwatch"] for t in throttled],
        "launch_skew_ms": np.where(cold, 0.8, np.nan),
        "queued_ms": np.nan,
        "contention": [None] * n,  # as on AWS: the target does not say
        "provisioned": cell.provisioned, "snapstart": cell.snapstart,
        "function": cell.function, "event": None, "invoke_via": "sdk",
        "error_message": np.where(bad, "Error: Runtime exited with error: signal: killed", None),
        "error_phase": np.where(bad, "invoke", None), "response_excerpt": None,
        "region": "us-east-1", "driver_skew_ms": np.nan,
        "idle_s": np.nan,  # not a keep-alive probe
        "probe_burst": np.nan,
    })  # fmt: skip


def invocations_frame(spec: SyntheticRun) -> pd.DataFrame:
    rng = np.random.default_rng(spec.seed)
    frames = [_cell_records(spec, cell, i, rng) for i, cell in enumerate(spec.cells)]
    return pd.concat(frames, ignore_index=True)


def manifest(spec: SyntheticRun, records: pd.DataFrame) -> Manifest:
    """The manifest the driver would write for this run, built by the same schema."""
    local = {
        "cpu_limits": spec.cpu_limits, "cgroup_version": 1, "host_cpus": 2,
        "host_cpu_model": "Synthetic CPU @ 2.0GHz",
        "runtime_substitutions": {"python3.12": "python3.12 on CPython 3.11.7"},
        "oversubscription": None,
    }  # fmt: skip
    if spec.isolation is not None:
        local["isolation"] = spec.isolation
    starts = records["start_type"].value_counts()
    expected = int(records["request_id"].notna().sum())
    finished = None if spec.status == "running" else spec.started + timedelta(minutes=3)
    doc = new_manifest(
        run_id=spec.id(),
        tool_version=spec.tool_version,
        matrix={"name": spec.name, "cold_starts": spec.cold, "burst": spec.burst,
                "warm_invocations": spec.warm},
        target={
            "kind": spec.target_kind,
            "region": "us-east-1",
            "account_id": None,
            "stage": "synth",
            "endpoint_url": "http://127.0.0.1:40123" if spec.target_kind == "local" else None,
            "local": local if spec.target_kind == "local" else None,
        },
        started=utc_timestamp(spec.started),
        cost={"estimate_usd": 0.0012, "worst_case_usd": 0.003, "actual_usd": None,
              "price_table": "2026-08-01"},
    )  # fmt: skip
    doc.update(
        finished=utc_timestamp(finished) if finished else None,
        status=spec.status,
        cells={
            cell.id: {
                "runtime": cell.runtime, "memory_mb": cell.memory_mb,
                "architecture": cell.architecture, "package_mb": cell.package_mb,
                "package_kind": cell.package_kind, "function_name": f"bench-local-synth-{i:02d}",
                "artifact": {"sha256": f"{i:064x}", "zipped_bytes": 1000 + i,
                             "unzipped_bytes": 3000 + i, "files": 3, "built_for": None},
                "status": "complete", "error": None,
            }
            for i, cell in enumerate(spec.cells)
        },
        completeness={
            "tail": {"expected": expected, "matched": expected},
            "cloudwatch": {"expected": expected, "matched": expected},
            "disagreements": 0,
        },
        start_types={k: int(starts.get(k, 0)) for k in START_TYPES},
    )  # fmt: skip
    return doc


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame as JSON-ready records: numpy scalars as Python numbers, NaN as null."""
    plain = frame.astype(object).where(frame.notna(), None)
    return plain.to_dict("records")  # type: ignore[return-value]


def write_run(root: Path, spec: SyntheticRun | None = None, **overrides: Any) -> Path:
    """Write results/<run_id>/ for `spec` (or SyntheticRun(**overrides)) through the
    harness's own writer; returns the dir."""
    spec = spec or SyntheticRun(**overrides)
    records = invocations_frame(spec)
    with RunWriter.create(root, spec.id()) as writer:
        writer.write_manifest(manifest(spec, records))
        writer.append_invocations(records_of(records))
        for cell in records.loc[records["status"] == "throttled", "cell"]:
            writer.append_event("throttle", "429", cell=cell, ts=utc_timestamp(spec.started))
        return writer.path
